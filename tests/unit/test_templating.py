"""Templates run sandboxed: no escape to Python internals, HTML autoescaped, times in the reader's zone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from workers.commands.base import CommandRequest, SubscriberInfo, Text
from workers.commands.template import TemplateCommand
from workers.templating import TemplateFailure, render_template


def test_sandbox_refuses_python_internals() -> None:
    with pytest.raises(TemplateFailure):
        render_template("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_html_templates_are_autoescaped() -> None:
    assert render_template("<p>{{ v }}</p>", {"v": "<script>"}, html=True) == "<p>&lt;script&gt;</p>"


def test_template_command_uses_the_subscribers_name_attributes_and_zone() -> None:
    from shared.settings import Settings

    request = CommandRequest(
        schedule_id=uuid.uuid4(), schedule_name="Daily", schedule_timezone="UTC", run_id=uuid.uuid4(),
        scheduled_for=datetime(2026, 7, 1, 12, 0, tzinfo=UTC), trigger="schedule", filters={},
        subscriber=SubscriberInfo(uuid.uuid4(), "a@example.test", "Ana", "Europe/Paris", {"plan": "pro"}),
        config={"template": "{{ subscriber.name }}/{{ subscriber.attributes.plan }}/{{ run_time.hour }}"},
    )
    content = TemplateCommand(Settings(database_url="x", redis_url="x", secret_key="x" * 16)).run(request)
    assert content == Text("Ana/pro/14")
