"""Composing an email delivery: the rendered subject and body, the artifact attached, headers checked (pure)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from email import encoders
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any

from workers.destinations.base import Artifact, DeliveryContext, DeliveryError
from workers.templating import TemplateFailure, local_time, render_template

DEFAULT_SUBJECT = "{{ schedule.name }}"
DEFAULT_BODY = "Your scheduled delivery \"{{ schedule.name }}\" is attached ({{ filename }})."


_LINE_BREAKS = ("\r", "\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def refuse_line_breaks(name: str, value: str) -> str:
    """Return value; raises DeliveryError (permanent) if it holds a line break of any kind (header injection)."""
    if any(c in value for c in _LINE_BREAKS):
        raise DeliveryError(f"email {name} contains a line break; refused", permanent=True)
    return value


def message_id(delivery: DeliveryContext, mail_from: str) -> str:
    """A Message-ID stable across attempts, so a receiving server can drop a duplicate (pure)."""
    domain = mail_from.rpartition("@")[2].strip("> ") or "punctual.invalid"
    return f"<{delivery.delivery_id}@{domain}>"


def _context(delivery: DeliveryContext, artifact: Artifact) -> dict[str, Any]:
    sub = delivery.subscriber
    zone = sub.timezone if sub else delivery.schedule_timezone
    return {
        "schedule": {"id": str(delivery.schedule_id), "name": delivery.schedule_name},
        "run": {"id": str(delivery.run_id)},
        "subscriber": sub.as_json() if sub else None,
        "run_time": local_time(delivery.scheduled_for, zone),
        "filename": artifact.filename,
    }


def is_international(mail_from: str, recipients: list[str]) -> bool:
    """Whether an address is not ASCII, so the message needs SMTPUTF8 (pure)."""
    return not (mail_from.isascii() and all(r.isascii() for r in recipients))


def is_inline(delivery: DeliveryContext) -> bool:
    """Whether the artifact is the message itself (a scheduled message's text): nothing is attached (pure)."""
    return bool(delivery.destination.get("inline"))


def _rendered(delivery: DeliveryContext, artifact: Artifact) -> tuple[str, str]:
    if is_inline(delivery):
        # A send's text under a literal subject: no template is rendered, nothing attached.
        subject = str(delivery.destination.get("subject_text") or delivery.schedule_name)
        body = artifact.body.decode(errors="replace")
    else:
        context = _context(delivery, artifact)
        try:
            subject = render_template(str(delivery.destination.get("subject") or DEFAULT_SUBJECT), context)
            body = render_template(str(delivery.destination.get("body") or DEFAULT_BODY), context)
        except TemplateFailure as exc:
            raise DeliveryError(str(exc), permanent=True) from None
    if not delivery.recipients:
        raise DeliveryError("email delivery has no recipients", permanent=True)
    return refuse_line_breaks("subject", subject), body


def _headers(delivery: DeliveryContext, subject: str, mail_from: str) -> list[tuple[str, str]]:
    return [
        ("Subject", subject),
        ("From", refuse_line_breaks("from", mail_from)),
        ("To", ", ".join(refuse_line_breaks("recipient", r) for r in delivery.recipients)),
        ("Message-ID", message_id(delivery, mail_from)),
        ("Date", formatdate(localtime=False)),
        ("Idempotency-Key", refuse_line_breaks("idempotency key", delivery.idempotency_key)),
    ]


def build_message(delivery: DeliveryContext, artifact: Artifact, mail_from: str) -> EmailMessage:
    """The message with the modern email API (for addresses that need SMTPUTF8); raises DeliveryError
    (permanent) on a bad template or a header the email library refuses."""
    subject, body = _rendered(delivery, artifact)
    message = EmailMessage()
    maintype, _, subtype = artifact.content_type.split(";")[0].strip().partition("/")
    try:
        for name, value in _headers(delivery, subject, mail_from):
            message[name] = value
        message.set_content(body)
        if is_inline(delivery):
            return message
        message.add_attachment(artifact.body, maintype=maintype or "application", subtype=subtype or "octet-stream",
                               filename=refuse_line_breaks("filename", artifact.filename))
    except (ValueError, TypeError) as exc:
        # The email library refuses what no retry will change (U+2028 or \v in a header, say).
        raise DeliveryError(f"email cannot be composed: {exc}", permanent=True) from None
    return message


def attachment_part(artifact: Artifact) -> MIMEBase:
    """The artifact as a base64 MIME attachment, built once and shared by every message of a batch that
    carries it; raises DeliveryError (permanent) on a filename with a line break."""
    maintype, _, subtype = artifact.content_type.split(";")[0].strip().partition("/")
    part = MIMEBase(maintype or "application", subtype or "octet-stream")
    part.set_payload(artifact.body)
    encoders.encode_base64(part)
    filename = refuse_line_breaks("filename", artifact.filename)
    # RFC 2231 for a name that is not ASCII; compat32 writes it as filename*=utf-8''...
    part.add_header("Content-Disposition", "attachment",
                    filename=filename if filename.isascii() else ("utf-8", "", filename))
    return part


@dataclass(frozen=True)
class WireMessage:
    """A message ready for SMTP DATA, with its Message-ID for the receipt."""

    data: bytes
    message_id: str


def build_wire_message(delivery: DeliveryContext, artifact: Artifact, mail_from: str,
                       attachment: MIMEBase | None) -> WireMessage:
    """The message (with `attachment`, or the text alone) as CRLF bytes for ASCII addresses, composed with the
    compat32 email classes: a fifth of the modern API's CPU, which parses and refolds every header (most of an
    email's cost in a large fan-out); raises DeliveryError (permanent) on a bad template or header."""
    subject, body = _rendered(delivery, artifact)
    text = MIMEText(body, "plain", "us-ascii" if body.isascii() else "utf-8")
    message: Message = text if attachment is None else MIMEMultipart()
    for name, value in _headers(delivery, subject, mail_from):
        # Non-ASCII subjects become RFC 2047 encoded words; the addresses are ASCII here.
        message[name] = value if value.isascii() else Header(value, "utf-8").encode()
    if attachment is not None:
        message.attach(text)
        message.attach(attachment)
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False).flatten(message, linesep="\r\n")
    return WireMessage(out.getvalue(), message["Message-ID"])
