"""Campaigns: content sent once to a contact list, moved through draft, scheduled, sending and sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask.views import MethodView

from api.auth import current_organization_id, current_user_id
from api.db import get_pool, get_settings
from api.docs import ApiBlueprint, error_responses
from api.paging import build_page, keyset, read_cursor
from api.params import parse_uuid
from api.schemas.campaigns import (
    CampaignCreate,
    CampaignListArgs,
    CampaignOut,
    CampaignPage,
    CampaignSchedule,
    CampaignUpdate,
)
from api.services import campaigns as service
from api.services.campaigns import CampaignView
from shared.db import transaction
from shared.sql import campaigns as campaign_sql

blp = ApiBlueprint("campaigns", __name__, url_prefix="/v1/campaigns", description="Campaigns")
SORT = "campaigns:created_at:asc"


@blp.route("")
class Campaigns(MethodView):
    @blp.arguments(CampaignListArgs, location="query")
    @blp.response(200, CampaignPage)
    @error_responses(blp, 400)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List campaigns, oldest first, in keyset pages."""
        size, cursor = read_cursor(args, SORT)
        org = current_organization_id()
        with transaction(get_pool()) as conn:
            rows = service.list_campaigns(conn, org, limit=size + 1, after=keyset(cursor))
            total = cursor.total if cursor and cursor.total is not None else campaign_sql.count_campaigns(conn, org)
        return build_page(rows, size, SORT, total, lambda c: (c.created_at, c.id))

    @blp.arguments(CampaignCreate)
    @blp.response(201, CampaignOut)
    @error_responses(blp, 400, 404)
    def post(self, data: dict[str, Any]) -> CampaignView:
        """Create a draft campaign to a contact list (`segment_id`; 404 if the organization has no such list)."""
        with transaction(get_pool()) as conn:
            return service.create_campaign(conn, current_organization_id(), data, current_user_id())


@blp.route("/<id:campaign_id>")
class CampaignById(MethodView):
    @blp.response(200, CampaignOut)
    @error_responses(blp, 400, 404)
    def get(self, campaign_id: str) -> CampaignView:
        """Read a campaign and the state of its send."""
        cid = parse_uuid(campaign_id, "campaign_id")
        with transaction(get_pool()) as conn:
            return service.load_campaign(conn, current_organization_id(), cid)

    @blp.arguments(CampaignUpdate)
    @blp.response(200, CampaignOut)
    @error_responses(blp, 400, 404, 412)
    def patch(self, data: dict[str, Any], campaign_id: str) -> CampaignView:
        """Change a draft's name, description, segment or content (412 `Campaign is <state>; cannot edit`)."""
        cid = parse_uuid(campaign_id, "campaign_id")
        with transaction(get_pool()) as conn:
            return service.update_campaign(conn, current_organization_id(), cid, data)

    @blp.response(204)
    @error_responses(blp, 400, 404, 412)
    def delete(self, campaign_id: str) -> None:
        """Delete a draft (412 `Campaign is <state>; cannot delete`: cancel a scheduled one instead)."""
        cid = parse_uuid(campaign_id, "campaign_id")
        with transaction(get_pool()) as conn:
            service.delete_campaign(conn, current_organization_id(), cid)


@blp.route("/<id:campaign_id>/schedule", methods=["POST"])
@blp.arguments(CampaignSchedule)
@blp.response(200, CampaignOut)
@error_responses(blp, 400, 404, 412)
def schedule_campaign(data: dict[str, Any], campaign_id: str) -> CampaignView:
    """Move a draft to scheduled: beat sends it at `scheduled_at` (412 from any other state, e.g.
    `Campaign is sent; cannot schedule`)."""
    cid = parse_uuid(campaign_id, "campaign_id")
    with transaction(get_pool()) as conn:
        return service.schedule_campaign(conn, get_settings(), current_organization_id(), cid, data["scheduled_at"],
                                         datetime.now(UTC))


@blp.route("/<id:campaign_id>/cancel", methods=["POST"])
@blp.response(200, CampaignOut)
@error_responses(blp, 400, 404, 412)
def cancel_campaign(campaign_id: str) -> CampaignView:
    """Cancel a draft or scheduled campaign; nothing of it is sent (412 once sending or sent, e.g.
    `Campaign is sending; cannot cancel`)."""
    cid = parse_uuid(campaign_id, "campaign_id")
    with transaction(get_pool()) as conn:
        return service.cancel_campaign(conn, current_organization_id(), cid)
