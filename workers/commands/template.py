"""The template command: text or HTML from a sandboxed Jinja2 template, personalised per subscriber."""

from __future__ import annotations

from typing import Any

from shared.settings import Settings
from workers.commands.base import CommandError, CommandRequest, Content, Text
from workers.templating import TemplateFailure, local_time, render_template


def template_context(request: CommandRequest) -> dict[str, Any]:
    """Variables a template sees: subscriber, filters, schedule, run and the run time in the reader's zone."""
    sub = request.subscriber
    return {
        "subscriber": {
            "id": str(sub.id) if sub else None, "email": sub.email if sub else None,
            "name": sub.name if sub else None, "timezone": request.timezone,
            "attributes": sub.attributes if sub else {},
        },
        "filters": request.filters,
        "schedule": {"id": str(request.schedule_id), "name": request.schedule_name},
        "run": {"id": str(request.run_id), "trigger": request.trigger},
        "run_time": local_time(request.scheduled_for, request.timezone),
        "timezone": request.timezone,
    }


class TemplateCommand:
    """Renders config.template; config.content_type 'html' autoescapes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, request: CommandRequest) -> Content:
        """Render the template; raises CommandError when it does not parse or render."""
        html = request.config.get("content_type", "text") == "html"
        try:
            text = render_template(str(request.config.get("template", "")), template_context(request), html=html)
        except TemplateFailure as exc:
            raise CommandError(str(exc)) from None
        cap = self.settings.command_max_output_bytes
        if len(text) > cap // 4 and len(text.encode()) > cap:
            raise CommandError(f"template command: output larger than {cap} bytes (PUNCTUAL_COMMAND_MAX_OUTPUT_BYTES)")
        return Text(text, html=html)
