"""One blueprint per resource."""

from __future__ import annotations

from api.resources import health, runs, schedules

BLUEPRINTS = [health.blp, schedules.blp, runs.blp]

from api.resources import commands, cron, schedule_actions, users  # noqa: E402 - API helper's resources

BLUEPRINTS.extend([schedule_actions.blp, commands.blp, users.blp, cron.blp])

from api.resources import deliveries  # noqa: E402 - workers helper's resource

BLUEPRINTS.append(deliveries.blp)
