"""GET /v1/cron/preview: dialect, description and the next fire times, errors in the standard body."""

from __future__ import annotations

from urllib.parse import quote

from tests.integration.api.conftest import Api, error


def test_preview_of_a_unix_expression_in_a_zone(api: Api) -> None:
    response = api.get("/v1/cron/preview?expression=" + quote("0 9 * * MON") +
                       "&timezone=America/New_York&after=" + quote("2026-03-01T00:00:00Z") + "&count=3")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["dialect"] == "unix" and "09:00" in body["description"]
    assert body["next_run_times"] == ["2026-03-02T14:00:00+00:00", "2026-03-09T13:00:00+00:00",
                                      "2026-03-16T13:00:00+00:00"]  # DST starts on 8 March in New York


def test_preview_of_an_aws_expression_defaults(api: Api) -> None:
    body = api.get("/v1/cron/preview?expression=" + quote("0 12 ? * 2 *")).get_json()
    assert body["dialect"] == "aws" and len(body["next_run_times"]) == 5


def test_preview_errors(api: Api) -> None:
    assert error(api.get("/v1/cron/preview"), 400) == "expression: Missing data for required field."
    assert error(api.get("/v1/cron/preview?expression=nope"), 400).startswith("cron_expression:")
    assert error(api.get("/v1/cron/preview?expression=*+*+*+*+*&timezone=Nowhere"), 400) == \
        "timezone: Time zone must be IANA valid."
    assert error(api.get("/v1/cron/preview?expression=*+*+*+*+*&count=101"), 400).startswith("count:")
    assert error(api.get("/v1/cron/preview?expression=*+*+*+*+*&count=0"), 400).startswith("count:")
    assert error(api.get("/v1/cron/preview?expression=*+*+*+*+*&after=yesterday"), 400).startswith("after:")
