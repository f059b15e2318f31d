"""Email destination: SMTP (none, STARTTLS or SSL; login from settings), the artifact attached."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from shared.settings import Settings
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Receipt
from workers.outbound import HttpClient
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


def build_message(delivery: DeliveryContext, artifact: Artifact, mail_from: str) -> EmailMessage:
    """Compose the message with the artifact attached; raises DeliveryError on a bad template or header."""
    inline = bool(delivery.destination.get("inline"))
    if inline:
        # The artifact is the message itself (a send's text), under a literal subject: nothing attached.
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
    message = EmailMessage()
    try:
        message["Subject"] = refuse_line_breaks("subject", subject)
        message["From"] = refuse_line_breaks("from", mail_from)
        message["To"] = ", ".join(refuse_line_breaks("recipient", r) for r in delivery.recipients)
        message["Message-ID"] = message_id(delivery, mail_from)
        message["Date"] = formatdate(localtime=False)
        message["Idempotency-Key"] = refuse_line_breaks("idempotency key", delivery.idempotency_key)
        message.set_content(body)
        if inline:
            return message
        maintype, _, subtype = artifact.content_type.split(";")[0].strip().partition("/")
        message.add_attachment(artifact.body, maintype=maintype or "application",
                               subtype=subtype or "octet-stream",
                               filename=refuse_line_breaks("filename", artifact.filename))
    except (ValueError, TypeError) as exc:
        # The email library refuses what no retry will change (U+2028 or \v in a header, say).
        raise DeliveryError(f"email cannot be composed: {exc}", permanent=True) from None
    return message


class EmailDestination:
    """Sends each delivery's message over one SMTP connection kept for the batch; raises DeliveryError
    (5xx and auth permanent, 4xx and network errors retried)."""

    concurrent = False  # one SMTP connection speaks one transaction at a time

    def __init__(self, settings: Settings, http: HttpClient) -> None:
        self.settings = settings
        self._client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        timeout = s.http_read_timeout_s
        if s.smtp_tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
            if s.smtp_tls == "starttls":
                client.starttls(context=ssl.create_default_context())
        if s.smtp_username:
            client.login(s.smtp_username, s.smtp_password or "")
        return client

    def _send_once(self, message: EmailMessage, recipients: list[str]) -> dict[str, Any]:
        fresh = self._client is None
        if self._client is None:
            self._client = self._connect()
        try:
            return self._client.send_message(message, from_addr=self.settings.mail_from, to_addrs=recipients)
        except smtplib.SMTPServerDisconnected:
            self._drop()
            if fresh:
                raise
            # The server closed a connection kept from an earlier message (idle timeout): once more, anew.
            self._client = self._connect()
            return self._client.send_message(message, from_addr=self.settings.mail_from, to_addrs=recipients)

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        """Send the message; raises DeliveryError (4xx and network errors retried, 5xx and auth permanent)."""
        message = build_message(delivery, artifact, self.settings.mail_from)
        try:
            refused = self._send_once(message, delivery.recipients)
        except smtplib.SMTPAuthenticationError as exc:
            self._drop()
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code}", permanent=True,
                                response_code=exc.smtp_code) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(code >= 500 for code in codes)
            self._reset()
            raise DeliveryError(f"SMTP refused every recipient: {sorted(exc.recipients)}", permanent=permanent,
                                response_code=max(codes) if codes else None) from None
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500,
                                response_code=exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from None
        return Receipt(response_code=250, detail={"refused": sorted(refused), "message_id": message["Message-ID"]})

    def _reset(self) -> None:
        # After a refused transaction the connection is still good: RSET and keep it for the next message.
        try:
            if self._client is not None:
                self._client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except OSError:
                pass

    def close(self) -> None:
        """QUIT the batch's connection."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
