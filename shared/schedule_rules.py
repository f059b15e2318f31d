"""Rules a schedule's configuration must satisfy: destinations, formats, filters, alerts, recipients.

Pure: no I/O (URL reachability is checked by shared.outbound, which resolves names). Every
function raises InvalidInput with a message that names the field and says what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared.errors import InvalidInput

DESTINATION_TYPES = ("email", "sftp", "webhook", "slack")
FORMATS = ("json", "csv", "xlsx", "html", "text")
ALERT_CONDITIONS = ("results_present", "results_changed")
# A Slack incoming-webhook URL is a credential (whoever has it can post): stored encrypted, shown masked.
SECRET_FIELDS = {"email": (), "sftp": ("password", "private_key"), "webhook": ("secret",), "slack": ("url",)}
_PUBLIC_FIELDS = {
    "email": ("subject", "body"),
    "sftp": ("host", "port", "username", "host_key", "directory", "filename_template"),
    "webhook": ("url",),
    "slack": ("text",),
}
# Secrets that must be present are judged after merging with stored ones (an update may omit them).
_REQUIRED = {"email": (), "sftp": ("host", "username", "host_key"), "webhook": ("url",), "slack": ()}
_HOST_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( .*)?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_SFTP_DEFAULTS: dict[str, Any] = {"port": 22, "directory": "/", "filename_template": "{schedule}-{date}-{run}.{ext}"}

# Options each format understands; anything else is incompatible with the format.
FORMAT_OPTIONS: dict[str, dict[str, str]] = {
    "json": {"indent": "an integer between 0 and 8"},
    "csv": {"delimiter": "a single character", "include_header": "a boolean"},
    "xlsx": {"sheet_name": "a string of 1 to 31 characters", "include_header": "a boolean"},
    "html": {"title": "a string of at most 255 characters"},
    "text": {},
}


@dataclass(frozen=True)
class Destination:
    """A destination split into its type, the public part stored as JSON, and the secrets."""

    type: str
    public: dict[str, Any]
    secrets: dict[str, str]


def split_destination(data: Mapping[str, Any]) -> Destination:
    """Validate a destination body per its type and split out its secrets; raises InvalidInput.

    Whether an sftp destination has a password or key is judged after merging with stored secrets.
    """
    kind = data.get("type")
    if kind not in DESTINATION_TYPES:
        raise InvalidInput(f"destination.type: Must be one of: {', '.join(DESTINATION_TYPES)}.")
    given = {k: v for k, v in data.items() if k != "type" and v is not None}
    allowed = (*_PUBLIC_FIELDS[kind], *SECRET_FIELDS[kind])
    for key in given:
        if key not in allowed:
            raise InvalidInput(f"destination.{key}: Not a field of destination type {kind}")
    for key in _REQUIRED[kind]:
        if given.get(key) in (None, ""):
            raise InvalidInput(f"destination.{key}: Missing data for required field.")
    public = {k: v for k, v in given.items() if k in _PUBLIC_FIELDS[kind]}
    secrets = {k: str(v) for k, v in given.items() if k in SECRET_FIELDS[kind] and v != ""}
    if kind == "sftp":
        public = {**_SFTP_DEFAULTS, **public}
        _check_sftp(public)
    if kind == "webhook" and "secret" in secrets and not _webhook_secret_ok(secrets["secret"]):
        raise InvalidInput("destination.secret: Must be whsec_ followed by base64 of at least 16 bytes")
    return Destination(kind, public, secrets)


def _webhook_secret_ok(secret: str) -> bool:
    # Workers sign with the base64-decoded key; a secret they could not decode must fail here, not at send time.
    if not secret.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 16
    except (binascii.Error, ValueError):
        return False


def _host_key_ok(line: str) -> bool:
    # The base64 blob of an SSH public key starts with its own type name (RFC 4253 section 6.6);
    # checking it here catches a truncated or mispasted key before the first upload does.
    if not _HOST_KEY.match(line):
        return False
    kind, blob_text = line.split()[:2]
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except (binascii.Error, ValueError):
        return False
    # The blob is a sequence of length-prefixed fields that must fill it exactly: type, then key data.
    fields, position = [], 0
    while position + 4 <= len(blob):
        size = int.from_bytes(blob[position:position + 4], "big")
        fields.append(blob[position + 4:position + 4 + size])
        position += 4 + size
    return position == len(blob) and len(fields) >= 2 and fields[0] == kind.encode()


def _check_sftp(public: dict[str, Any]) -> None:
    port = public["port"]
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidInput("destination.port: Must be an integer between 1 and 65535")
    if not _host_key_ok(str(public["host_key"])):
        raise InvalidInput("destination.host_key: Must be a public key line such as 'ssh-ed25519 AAAA...'")
    if not str(public["directory"]).startswith("/"):
        raise InvalidInput("destination.directory: Must be an absolute path")


def merge_secrets(kind: str, new: Mapping[str, str], stored: Mapping[str, Any], stored_kind: str) -> dict[str, str]:
    """The secrets to store on update: new ones win; stored ones carry over when the type is unchanged."""
    if kind != stored_kind:
        return dict(new)
    keep = {k: str(v) for k, v in stored.items() if k in SECRET_FIELDS[kind]}
    return {**keep, **new}


def check_format_options(fmt: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Return options if every one is understood by the format and well typed; raises InvalidInput."""
    known = FORMAT_OPTIONS[fmt]
    for key, value in options.items():
        if key not in known:
            supported = ", ".join(known) or "none"
            raise InvalidInput(f"format_options: Option {key} is not compatible with format {fmt} "
                               f"(supported options: {supported})")
        if not _option_ok(key, value):
            raise InvalidInput(f"format_options.{key}: Must be {known[key]}")
    return dict(options)


def _option_ok(key: str, value: Any) -> bool:
    if key == "indent":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 8
    if key == "delimiter":
        return isinstance(value, str) and len(value) == 1 and value not in "\r\n\""
    if key == "include_header":
        return isinstance(value, bool)
    if key == "sheet_name":
        return isinstance(value, str) and 1 <= len(value) <= 31 and not set(value) & set("[]:*?/\\")
    return isinstance(value, str) and len(value) <= 255


def check_filters(filters: Mapping[str, Any], filter_keys: Sequence[str]) -> dict[str, Any]:
    """Return filters if every key is declared by the command; raises InvalidInput naming the bad ones."""
    invalid = [key for key in filters if key not in filter_keys]
    if invalid:
        raise InvalidInput(f"Invalid filter keys found in schedule configuration: {', '.join(invalid)}. "
                           f"Available filter keys are: {', '.join(filter_keys)}")
    for key, value in filters.items():
        if not _filter_value_ok(value):
            raise InvalidInput(f"filters.{key}: Must be a string, number, boolean or a list of them")
    return dict(filters)


def _filter_value_ok(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str | int | float | bool) for v in value)
    return isinstance(value, str | int | float | bool) or value is None


def check_test_supported(alert_condition: str | None) -> None:
    """Raise InvalidInput if a test delivery cannot be judged for this alert condition."""
    if alert_condition == "results_changed":
        # "Changed" compares with the previous real run; a test would either always or never fire.
        raise InvalidInput("Test delivery not supported for condition type results_changed")


def check_retry(max_attempts: int, base_delay_s: float, max_delay_s: float) -> None:
    """Raise InvalidInput if the retry delays are inconsistent."""
    if base_delay_s > max_delay_s:
        raise InvalidInput("retry.base_delay_s: Must not exceed retry.max_delay_s")


def normalize_emails(emails: Iterable[Any]) -> list[str]:
    """Valid addresses, trimmed, de-duplicated case-insensitively in order; raises InvalidInput."""
    seen: dict[str, str] = {}
    for email in emails:
        if not isinstance(email, str) or len(email.strip()) > 320 or not _EMAIL.match(email.strip()):
            raise InvalidInput("emails: Invalid email address")
        seen.setdefault(email.strip().lower(), email.strip())
    return list(seen.values())


def parse_user_ids(values: Iterable[Any], field: str = "user_ids") -> list[UUID]:
    """UUIDs in order without duplicates; raises InvalidInput(`<field>: Invalid uuid`)."""
    out: dict[UUID, None] = {}
    for value in values:
        try:
            out.setdefault(UUID(value) if isinstance(value, str) else UUID(""), None)
        except ValueError:
            raise InvalidInput(f"{field}: Invalid uuid") from None
    return list(out)


def missing_members_error(missing: Iterable[UUID]) -> InvalidInput:
    """The error for user ids that are not members of the organization."""
    return InvalidInput("Invalid recipient(s): The following members do not exist or do not have access "
                        f"to this organization: {', '.join(str(m) for m in missing)}")
