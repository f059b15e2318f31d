"""Destination rules that need no server: email headers, SFTP names and host keys, Slack text (pure)."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime

import paramiko
import pytest

from workers.commands.base import SubscriberInfo
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError
from workers.destinations.email_message import attachment_part, build_message, build_wire_message, message_id
from workers.destinations.sftp import parse_host_key, remote_filename
from workers.destinations.slack import slack_text

ARTIFACT = Artifact("text/csv; charset=utf-8", "Weekly.csv", b"a,b\n1,2\n")


def _context(**values: object) -> DeliveryContext:
    base: dict[str, object] = dict(
        delivery_id=uuid.UUID(int=1), run_id=uuid.UUID("12345678-0000-0000-0000-000000000000"),
        schedule_id=uuid.UUID(int=3), schedule_name="Weekly sales / EU", attempt=1,
        scheduled_for=datetime(2026, 1, 5, 23, 30, tzinfo=UTC), destination={}, secrets={},
        recipients=["a@example.test"], idempotency_key="punctual-1",
    )
    base.update(values)
    return DeliveryContext(**base)  # type: ignore[arg-type]


def test_message_id_is_stable_per_delivery() -> None:
    ctx = _context()
    assert message_id(ctx, "Reports <reports@acme.test>") == f"<{ctx.delivery_id}@acme.test>"
    assert build_message(ctx, ARTIFACT, "r@acme.test")["Message-ID"] == message_id(ctx, "r@acme.test")


@pytest.mark.parametrize("field", ["subject", "recipient"])
def test_line_breaks_in_headers_are_refused(field: str) -> None:
    ctx = (_context(destination={"subject": "x\nBcc: evil@example.test"}) if field == "subject"
           else _context(recipients=["a@example.test\r\nBcc: evil@example.test"]))
    with pytest.raises(DeliveryError) as info:
        build_message(ctx, ARTIFACT, "r@acme.test")
    assert info.value.permanent and "line break" in info.value.message


@pytest.mark.parametrize("breaker", ["\u2028", "\v", "\x85", "\r"])
def test_every_kind_of_line_break_fails_permanently_on_both_paths(breaker: str) -> None:
    ctx = _context(destination={"subject": f"Report{breaker}Bcc: evil@example.test"})
    for compose in (lambda: build_message(ctx, ARTIFACT, "r@acme.test"),
                    lambda: build_wire_message(ctx, ARTIFACT, "r@acme.test", attachment_part(ARTIFACT))):
        with pytest.raises(DeliveryError) as info:
            compose()
        assert info.value.permanent and "line break" in info.value.message


def test_attachment_keeps_its_mime_type() -> None:
    [part] = list(build_message(_context(), ARTIFACT, "r@acme.test").iter_attachments())
    assert part.get_content_type() == "text/csv" and part.get_filename() == "Weekly.csv"


def test_wire_message_reads_back_as_composed() -> None:
    # The fast composition (ASCII addresses) must read, to an independent parser, like the modern one.
    ctx = _context(destination={"subject": "Résumé {{ schedule.name }}", "body": "Bonjour {{ filename }} ✓"})
    artifact = Artifact("text/csv; charset=utf-8", "Année.csv", b"a,b\n1,2\n")
    wire = build_wire_message(ctx, artifact, "r@acme.test", attachment_part(artifact))
    assert b"\r\n" in wire.data and not wire.data.replace(b"\r\n", b"").count(b"\n")
    parsed = email.message_from_bytes(wire.data, policy=email.policy.default)
    assert parsed["Subject"] == "Résumé Weekly sales / EU" and parsed["To"] == "a@example.test"
    assert parsed["Message-ID"] == wire.message_id == message_id(ctx, "r@acme.test")
    assert parsed["Idempotency-Key"] == "punctual-1"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == "Bonjour Année.csv ✓"
    [part] = list(parsed.iter_attachments())
    assert part.get_content_type() == "text/csv" and part.get_filename() == "Année.csv"
    assert part.get_payload(decode=True) == b"a,b\n1,2\n"


def test_sftp_file_name_uses_the_template_in_the_subscribers_zone() -> None:
    sub = SubscriberInfo(uuid.UUID(int=9), "ana@example.test", "Ana", "Asia/Tokyo", {})
    assert remote_filename(_context(), ARTIFACT) == "Weekly-sales-EU-2026-01-05-12345678.csv"
    # Per subscriber: the date is theirs, and the name gains the user so files never collide.
    assert remote_filename(_context(subscriber=sub), ARTIFACT) == \
        "Weekly-sales-EU-2026-01-06-12345678-ana@example.test.csv"


def test_sftp_file_name_cannot_escape_the_directory() -> None:
    ctx = _context(destination={"filename_template": "../../etc/{schedule}.{ext}"})
    assert "/" not in remote_filename(ctx, ARTIFACT)


def test_host_key_line_parses_and_garbage_fails_permanently() -> None:
    key = paramiko.ECDSAKey.generate()
    assert parse_host_key(f"{key.get_name()} {key.get_base64()} comment").asbytes() == key.asbytes()
    with pytest.raises(DeliveryError) as info:
        parse_host_key("not-a-key")
    assert info.value.permanent


def test_slack_inlines_short_text_and_links_binary_content() -> None:
    ctx = _context(destination={"text": "{{ schedule.name }}"})
    assert slack_text(ctx, Artifact("text/plain", "r.txt", b"hello"), "http://p") == "Weekly sales / EU\nhello"
    linked = slack_text(_context(), Artifact("application/pdf", "r.pdf", b"%PDF"), "http://p/")
    assert "<http://p/v1/runs/12345678-0000-0000-0000-000000000000|run" in linked
