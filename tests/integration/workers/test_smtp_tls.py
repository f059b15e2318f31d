"""Email over STARTTLS with a login, as PUNCTUAL_SMTP_* configure it, against a real aiosmtpd server."""

from __future__ import annotations

import ipaddress
import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.settings import Settings
from tests.integration.workers.conftest import World, parse_mail
from tests.processes import Process, start_worker, wait_for
from tests.servers import SmtpSink


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def smtp_sink(tls_files: tuple[Path, Path]) -> Iterator[SmtpSink]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    sink = SmtpSink(tls_context=context, login=("mailer", "mail-password")).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def worker(base_settings: Settings, database_url: str, smtp_sink: SmtpSink, tls_files: tuple[Path, Path],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    # The worker trusts the test certificate (SSL_CERT_FILE) and must verify it: no verification is skipped.
    proc = start_worker(
        base_settings, tmp_path_factory.mktemp("worker-tls-logs"), concurrency=1,
        PUNCTUAL_SMTP_PORT=str(smtp_sink.port), PUNCTUAL_SMTP_TLS="starttls", PUNCTUAL_SMTP_USERNAME="mailer",
        PUNCTUAL_SMTP_PASSWORD="mail-password", PUNCTUAL_MAIL_FROM="reports@punctual.test",
        SSL_CERT_FILE=str(tls_files[0]), PUNCTUAL_RETRY_SWEEP_INTERVAL="0.2",
        PUNCTUAL_DATA_SOURCES=json.dumps({}),
    )
    wait_for(lambda: "ready" in proc.output() or not proc.alive(), timeout=60)
    assert proc.alive(), proc.output()
    yield proc
    proc.stop()


def test_email_goes_over_starttls_with_login(world: World, smtp_sink: SmtpSink) -> None:
    user = world.user("secure@example.test")
    sid = world.schedule({"type": "email", "subject": "Encrypted"}, subscribers=[user])
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete", world.deliveries(run["id"])
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["secure@example.test"] and parse_mail(mail.content)["Subject"] == "Encrypted"
