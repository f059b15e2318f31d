"""Email destination: SMTP (none, STARTTLS or SSL; login from settings), the artifact attached."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.mime.base import MIMEBase
from typing import Any

from shared.settings import Settings
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Receipt
from workers.destinations.email_message import (
    attachment_part,
    build_message,
    build_wire_message,
    is_inline,
    is_international,
)
from workers.outbound import HttpClient


class EmailDestination:
    """Sends each delivery's message over one SMTP connection kept for the batch; raises DeliveryError
    (5xx and auth permanent, 4xx and network errors retried)."""

    def __init__(self, settings: Settings, http: HttpClient) -> None:
        self.settings = settings
        self._client: smtplib.SMTP | None = None
        # The last artifact's MIME part: a fan-out batch sends one artifact to every recipient, so it is
        # base64-encoded once per batch instead of once per message.
        self._attachment: tuple[Artifact, MIMEBase] | None = None

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

    def _transact(self, delivery: DeliveryContext, artifact: Artifact) -> tuple[dict[str, Any], str]:
        mail_from, recipients = self.settings.mail_from, delivery.recipients
        if is_international(mail_from, recipients):
            message = build_message(delivery, artifact, mail_from)
            return self._with_connection(lambda c: c.send_message(message, mail_from, recipients)), \
                str(message["Message-ID"])
        attachment = None if is_inline(delivery) else self._attachment_of(artifact)
        wire = build_wire_message(delivery, artifact, mail_from, attachment)
        return self._with_connection(lambda c: c.sendmail(mail_from, recipients, wire.data)), wire.message_id

    def _with_connection(self, transaction: Callable[[smtplib.SMTP], dict[str, Any]]) -> dict[str, Any]:
        fresh = self._client is None
        if self._client is None:
            self._client = self._connect()
        try:
            return transaction(self._client)
        except smtplib.SMTPServerDisconnected:
            self._drop()
            if fresh:
                raise
            # The server closed a connection kept from an earlier message (idle timeout): once more, anew.
            self._client = self._connect()
            return transaction(self._client)

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        """Send the message; raises DeliveryError (4xx and network errors retried, 5xx and auth permanent)."""
        try:
            refused, sent_id = self._transact(delivery, artifact)
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
        return Receipt(response_code=250, detail={"refused": sorted(refused), "message_id": sent_id})

    def _attachment_of(self, artifact: Artifact) -> MIMEBase:
        if self._attachment is None or self._attachment[0] is not artifact:
            self._attachment = (artifact, attachment_part(artifact))
        return self._attachment[1]

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
