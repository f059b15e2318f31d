"""Produce a run's content: run its command (or describe the run), take the schedule's result and row cap,
render it, apply the alert condition."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg

from shared.command_rules import COMMAND_KINDS, result_keys, unknown_result
from shared.crypto import decrypt_secret
from shared.errors import ConfigError
from shared.filters import command_filters
from shared.schedule_rules import delivered_row_limit
from shared.sends import content_from_json, message_text
from shared.settings import Settings
from shared.sql.commands import CommandToRun, get_commands_to_run
from shared.sql.data_sources import ResolvedSource, resolve_url
from shared.sql.deliveries import last_delivered_sha256
from shared.sql.runs import Run
from shared.sql.schedules import Schedule, get_schedules_unscoped
from shared.sql.subscribers import Subscriber
from workers.commands import get_command as command_for
from workers.commands.base import Blob, CommandError, CommandRequest, Content, Document, SubscriberInfo
from workers.formats import Rendered, render
from workers.templating import TemplateFailure, render_template
from workers.tiles import limit_rows, select_result, split_json_results
from workers.time_limits import time_limit


@dataclass(frozen=True)
class Plan:
    """A claimed run with its schedule and command (None: describe the run as JSON)."""
    run: Run
    schedule: Schedule
    command: CommandToRun | None
    data_source: ResolvedSource | None = None  # an sql command's data source, resolved in the organization


@dataclass(frozen=True)
class Produced:
    rendered: Rendered
    sha256: str
    filename: str


def load_plans(conn: psycopg.Connection, runs: Sequence[Run], settings: Settings) -> dict[UUID, Plan | None]:
    """Each run's schedule and command, read in a few statements; None when the schedule or command is gone."""
    schedules = get_schedules_unscoped(conn, [(r.organization_id, r.schedule_id) for r in runs])
    commands = get_commands_to_run(conn, [(s.organization_id, s.command_id) for s in schedules.values()
                                          if s.command_id is not None])
    plans: dict[UUID, Plan | None] = {}
    for run in runs:
        schedule = schedules.get(run.schedule_id)
        command = commands.get(schedule.command_id) if schedule and schedule.command_id else None
        if schedule is None or (schedule.command_id is not None and command is None):
            plans[run.id] = None
            continue
        plans[run.id] = Plan(run, schedule, command, _data_source(conn, run, command, settings))
    return plans


def _data_source(conn: psycopg.Connection, run: Run, command: CommandToRun | None,
                 settings: Settings) -> ResolvedSource | None:
    name = command.config.get("data_source") if command is not None else None
    if command is None or command.kind != "sql" or not isinstance(name, str):
        return None
    # Resolved in the run's own organization: a name is never looked up across tenants.
    try:
        return resolve_url(conn, run.organization_id, name, settings.data_sources, settings.secret_key)
    except ConfigError:
        return None


def subscriber_info(sub: Subscriber | None) -> SubscriberInfo | None:
    """The command-facing view of a subscriber."""
    if sub is None:
        return None
    return SubscriberInfo(sub.id, sub.email, sub.name, sub.timezone, dict(sub.attributes))


def _describe_run(request: CommandRequest) -> Document:
    # With no command, the content is a small JSON document about the run (the walking skeleton).
    data: dict[str, object] = {
        "schedule_id": str(request.schedule_id), "schedule_name": request.schedule_name,
        "run_id": str(request.run_id), "scheduled_for": request.scheduled_for.isoformat(),
        "trigger": request.trigger,
    }
    if request.subscriber is not None:
        data["subscriber"] = request.subscriber.as_json()
    return Document(data)


def produce(plan: Plan, sub: Subscriber | None, settings: Settings) -> Produced:
    """Run the command for one subscriber (or none), keep the schedule's result (query_key) and at most its rows
    per result (max_row_limit), and render it; raises CommandError (Omni's `Couldn't find query presentation for
    key: <key>` when the command no longer has the schedule's query_key)."""
    schedule, run, command = plan.schedule, plan.run, plan.command
    if schedule.send_content is not None:
        return produce_message(schedule.send_content)
    check_query_key(command.kind if command else None, command.config if command else {}, schedule.query_key)
    info = subscriber_info(sub)
    # Structured filters become operands for sql and template commands; http ones get them as sent.
    filters = command_filters(command.kind if command else None, schedule.filters,
                              info.attributes if info is not None else None)
    max_rows = delivered_row_limit(schedule.max_row_limit, schedule.override_row_limit)
    request = CommandRequest(
        schedule_id=schedule.id, schedule_name=schedule.name, schedule_timezone=schedule.timezone,
        run_id=run.id, scheduled_for=run.scheduled_for, trigger=run.trigger, filters=filters,
        subscriber=info, config=dict(command.config) if command else {},
        secrets=decrypt_secret(settings.secret_key, command.config_secret) if command else {},
        data_source=plan.data_source, query_key=schedule.query_key, max_rows=max_rows,
    )
    # The command and its rendering together: a huge table is as able to hold a worker as a slow query.
    with time_limit(settings.command_time_limit_s, f"{command.kind} command" if command else "run"):
        content: Content = (command_for(command.kind, settings).run(request) if command
                            else _describe_run(request))
        content = limit_rows(select_result(_named_results(command, content, schedule.query_key),
                                           schedule.query_key), max_rows)
        rendered = render(content, schedule.format, schedule.format_options, schedule.name)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", schedule.name).strip("-.") or "report"
    return Produced(rendered, hashlib.sha256(rendered.body).hexdigest(), f"{stem}.{rendered.extension}")


def produce_message(stored: dict[str, object]) -> Produced:
    """A send's text: its template rendered with its variables (or its text), then its attachment URLs;
    raises CommandError when the template no longer renders."""
    content = content_from_json(stored)
    try:
        text = content.text if content.template is None else render_template(content.template,
                                                                              dict(content.variables))
    except TemplateFailure as exc:
        raise CommandError(str(exc)) from None
    body = message_text(content, text or "").encode()
    rendered = Rendered("text/plain; charset=utf-8", "txt", body, None)
    return Produced(rendered, hashlib.sha256(body).hexdigest(), "message.txt")


def check_query_key(kind: str | None, config: dict[str, object], query_key: str | None) -> None:
    """Raise CommandError if a built-in command does not declare query_key (its config changed since the schedule
    was saved), before anything runs; a plugin kind's own results are judged once it has answered."""
    if query_key is None or (kind is not None and kind not in COMMAND_KINDS):
        return
    if query_key not in result_keys(kind, config):
        raise CommandError(unknown_result(query_key))


def _named_results(command: CommandToRun | None, content: Content, query_key: str | None) -> Content:
    # An http renderer that declares result_keys answers one JSON object holding every result.
    keys = result_keys(command.kind, command.config) if command is not None else []
    if command is not None and command.kind == "http" and keys and isinstance(content, Blob):
        return split_json_results(content, keys, query_key)
    return content


def held_back(conn: psycopg.Connection, plan: Plan, produced: Produced, user_id: UUID | None) -> str | None:
    """Why the alert condition holds this content back, or None to deliver it."""
    condition = plan.schedule.alert_condition
    if condition == "results_present" and produced.rendered.row_count == 0:
        return "alert condition results_present: no results"
    if condition == "results_changed":
        last = last_delivered_sha256(conn, plan.run.organization_id, plan.schedule.id, user_id)
        if last == produced.sha256:
            return "alert condition results_changed: same content as the last delivery"
    return None
