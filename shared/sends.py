"""Sends: what a scheduled message or a campaign says (its content) and to whom (its target), checked and
stored as JSON on the hidden one-shot schedule that carries it out (pure; the SQL is shared/sql/sends.py).

A recipient's channel follows from its address: an email address is sent by email, an E.164 phone
number through the organization's message gateway. Users (by id, or as members of a contact list)
are sent by email, to their address when the run executes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from jinja2 import TemplateError

from shared.errors import InvalidInput
from shared.schedule_rules import normalize_emails, parse_user_ids
from shared.templating import TEXT_ENVIRONMENT, check_template

OWNERS = ("message", "campaign")
TARGET_FIELDS = ("user_id", "user_ids", "list_id", "to")
EMAIL_CHANNEL = "email"
GATEWAY_CHANNEL = "gateway"
MAX_TEXT = 10_000
MAX_SUBJECT = 255
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_URL = 2048
MAX_USER_IDS = 10_000
MAX_TO = 1_000
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


@dataclass(frozen=True)
class Content:
    """Text, or a template with variables; an optional subject (email only) and attachment URLs."""

    text: str | None = None
    template: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    subject: str | None = None
    attachments: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The stored form (and the API's), leaving out what is unset."""
        out: dict[str, Any] = {"text": self.text} if self.template is None else {
            "template": self.template, "variables": dict(self.variables)}
        if self.subject is not None:
            out["subject"] = self.subject
        out["attachments"] = list(self.attachments)
        return out


@dataclass(frozen=True)
class Target:
    """Exactly one of: user ids (one, or a group), a contact list, or addresses (emails and E.164 phones)."""

    user_ids: tuple[UUID, ...] | None = None
    list_id: UUID | None = None
    to: tuple[str, ...] | None = None
    single_user: bool = False  # given as `user_id`: answered the same way

    def as_json(self) -> dict[str, Any]:
        """The stored form: {"user_ids": [...]} (with "single" for user_id), {"list_id": ...} or {"to": [...]}."""
        if self.user_ids is not None:
            return {"user_ids": [str(u) for u in self.user_ids], **({"single": True} if self.single_user else {})}
        if self.list_id is not None:
            return {"list_id": str(self.list_id)}
        return {"to": list(self.to or ())}

    def as_fields(self) -> dict[str, Any]:
        """The target as the API's fields (user_id, user_ids, list_id or to), the others null."""
        out: dict[str, Any] = dict.fromkeys(TARGET_FIELDS)
        if self.user_ids is not None and self.single_user:
            out["user_id"] = str(self.user_ids[0])
        elif self.user_ids is not None:
            out["user_ids"] = [str(u) for u in self.user_ids]
        elif self.list_id is not None:
            out["list_id"] = str(self.list_id)
        else:
            out["to"] = list(self.to or ())
        return out

    def phones(self) -> list[str]:
        """The phone numbers among the addresses (sent through the message gateway)."""
        return [a for a in self.to or () if channel_of(a) == GATEWAY_CHANNEL]


def channel_of(address: str) -> str:
    """'gateway' for a phone number (starts with +), 'email' otherwise (pure)."""
    return GATEWAY_CHANNEL if address.startswith("+") else EMAIL_CHANNEL


def parse_content(raw: Any, field_name: str = "content") -> Content:
    """Check a content body and return it; the template is compiled and rendered with its variables now, so a
    refused one never reaches a worker; raises InvalidInput naming the field."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{field_name}: Must be an object with text or template")
    unknown = sorted(set(raw) - {"text", "template", "variables", "subject", "attachments"})
    if unknown:
        raise InvalidInput(f"{field_name}.{unknown[0]}: Unknown field.")
    text, template = raw.get("text"), raw.get("template")
    if (text is None) == (template is None):
        raise InvalidInput(f"{field_name}.text: Give exactly one of text or template")
    variables = raw.get("variables")
    if variables is not None and template is None:
        raise InvalidInput(f"{field_name}.variables: Only with a template")
    if variables is not None and not isinstance(variables, Mapping):
        raise InvalidInput(f"{field_name}.variables: Must be an object")
    body = text if text is not None else template
    name = "text" if text is not None else "template"
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_TEXT:
        raise InvalidInput(f"{field_name}.{name}: Must be a non-empty string of at most {MAX_TEXT} characters")
    if template is not None:
        check_template(template, f"{field_name}.template")
        try:
            TEXT_ENVIRONMENT.from_string(template).render(dict(variables or {}))
        except (TemplateError, RecursionError, TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidInput(f"{field_name}.variables: The template does not render with them: "
                               f"{type(exc).__name__}: {exc}") from None
    subject = raw.get("subject")
    if subject is not None and (not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT
                                or any(c in subject for c in "\r\n")):
        raise InvalidInput(f"{field_name}.subject: Must be one line of 1 to {MAX_SUBJECT} characters")
    return Content(text=text, template=template, variables=dict(variables or {}) if template is not None else {},
                   subject=subject, attachments=_attachments(raw.get("attachments"), f"{field_name}.attachments"))


def _attachments(raw: Any, field_name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) > MAX_ATTACHMENTS:
        raise InvalidInput(f"{field_name}: Must be a list of at most {MAX_ATTACHMENTS} URLs")
    for url in raw:
        # Links put in the message for the recipient to open; Punctual never fetches them.
        parts = urlsplit(url) if isinstance(url, str) and len(url) <= MAX_ATTACHMENT_URL else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or any(
                c.isspace() for c in url):
            raise InvalidInput(f"{field_name}: Each must be an http or https URL of at most "
                               f"{MAX_ATTACHMENT_URL} characters")
    return tuple(raw)


def content_from_json(stored: Mapping[str, Any]) -> Content:
    """The content as stored (trusted: it was checked when saved)."""
    return Content(text=stored.get("text"), template=stored.get("template"),
                   variables=dict(stored.get("variables") or {}), subject=stored.get("subject"),
                   attachments=tuple(stored.get("attachments") or ()))


def target_from_json(stored: Mapping[str, Any]) -> Target:
    """The target as stored (trusted: it was checked when saved)."""
    if "user_ids" in stored:
        return Target(user_ids=tuple(UUID(u) for u in stored["user_ids"]), single_user=bool(stored.get("single")))
    if "list_id" in stored:
        return Target(list_id=UUID(stored["list_id"]))
    return Target(to=tuple(stored.get("to") or ()))


def parse_target(data: Mapping[str, Any]) -> Target:
    """The one target among user_id, user_ids, list_id and to; raises InvalidInput naming the fields when there
    are none or several, or naming the malformed one (a phone number must be E.164: +, then 7 to 15 digits)."""
    given = [name for name in TARGET_FIELDS if data.get(name) is not None]
    if len(given) != 1:
        which = "none" if not given else " and ".join(given)
        raise InvalidInput(f"{'/'.join(TARGET_FIELDS)}: Give exactly one target (user_id, user_ids, list_id or to);"
                           f" got {which}")
    name = given[0]
    value = data[name]
    if name == "user_id":
        return Target(user_ids=tuple(parse_user_ids([value], "user_id")), single_user=True)
    if name == "list_id":
        return Target(list_id=parse_user_ids([value], "list_id")[0])
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{name}: Must be a non-empty list")
    if name == "user_ids":
        if len(value) > MAX_USER_IDS:
            raise InvalidInput(f"user_ids: At most {MAX_USER_IDS} users (use a contact list for more)")
        return Target(user_ids=tuple(parse_user_ids(value, "user_ids")))
    if len(value) > MAX_TO:
        raise InvalidInput(f"to: At most {MAX_TO} addresses (use a contact list for more)")
    return Target(to=tuple(_addresses(value)))


def _addresses(values: list[Any]) -> list[str]:
    out: dict[str, str] = {}
    for value in values:
        if isinstance(value, str) and value.strip().startswith("+"):
            phone = value.strip()
            if not _E164.fullmatch(phone):
                raise InvalidInput(f"to: {phone[:40]!r} is not an E.164 phone number (+, country code, number: "
                                   "7 to 15 digits, no spaces)")
            out.setdefault(phone, phone)
        else:
            for email in normalize_emails([value], "to"):
                out.setdefault(email.lower(), email)
    return list(out.values())


def message_text(content: Content, rendered: str) -> str:
    """What a recipient reads: the rendered text, then the attachment URLs one a line (pure)."""
    if not content.attachments:
        return rendered
    return rendered.rstrip("\n") + "\n\n" + "\n".join(content.attachments)
