"""Rules a schedule's configuration must satisfy: destinations, formats, filters, alerts, recipients, results.

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

from shared.command_rules import unknown_result
from shared.errors import InvalidInput
from shared.filters import check_filter_value
from shared.templating import check_template

DESTINATION_TYPES = ("email", "sftp", "webhook", "slack")
FORMATS = ("json", "csv", "xlsx", "html", "text", "pdf", "png")
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
# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SFTP_DEFAULTS: dict[str, Any] = {"port": 22, "directory": "/", "filename_template": "{schedule}-{date}-{run}.{ext}"}

# Options each format understands, with what a value must be; anything else is incompatible.
FORMAT_OPTIONS: dict[str, dict[str, str]] = {
    "json": {"indent": "an integer between 0 and 8"},
    "csv": {"delimiter": "a single printable character or a tab, not a double quote",
            "include_header": "a boolean"},
    "xlsx": {"sheet_name": "a string of 1 to 31 characters without []:*?/\\", "include_header": "a boolean"},
    "html": {"title": "a string of at most 255 characters"},
    "text": {},
    "pdf": {"hide_title": "a boolean", "orientation": "one of: portrait, landscape",
            "page_size": "one of: A3, A4, A5, Letter, Legal"},
    "png": {"hide_title": "a boolean", "width": "an integer between 320 and 4000, in pixels"},
}
PAGE_SIZES = ("a3", "a4", "a5", "letter", "legal")

# Rows delivered per result. A schedule may ask for fewer (max_row_limit); going past the default
# takes override_row_limit, as in Omni, up to the most an sql command's row_limit can fetch.
DEFAULT_MAX_ROW_LIMIT = 10_000
HARD_MAX_ROW_LIMIT = 1_000_000


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
    if kind == "email":
        for key in ("subject", "body"):
            if isinstance(public.get(key), str):
                check_template(public[key], f"destination.{key}")
    if kind == "webhook" and "secret" in secrets and not webhook_secret_ok(secrets["secret"]):
        raise InvalidInput("destination.secret: Must be whsec_ followed by base64 of at least 16 bytes")
    return Destination(kind, public, secrets)


def destination_or_default(destination: Mapping[str, Any] | None, subscriber_user_ids: Sequence[Any] | None
                           ) -> Mapping[str, Any]:
    """The destination given, else email to the subscribers (Humm's schedules); raises InvalidInput if neither."""
    if destination is not None:
        return destination
    if subscriber_user_ids:
        # No subject or body: the workers' defaults (the schedule's name; a line naming the attachment).
        return {"type": "email"}
    raise InvalidInput("destination: Missing data for required field. Give a destination, or "
                       "subscriber_user_ids to email each subscriber at their own address")


NO_RECIPIENTS_WARNING = "No recipients: runs of this schedule are skipped until recipients are added"


def schedule_warnings(destination_type: str, recipient_count: int) -> list[str]:
    """Why a schedule will not deliver as it stands (shown with it; nothing is refused)."""
    if destination_type == "email" and recipient_count == 0:
        return [NO_RECIPIENTS_WARNING]
    return []


def webhook_secret_ok(secret: str) -> bool:
    """Whether a signing secret is whsec_ and at least 16 bytes of base64 (pure)."""
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
    if not isinstance(options, Mapping):
        raise InvalidInput("format_options: Must be an object")
    known = FORMAT_OPTIONS[fmt]
    for key, value in options.items():
        if key == "hide_title" and key not in known:
            raise InvalidInput("format_options: hide_title can only be used with PDF or PNG formats")
        if key not in known:
            supported = ", ".join(known) or "none"
            raise InvalidInput(f"format_options: Option {key} is not compatible with format {fmt} "
                               f"(supported options: {supported})")
        if not _option_ok(key, value):
            raise InvalidInput(f"format_options.{key}: Must be {known[key]}")
    return dict(options)


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _option_ok(key: str, value: Any) -> bool:
    checks = {
        "indent": lambda: _whole(value, 0, 8),
        "delimiter": lambda: (isinstance(value, str) and len(value) == 1 and value != '"'
                              and (value == "\t" or value.isprintable())),
        "include_header": lambda: isinstance(value, bool),
        "hide_title": lambda: isinstance(value, bool),
        "sheet_name": lambda: (isinstance(value, str) and 1 <= len(value) <= 31
                               and not set(value) & set("[]:*?/\\") and value.strip() != ""),
        "orientation": lambda: value in ("portrait", "landscape"),
        "page_size": lambda: isinstance(value, str) and value.lower() in PAGE_SIZES,
        "width": lambda: _whole(value, 320, 4000),
    }
    check = checks.get(key)
    return check() if check else isinstance(value, str) and len(value) <= 255


def check_filters(filters: Mapping[str, Any], filter_keys: Sequence[str]) -> dict[str, Any]:
    """Return filters if every key is declared and every value is plain or structured; raises InvalidInput."""
    invalid = [key for key in filters if key not in filter_keys]
    if invalid:
        raise InvalidInput(f"Invalid filter keys found in schedule configuration: {', '.join(invalid)}. "
                           f"Available filter keys are: {', '.join(filter_keys) or 'none'}")
    return {key: check_filter_value(key, value) for key, value in filters.items()}


def check_results(query_key: str | None, declared_keys: Sequence[str], fmt: str,
                  options: Mapping[str, Any]) -> None:
    """Raise InvalidInput if query_key is not one of the command's results, or if sheet_name is given to a
    workbook of several results (its sheets are named after their keys)."""
    if query_key is not None and query_key not in declared_keys:
        raise InvalidInput(unknown_result(query_key))
    if query_key is None and len(declared_keys) > 1 and fmt == "xlsx" and "sheet_name" in options:
        raise InvalidInput(f"format_options.sheet_name: This schedule delivers {len(declared_keys)} results "
                           f"({', '.join(declared_keys)}), one sheet each, named after its key; give query_key to "
                           "deliver one of them, or leave sheet_name out")


def check_row_limits(max_row_limit: int | None, override_row_limit: bool) -> None:
    """Raise InvalidInput if max_row_limit passes the default cap without override_row_limit, or the hard one."""
    if max_row_limit is None:
        return
    if not 1 <= max_row_limit <= HARD_MAX_ROW_LIMIT:
        raise InvalidInput(f"max_row_limit: Must be between 1 and {HARD_MAX_ROW_LIMIT}")
    if max_row_limit > DEFAULT_MAX_ROW_LIMIT and not override_row_limit:
        raise InvalidInput(f"max_row_limit: Must be at most {DEFAULT_MAX_ROW_LIMIT} unless override_row_limit is "
                           f"true (then up to {HARD_MAX_ROW_LIMIT})")


def delivered_row_limit(max_row_limit: int | None, override_row_limit: bool) -> int:
    """The most rows a schedule delivers per result (pure)."""
    if max_row_limit is not None:
        return max_row_limit
    return HARD_MAX_ROW_LIMIT if override_row_limit else DEFAULT_MAX_ROW_LIMIT


def check_test_supported(alert_condition: str | None) -> None:
    """Raise InvalidInput if a test delivery cannot be judged for this alert condition."""
    if alert_condition == "results_changed":
        # "Changed" compares with the previous real run; a test would either always or never fire.
        raise InvalidInput("Test delivery not supported for condition type results_changed")


def check_retry(max_attempts: int, base_delay_s: float, max_delay_s: float) -> None:
    """Raise InvalidInput if the retry delays are inconsistent."""
    if base_delay_s > max_delay_s:
        raise InvalidInput("retry.base_delay_s: Must not exceed retry.max_delay_s")


def normalize_emails(emails: Iterable[Any], field: str = "emails") -> list[str]:
    """Valid addresses, trimmed, de-duplicated case-insensitively in order; raises InvalidInput (`<field>: ...`)."""
    seen: dict[str, str] = {}
    for email in emails:
        if isinstance(email, str) and _CONTROL_CHARACTERS.search(email):
            # Checked before trimming: a line break or NUL at either end must not be trimmed into a
            # valid-looking address (header injection, or a different mailbox than the one shown).
            raise InvalidInput(f"{field}: Invalid email address (control characters are not allowed)")
        if not isinstance(email, str) or len(email.strip()) > 320 or not _EMAIL.match(email.strip()):
            raise InvalidInput(f"{field}: Invalid email address")
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
