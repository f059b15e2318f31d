"""The sql command's pure rules: how a tenant's query is wrapped, and which data sources are whose."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.data_sources import DataSourceGrant, check_data_source_url, parse_endpoint, same_database
from shared.errors import ConfigError, InvalidInput
from shared.settings import load_settings
from workers.commands.sql import session_options, wrap_query

OWN = "postgresql://punctual:pw@127.0.0.1:5432/punctual"


def test_the_query_becomes_one_limited_select_with_literal_percents() -> None:
    wrapped = wrap_query("SELECT a % 2 FROM t WHERE b LIKE 'x%' AND c = %(region)s;  ", 100)
    assert wrapped == ("SELECT * FROM (\nSELECT a %% 2 FROM t WHERE b LIKE 'x%%' AND c = %(region)s\n) "
                       "AS punctual_query LIMIT 100")
    assert wrap_query("SELECT 1 -- last line %s", 5).endswith("-- last line %%s\n) AS punctual_query LIMIT 5")


def test_session_options_fix_every_limit() -> None:
    assert session_options(30_000) == ("-c default_transaction_read_only=on -c statement_timeout=30000 "
                                       "-c lock_timeout=10000 -c idle_in_transaction_session_timeout=35000")


@pytest.mark.parametrize("url", [
    OWN, "postgresql://other:pw@localhost/punctual", "postgres://x@[::1]:5432/punctual",
    "postgresql://x@127.0.0.1/punctual?sslmode=disable", "postgresql:///punctual?host=/tmp&port=5432",
])
def test_every_form_of_punctuals_own_database_is_recognised(url: str) -> None:
    assert same_database(parse_endpoint(url), parse_endpoint(OWN))
    with pytest.raises(InvalidInput, match="own database"):
        check_data_source_url(url, OWN)


def test_other_databases_and_servers_are_not_punctuals() -> None:
    for url in ("postgresql://x@127.0.0.1/warehouse", "postgresql://x@127.0.0.1:5433/punctual",
                "postgresql://x@db.example.com/punctual"):
        assert not same_database(parse_endpoint(url), parse_endpoint(OWN)), url
        check_data_source_url(url, OWN)


def _env(sources: object) -> dict[str, str]:
    return {"DATABASE_URL": OWN, "REDIS_URL": "redis://x", "PUNCTUAL_SECRET_KEY": "k" * 20,
            "PUNCTUAL_DATA_SOURCES": json.dumps(sources)}


def test_operator_data_sources_are_granted_to_named_organizations() -> None:
    org = uuid.uuid4()
    settings = load_settings(_env({"lake": {"url": "postgresql://r@lake.internal/lake", "organizations": [str(org)]},
                                   "all": {"url": "postgresql://r@db.internal/all", "organizations": "*"}}))
    assert settings.data_sources["lake"] == DataSourceGrant("postgresql://r@lake.internal/lake",
                                                            frozenset({str(org)}))
    assert settings.data_sources["lake"].granted_to(org) and not settings.data_sources["lake"].granted_to(uuid.uuid4())
    assert settings.data_sources["all"].granted_to(uuid.uuid4())


@pytest.mark.parametrize(("sources", "message"), [
    ({"lake": "postgresql://r@lake.internal/lake"}, "must be a JSON object"),
    ({"lake": {"url": "postgresql://r@lake.internal/lake"}}, "organizations must be a list"),
    ({"own": {"url": "postgresql://r@localhost/punctual", "organizations": "*"}}, "Punctual's own DATABASE_URL"),
    ([1], "must be a JSON object"),
])
def test_misconfigured_data_sources_stop_the_start(sources: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_env(sources))
