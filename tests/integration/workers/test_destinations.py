"""Each destination against a real server on loopback: SFTP (paramiko server), Slack/webhook (HTTP), SMTP."""

from __future__ import annotations

import json
from pathlib import Path

import paramiko
import pytest

from tests.integration.workers.conftest import World
from tests.servers import HttpSink, SftpServer, SmtpSink

pytestmark = pytest.mark.broker


def _sftp(server: SftpServer, **extra: object) -> dict[str, object]:
    return {"type": "sftp", "host": "127.0.0.1", "port": server.port, "username": server.username,
            "host_key": server.host_key_line, "directory": "/", **extra}


def _files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_sftp_uploads_under_a_temporary_name_then_renames(world: World, sftp_server: SftpServer) -> None:
    for old in sftp_server.root.iterdir():
        old.unlink()
    sftp_server.operations.clear()
    sid = world.schedule(_sftp(sftp_server, filename_template="{schedule}-{date}.{ext}"),
                         secrets={"password": sftp_server.password}, format="csv")
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete", world.deliveries(run["id"])
    [name] = _files(sftp_server.root)
    assert name.startswith("Weekly-sales-") and name.endswith(".csv")
    assert b"schedule_id" in (sftp_server.root / name).read_bytes()
    opened, renamed = sftp_server.operations
    assert opened[0] == "open" and opened[1].endswith(".part")
    assert renamed == ("rename", opened[1], f"/{name}")


def test_sftp_logs_in_with_a_private_key(world: World, sftp_server: SftpServer) -> None:
    key = paramiko.ECDSAKey.generate()
    sftp_server.authorized_key = key
    from io import StringIO
    pem = StringIO()
    key.write_private_key(pem)
    sid = world.schedule(_sftp(sftp_server, filename_template="keyed-{run}.{ext}"),
                         secrets={"private_key": pem.getvalue()})
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete", world.deliveries(run["id"])
    assert f"keyed-{str(run['id'])[:8]}.json" in _files(sftp_server.root)


def test_sftp_host_key_mismatch_fails_closed_without_retrying(world: World, sftp_server: SftpServer) -> None:
    other = paramiko.ECDSAKey.generate()
    before = _files(sftp_server.root)
    sid = world.schedule(_sftp(sftp_server, host_key=f"{other.get_name()} {other.get_base64()}"),
                         secrets={"password": sftp_server.password}, retry_max_attempts=5)
    run = world.wait_run(world.fire(sid))

    [delivery] = world.deliveries(run["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert "host key mismatch" in delivery["last_error"]
    assert _files(sftp_server.root) == before  # nothing uploaded, never logged in


def test_slack_posts_the_text_content(world: World, http_sink: HttpSink) -> None:
    command = world.command("template", {"template": "3 new signups today"})
    sid = world.schedule({"type": "slack", "url": f"{http_sink.url}/services/T0/B0/x",
                          "text": "*{{ schedule.name }}*"}, command_id=command)
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete"
    [request] = http_sink.requests
    assert json.loads(request.body) == {"text": "*Weekly sales*\n3 new signups today"}


def test_webhook_410_fails_and_disables_the_schedule(world: World, http_sink: HttpSink) -> None:
    http_sink.responder = lambda request, index: (410, {}, b"gone")
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/gone"})
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "error_delivered"
    assert len(http_sink.requests) == 1
    schedule = world.schedule_row(sid)
    assert schedule["system_disabled_at"] is not None and "410" in schedule["system_disabled_reason"]


def test_email_header_injection_is_refused(world: World, smtp_sink: SmtpSink) -> None:
    smtp_sink.messages.clear()
    user = world.user("victim@example.test")
    sid = world.schedule({"type": "email", "subject": "Report\r\nBcc: attacker@example.test"},
                         subscribers=[user])
    run = world.wait_run(world.fire(sid))

    [delivery] = world.deliveries(run["id"])
    assert delivery["status"] == "failed" and "line break" in delivery["last_error"]
    assert smtp_sink.messages == []
