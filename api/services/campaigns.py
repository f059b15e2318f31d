"""Campaign operations inside the caller's transaction: every transition locks the campaign row first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from shared.campaign_states import CampaignAction, next_status
from shared.cron import validate_execute_at
from shared.errors import NotFound
from shared.settings import Settings
from shared.sql import campaigns as campaign_sql
from shared.statuses import CampaignStatus


@dataclass(frozen=True)
class CampaignView:
    """A campaign as the API shows it: its stored fields and the state of its send."""

    campaign: campaign_sql.Campaign
    status: CampaignStatus
    published_at: datetime | None
    sent_at: datetime | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.campaign, name)


def not_found(campaign_id: object) -> NotFound:
    """The 404 for a campaign that is missing or belongs to another organization."""
    return NotFound(f"Campaign with id {campaign_id} does not exist")


def _check_segment(conn: psycopg.Connection, organization_id: UUID, segment_id: UUID) -> None:
    if not campaign_sql.segment_exists(conn, organization_id, segment_id):
        raise NotFound(f"Contact list with id {segment_id} does not exist")


def present(conn: psycopg.Connection, campaign: campaign_sql.Campaign) -> CampaignView:
    """The campaign with its status as the API reports it."""
    return CampaignView(campaign, CampaignStatus(campaign.status), None, None)


def _locked(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> CampaignView:
    campaign = campaign_sql.get_campaign(conn, organization_id, campaign_id, for_update=True)
    if campaign is None:
        raise not_found(campaign_id)
    return present(conn, campaign)


def load_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> CampaignView:
    """The organization's campaign as shown; raises NotFound."""
    campaign = campaign_sql.get_campaign(conn, organization_id, campaign_id)
    if campaign is None:
        raise not_found(campaign_id)
    return present(conn, campaign)


def list_campaigns(conn: psycopg.Connection, organization_id: UUID, *, limit: int,
                   after: tuple[Any, UUID] | None) -> list[CampaignView]:
    """A keyset page of the organization's campaigns as shown."""
    rows = campaign_sql.list_campaigns(conn, organization_id, limit=limit, after=after)
    return [present(conn, row) for row in rows]


def create_campaign(conn: psycopg.Connection, organization_id: UUID, data: dict[str, Any],
                    created_by: UUID | None) -> CampaignView:
    """Insert a draft; raises NotFound for a segment the organization does not have."""
    _check_segment(conn, organization_id, data["segment_id"])
    values = {k: data[k] for k in ("name", "description", "segment_id", "content")}
    return present(conn, campaign_sql.insert_campaign(conn, organization_id, values, created_by))


def update_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID,
                    data: dict[str, Any]) -> CampaignView:
    """Apply a PATCH to a draft; raises NotFound, PreconditionFailed (not a draft)."""
    current = _locked(conn, organization_id, campaign_id)
    next_status(current.status, CampaignAction.EDIT)
    values: dict[str, Any] = {k: data[k] for k in ("name", "description", "segment_id", "content") if k in data}
    if "segment_id" in values:
        _check_segment(conn, organization_id, values["segment_id"])
    if not values:
        return current
    updated = campaign_sql.update_campaign(conn, organization_id, campaign_id, values)
    assert updated is not None  # locked as a draft above
    return present(conn, updated)


def delete_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> None:
    """Delete a draft; raises NotFound, PreconditionFailed (not a draft)."""
    current = _locked(conn, organization_id, campaign_id)
    next_status(current.status, CampaignAction.DELETE)
    deleted = campaign_sql.delete_draft(conn, organization_id, campaign_id)
    assert deleted


def schedule_campaign(conn: psycopg.Connection, settings: Settings, organization_id: UUID, campaign_id: UUID,
                      scheduled_at: str, now: datetime) -> CampaignView:
    """Move a draft to scheduled; raises NotFound, PreconditionFailed (not a draft), InvalidInput (the slot)."""
    current = _locked(conn, organization_id, campaign_id)
    next_status(current.status, CampaignAction.SCHEDULE)
    at = validate_execute_at(scheduled_at, now, settings.send_slots, field="scheduled_at")
    _check_segment(conn, organization_id, current.segment_id)
    scheduled = campaign_sql.mark_scheduled(conn, organization_id, campaign_id, at, None)
    assert scheduled is not None
    return present(conn, scheduled)


def cancel_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> CampaignView:
    """Move a draft or scheduled campaign to cancelled; raises NotFound, PreconditionFailed (any other state)."""
    current = _locked(conn, organization_id, campaign_id)
    next_status(current.status, CampaignAction.CANCEL)
    cancelled = campaign_sql.mark_cancelled(conn, organization_id, campaign_id)
    assert cancelled is not None
    return present(conn, cancelled)
