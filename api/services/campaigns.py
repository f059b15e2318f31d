"""Campaign operations inside the caller's transaction.

A scheduled campaign is carried out by a send (api/services/sends.py): a hidden one-shot schedule,
owner 'campaign', targeting the segment, that beat fires like any other. The campaign row holds
what the API decided; how far the send has got (sending, sent) is read from the send.

Locks, always in this order: the campaign row, then its send's schedule row. Concurrent transitions
on one campaign wait for each other on the first; beat cannot fire a send whose row is locked (it
claims with SKIP LOCKED), so a cancel either sees the send fired and refuses, or keeps it from firing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from api.services import sends as send_service
from shared.campaign_states import CampaignAction, next_status, shown_status
from shared.cron import validate_execute_at
from shared.errors import NotFound
from shared.sends import Target, content_from_json, parse_content
from shared.settings import Settings
from shared.sql import campaigns as campaign_sql
from shared.sql import contact_lists as list_sql
from shared.sql import sends as send_sql
from shared.statuses import CampaignStatus

OWNER = "campaign"
LABEL = "Campaign"


@dataclass(frozen=True)
class Deliveries:
    total: int
    delivered: int
    failed: int


@dataclass(frozen=True)
class CampaignView:
    """A campaign as the API shows it: its stored fields and the state of its send."""

    id: UUID
    organization_id: UUID
    name: str
    description: str
    segment_id: UUID
    content: dict[str, Any]
    status: CampaignStatus
    scheduled_at: datetime | None
    published_at: datetime | None
    sent_at: datetime | None
    cancelled_at: datetime | None
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    deliveries: Deliveries


def not_found(campaign_id: object) -> NotFound:
    """The 404 for a campaign that is missing or belongs to another organization."""
    return NotFound(f"Campaign with id {campaign_id} does not exist")


def _check_segment(conn: psycopg.Connection, organization_id: UUID, segment_id: UUID) -> None:
    if not list_sql.list_exists(conn, organization_id, segment_id):
        raise NotFound(f"Contact list with id {segment_id} does not exist")


def _view(campaign: campaign_sql.Campaign, send: send_sql.SendState | None) -> CampaignView:
    status = shown_status(CampaignStatus(campaign.status), send.status if send else None)
    fired = send is not None and status in (CampaignStatus.SENDING, CampaignStatus.SENT)
    return CampaignView(
        id=campaign.id, organization_id=campaign.organization_id, name=campaign.name,
        description=campaign.description, segment_id=campaign.segment_id, content=campaign.content, status=status,
        scheduled_at=campaign.scheduled_at, published_at=send.published_at if send and fired else None,
        sent_at=send.sent_at if send and status is CampaignStatus.SENT else None,
        cancelled_at=campaign.cancelled_at, created_by=campaign.created_by, created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        deliveries=Deliveries(send.deliveries_total, send.deliveries_delivered, send.deliveries_failed)
        if send else Deliveries(0, 0, 0),
    )


def _present(conn: psycopg.Connection, campaign: campaign_sql.Campaign) -> CampaignView:
    send = None
    if campaign.schedule_id is not None:
        send = send_sql.get_send_state(conn, campaign.organization_id, campaign.schedule_id, OWNER)
    return _view(campaign, send)


def _locked(conn: psycopg.Connection, organization_id: UUID,
            campaign_id: UUID) -> tuple[campaign_sql.Campaign, send_sql.SendState | None, CampaignStatus]:
    campaign = campaign_sql.get_campaign(conn, organization_id, campaign_id, for_update=True)
    if campaign is None:
        raise not_found(campaign_id)
    send = None
    if campaign.schedule_id is not None and campaign.status == CampaignStatus.SCHEDULED:
        send = send_sql.lock_send(conn, organization_id, campaign.schedule_id, OWNER)
    return campaign, send, _view(campaign, send).status


def load_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> CampaignView:
    """The organization's campaign as shown; raises NotFound."""
    campaign = campaign_sql.get_campaign(conn, organization_id, campaign_id)
    if campaign is None:
        raise not_found(campaign_id)
    return _present(conn, campaign)


def list_campaigns(conn: psycopg.Connection, organization_id: UUID, *, limit: int,
                   after: tuple[Any, UUID] | None) -> list[CampaignView]:
    """A keyset page of the organization's campaigns as shown (their sends read in one statement)."""
    rows = campaign_sql.list_campaigns(conn, organization_id, limit=limit, after=after)
    ids = [row.schedule_id for row in rows if row.schedule_id is not None]
    sends = send_sql.get_send_states(conn, organization_id, ids, OWNER) if ids else {}
    return [_view(row, sends.get(row.schedule_id) if row.schedule_id else None) for row in rows]


def create_campaign(conn: psycopg.Connection, organization_id: UUID, data: dict[str, Any],
                    created_by: UUID | None) -> CampaignView:
    """Insert a draft; raises InvalidInput (the content), NotFound (a segment the organization does not have)."""
    content = parse_content(data["content"]).as_json()
    _check_segment(conn, organization_id, data["segment_id"])
    values = {"name": data["name"], "description": data["description"], "segment_id": data["segment_id"],
              "content": content}
    return _present(conn, campaign_sql.insert_campaign(conn, organization_id, values, created_by))


def update_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID,
                    data: dict[str, Any]) -> CampaignView:
    """Apply a PATCH to a draft; raises NotFound, PreconditionFailed (not a draft, judged first), InvalidInput."""
    campaign, _, status = _locked(conn, organization_id, campaign_id)
    next_status(status, CampaignAction.EDIT)
    values: dict[str, Any] = {k: data[k] for k in ("name", "description", "segment_id") if k in data}
    if "content" in data:
        values["content"] = parse_content(data["content"]).as_json()
    if "segment_id" in values:
        _check_segment(conn, organization_id, values["segment_id"])
    if not values:
        return _present(conn, campaign)
    updated = campaign_sql.update_campaign(conn, organization_id, campaign_id, values)
    assert updated is not None  # locked as a draft above
    return _present(conn, updated)


def delete_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> None:
    """Delete a draft; raises NotFound, PreconditionFailed (not a draft)."""
    _, _, status = _locked(conn, organization_id, campaign_id)
    next_status(status, CampaignAction.DELETE)
    deleted = campaign_sql.delete_draft(conn, organization_id, campaign_id)
    assert deleted


def schedule_campaign(conn: psycopg.Connection, settings: Settings, organization_id: UUID, campaign_id: UUID,
                      scheduled_at: str, now: datetime) -> CampaignView:
    """Move a draft to scheduled and create the send that carries it out at `scheduled_at`; raises NotFound,
    PreconditionFailed (not a draft, judged first), InvalidInput (the slot)."""
    campaign, _, status = _locked(conn, organization_id, campaign_id)
    next_status(status, CampaignAction.SCHEDULE)
    at = validate_execute_at(scheduled_at, now, settings.send_slots, field="scheduled_at")
    _check_segment(conn, organization_id, campaign.segment_id)
    schedule_id = send_service.create_send(
        conn, organization_id, owner=OWNER, name=campaign.name, content=content_from_json(campaign.content),
        target=Target(list_id=campaign.segment_id), execute_at=at, created_by=campaign.created_by)
    scheduled = campaign_sql.mark_scheduled(conn, organization_id, campaign_id, at, schedule_id)
    assert scheduled is not None
    return _present(conn, scheduled)


def cancel_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> CampaignView:
    """Move a draft or scheduled campaign to cancelled, its send with it; raises NotFound, PreconditionFailed
    (sending, sent or cancelled already)."""
    _, send, status = _locked(conn, organization_id, campaign_id)
    next_status(status, CampaignAction.CANCEL)
    if send is not None:
        send_service.cancel_send(conn, send, label=LABEL)
    cancelled = campaign_sql.mark_cancelled(conn, organization_id, campaign_id)
    assert cancelled is not None
    return _present(conn, cancelled)
