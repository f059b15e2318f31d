"""One blueprint per resource."""

from __future__ import annotations

from api.resources import (
    campaigns,
    commands,
    cron,
    data_sources,
    deliveries,
    health,
    lists,
    organization,
    runs,
    schedule_actions,
    scheduled_messages,
    schedules,
    tokens,
    users,
)

BLUEPRINTS = [health.blp, schedules.blp, runs.blp, schedule_actions.blp, commands.blp, data_sources.blp,
              users.blp, tokens.blp, cron.blp, deliveries.blp, lists.blp,
              scheduled_messages.blp, organization.blp, campaigns.blp]
