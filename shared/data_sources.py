"""Data sources for `sql` commands: who may use one, and which URLs are refused (pure, no I/O).

A data source either belongs to one organization (created through the API, its URL encrypted
at rest and never shown again) or is configured by the operator in PUNCTUAL_DATA_SOURCES and
granted to organizations by id. Punctual's own database is never a data source: a tenant who
could query it would read every other tenant's schedules and tokens.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass
from uuid import UUID

from psycopg.conninfo import conninfo_to_dict

from shared.errors import InvalidInput

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")
URL_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_PORT = 5432
EVERY_ORGANIZATION = "*"


@dataclass(frozen=True)
class DataSourceGrant:
    """An operator-configured data source and the organizations that may query it."""

    url: str
    organizations: frozenset[str]  # organization ids, or {"*"} for every organization

    def granted_to(self, organization_id: UUID | str) -> bool:
        """Whether this organization may use the data source."""
        return EVERY_ORGANIZATION in self.organizations or str(organization_id) in self.organizations


@dataclass(frozen=True)
class Endpoint:
    """Where a PostgreSQL URL points: host (None for a local socket), port and database."""

    host: str | None
    port: int
    dbname: str


def parse_endpoint(url: str) -> Endpoint:
    """Return where a PostgreSQL URL points; raises InvalidInput when it cannot be parsed."""
    try:
        params = conninfo_to_dict(url)
    except Exception:  # psycopg raises ProgrammingError with a message that may echo the password
        raise InvalidInput("url: Not a valid PostgreSQL URL") from None
    host = str(params.get("hostaddr") or params.get("host") or "").split(",")[0].strip() or None
    if host is not None and host.startswith("/"):
        host = None  # a Unix socket directory: this machine
    try:
        port = int(str(params.get("port") or DEFAULT_PORT).split(",")[0])
    except ValueError:
        raise InvalidInput("url: port must be a number") from None
    user = str(params.get("user") or "")
    return Endpoint(host, port, str(params.get("dbname") or user))


def _is_local(host: str | None) -> bool:
    if host is None or host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def same_database(a: Endpoint, b: Endpoint) -> bool:
    """Whether two endpoints name the same database on the same server (every loopback form is one host)."""
    if a.port != b.port or a.dbname != b.dbname:
        return False
    if _is_local(a.host) and _is_local(b.host):
        return True
    return (a.host or "").lower() == (b.host or "").lower()


def check_data_source_url(url: str, own_database_url: str) -> Endpoint:
    """Validate an organization's data source URL; raises InvalidInput (bad URL, or Punctual's own database)."""
    if not isinstance(url, str) or not url.startswith(URL_SCHEMES):
        raise InvalidInput("url: Must be a postgresql:// URL")
    endpoint = parse_endpoint(url)
    if same_database(endpoint, parse_endpoint(own_database_url)):
        raise InvalidInput("url: Points at Punctual's own database, which is never a data source")
    return endpoint


def policy_host(endpoint: Endpoint) -> str:
    """The host the outbound policy judges: a local socket counts as loopback (pure)."""
    return endpoint.host or "127.0.0.1"


def display_url(endpoint: Endpoint) -> str:
    """The URL without user and password, safe to show (pure)."""
    host = endpoint.host or "localhost"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"postgresql://{host}:{endpoint.port}/{endpoint.dbname}"


def check_data_source_name(name: str, granted: Collection[str]) -> str:
    """Validate a new data source's name against the names the organization is granted; raises InvalidInput."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput("name: Must start with a letter or _ and hold only letters, digits, _ . and - "
                           "(at most 63 characters)")
    if name in granted:
        raise InvalidInput(f"name: {name} is already the name of a data source granted to this organization")
    return name
