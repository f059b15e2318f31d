"""Run modes, fan-out and run status over a real worker, Redis, PostgreSQL and servers on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from shared.celery_app import RUNS_QUEUE, TASK_EXECUTE_RUNS
from tests.integration.workers.conftest import World, parse_mail
from tests.processes import wait_for
from tests.servers import HttpSink, SmtpSink

SECRET_BYTES = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()


def test_once_distribute_webhook_is_signed_per_standard_webhooks(world: World, http_sink: HttpSink) -> None:
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, secrets={"secret": SECRET})
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete" and run["deliveries_delivered"] == 1
    [request] = http_sink.requests
    body = json.loads(request.body)
    assert body["schedule_id"] == str(sid) and body["run_id"] == str(run["id"])
    # Recompute the signature independently: HMAC-SHA256 of "id.timestamp.body" keyed by the decoded secret.
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = "v1," + base64.b64encode(hmac.new(SECRET_BYTES, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == expected
    assert request.headers["Idempotency-Key"] == request.headers["webhook-id"]
    [delivery] = world.deliveries(run["id"])
    assert world.attempts(delivery["id"])[0]["response_code"] == 200
    assert world.schedule_row(sid)["last_status"] == "complete"
    assert world.schedule_row(sid)["last_completed_at"] is not None


def test_per_subscriber_runs_the_command_for_each_subscriber_in_their_time_zone(
        world: World, http_sink: HttpSink) -> None:
    ana = world.user("ana@example.test", name="Ana", timezone="America/New_York", attributes={"region": "east"})
    bo = world.user("bo@example.test", name="Bo", timezone="Asia/Tokyo", attributes={"region": "west"})
    command = world.command("template", {
        "template": "{{ subscriber.name }} {{ subscriber.attributes.region }} {{ run_time.strftime('%H:%M %Z') }}",
    })
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/per"}, command_id=command,
                         run_mode="per_subscriber", format="text", subscribers=[ana, bo])
    from datetime import UTC, datetime
    run = world.wait_run(world.fire(sid, scheduled_for=datetime(2026, 1, 5, 14, 0, tzinfo=UTC)))

    assert run["status"] == "complete" and run["deliveries_total"] == 2
    bodies = sorted(r.body.decode() for r in http_sink.requests)
    assert bodies == ["Ana east 09:00 EST", "Bo west 23:00 JST"]
    artifacts = world.all("SELECT user_id, sha256 FROM artifacts WHERE run_id = %s", run["id"])
    assert {a["user_id"] for a in artifacts} == {ana, bo}


def test_email_without_fan_out_sends_one_message_to_all(world: World, smtp_sink: SmtpSink) -> None:
    smtp_sink.messages.clear()
    users = [world.user(f"reader{i}@example.test") for i in range(3)]
    sid = world.schedule({"type": "email", "subject": "Sales for {{ schedule.name }}"}, subscribers=users,
                         fan_out=False, format="csv")
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete" and run["deliveries_total"] == 1
    [mail] = smtp_sink.messages
    assert sorted(mail.rcpt_tos) == [f"reader{i}@example.test" for i in range(3)]
    message = parse_mail(mail.content)
    assert message["Subject"] == "Sales for Weekly sales"
    [delivery] = world.deliveries(run["id"])
    assert message["Message-ID"] == f"<{delivery['id']}@punctual.test>"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/csv" and attachment.get_filename() == "Weekly-sales.csv"
    assert b"schedule_id" in attachment.get_content().encode()


def test_email_with_fan_out_sends_one_message_each(world: World, smtp_sink: SmtpSink) -> None:
    smtp_sink.messages.clear()
    users = [world.user(f"fan{i}@example.test") for i in range(3)]
    sid = world.schedule({"type": "email"}, subscribers=users, fan_out=True)
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete" and run["deliveries_delivered"] == 3
    assert sorted(tuple(m.rcpt_tos) for m in smtp_sink.messages) == [(f"fan{i}@example.test",) for i in range(3)]
    ids = {parse_mail(m.content)["Message-ID"] for m in smtp_sink.messages}
    assert len(ids) == 3


def test_per_subscriber_email_personalises_each_message(world: World, smtp_sink: SmtpSink) -> None:
    smtp_sink.messages.clear()
    ana = world.user("ana@example.test", name="Ana", attributes={"team": "red"})
    bo = world.user("bo@example.test", name="Bo", attributes={"team": "blue"})
    command = world.command("template", {"template": "<p>{{ subscriber.attributes.team }}</p>",
                                         "content_type": "html"})
    sid = world.schedule({"type": "email", "body": "Hi {{ subscriber.name }}"}, command_id=command,
                         run_mode="per_subscriber", subscribers=[ana, bo])
    world.wait_run(world.fire(sid))

    by_rcpt = {m.rcpt_tos[0]: parse_mail(m.content) for m in smtp_sink.messages}
    assert set(by_rcpt) == {"ana@example.test", "bo@example.test"}
    ana_mail = by_rcpt["ana@example.test"]
    assert ana_mail.get_body(("plain",)).get_content().strip() == "Hi Ana"
    [attachment] = list(ana_mail.iter_attachments())
    assert attachment.get_content_type() == "text/html" and "<p>red</p>" in attachment.get_content()


def test_per_subscriber_fans_out_over_many_chunks(world: World, http_sink: HttpSink) -> None:
    users = world.users(450)
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/many"}, run_mode="per_subscriber",
                         subscribers=users)
    run = world.wait_run(world.fire(sid), timeout=60)

    assert run["status"] == "complete" and run["deliveries_delivered"] == 450
    assert run["chunks_total"] == 5  # 100 subscribers a chunk, each chunk a task any worker may take
    received = {json.loads(r.body)["subscriber"]["id"] for r in http_sink.requests}
    assert received == {str(u) for u in users}


def test_redelivered_run_message_never_duplicates_deliveries(world: World, http_sink: HttpSink) -> None:
    users = [world.user(f"dup{i}@example.test") for i in range(2)]
    sid = world.schedule({"type": "email"}, subscribers=users, fan_out=True)
    run_id = world.fire(sid)
    for _ in range(3):  # the same run published again, as a redelivery after a lost ack would
        world.broker.send_task(TASK_EXECUTE_RUNS, args=[[str(run_id)]], queue=RUNS_QUEUE)
    run = world.wait_run(run_id)

    assert run["deliveries_total"] == 2 and len(world.deliveries(run_id)) == 2
    assert world.one("SELECT count(*) AS n FROM artifacts WHERE run_id = %s", run_id)["n"] == 1


def test_failed_command_fails_the_run_and_repeated_failures_disable_the_schedule(
        world: World, http_sink: HttpSink) -> None:
    http_sink.responder = lambda request, index: (500, {}, b"renderer down")
    command = world.command("http", {"url": f"{http_sink.url}/render"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, command_id=command)
    from datetime import UTC, datetime, timedelta
    base = datetime(2026, 3, 1, tzinfo=UTC)
    runs = [world.wait_run(world.fire(sid, scheduled_for=base + timedelta(hours=i))) for i in range(3)]

    assert [r["status"] for r in runs] == ["failed"] * 3
    assert "HTTP 500" in runs[0]["error"]
    assert world.deliveries(runs[0]["id"]) == []
    schedule = world.schedule_row(sid)
    assert schedule["last_status"] == "failed" and schedule["consecutive_failures"] == 3
    assert schedule["system_disabled_at"] is not None
    assert "3 consecutive failed runs" in schedule["system_disabled_reason"]


def test_some_failed_deliveries_make_the_run_error_delivered(world: World, smtp_sink: SmtpSink,
                                                              http_sink: HttpSink) -> None:
    http_sink.responder = lambda request, index: (200, {"Content-Type": "text/plain"}, b"report")
    ok = world.user("ok@example.test", attributes={"fail": False})
    bad = world.user("bad@example.test", attributes={"fail": True})
    command = world.command("template", {"template": "{% if subscriber.attributes.fail %}{{ nope.x }}"
                                                     "{% endif %}fine"})
    sid = world.schedule({"type": "email"}, command_id=command, run_mode="per_subscriber", subscribers=[ok, bad])
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "error_delivered"
    by_user = {d["user_id"]: d for d in world.deliveries(run["id"])}
    assert by_user[ok]["status"] == "delivered"
    assert by_user[bad]["status"] == "failed" and "UndefinedError" in by_user[bad]["last_error"]
    wait_for(lambda: len(smtp_sink.messages) >= 1)


def test_email_without_fan_out_splits_large_lists_into_groups(world: World, smtp_sink: SmtpSink) -> None:
    smtp_sink.messages.clear()
    users = world.users(120, prefix="team")
    sid = world.schedule({"type": "email"}, subscribers=users, fan_out=False)
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete" and run["deliveries_total"] == 3
    assert sorted(len(m.rcpt_tos) for m in smtp_sink.messages) == [20, 50, 50]
    assert len({r for m in smtp_sink.messages for r in m.rcpt_tos}) == 120
