"""Templates run sandboxed: no escape to Python internals, HTML autoescaped, times in the reader's zone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.errors import InvalidInput
from shared.templating import check_template
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


def test_a_template_that_does_not_compile_is_refused_with_its_line() -> None:
    check_template("Hi {{ subscriber.name }}, {{ run_time.hour }}", "config.template")
    with pytest.raises(InvalidInput) as raised:
        check_template("line one\n{{ broken", "destination.subject")
    assert raised.value.detail.startswith("destination.subject: Template syntax error on line 2: ")


@pytest.mark.parametrize("source", ["{{" + "(" * 1000 + "1" + ")" * 1000 + "}}",
                                    "{% if a %}" * 200 + "{% endif %}" * 200])
def test_a_template_nested_too_deeply_is_refused_not_crashed(source: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_template(source, "config.template")
    assert raised.value.detail == "config.template: Template is nested too deeply"
