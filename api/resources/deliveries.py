"""Deliveries: retry a failed delivery by hand."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.auth import current_organization_id
from api.db import get_pool
from api.docs import ApiBlueprint, error_responses
from api.params import parse_uuid
from shared.db import transaction
from shared.errors import BadState, NotFound
from shared.sql import deliveries as delivery_sql
from shared.sql import runs as run_sql
from shared.sql.schedules import get_schedule
from shared.statuses import DeliveryStatus

blp = ApiBlueprint("deliveries", __name__, url_prefix="/v1/deliveries", description="Deliveries and their retries")


class RetryOut(Schema):
    success = fields.Boolean(required=True)


@blp.route("/<id:delivery_id>/retry", methods=["POST"])
@blp.response(200, RetryOut)
@error_responses(blp, 400, 404, 409)
def retry_delivery(delivery_id: str) -> dict[str, bool]:
    """Retry a failed delivery now, with the schedule's retry budget again (a worker's sweep sends it).

    409 when the delivery is not `failed`, has no content (its command failed: trigger the schedule again)
    or belongs to a deleted schedule."""
    did = parse_uuid(delivery_id, "delivery_id")
    org = current_organization_id()
    with transaction(get_pool()) as conn:
        delivery = delivery_sql.get_org_delivery(conn, org, did, for_update=True)
        if delivery is None:
            raise NotFound(f"Delivery with id {did} does not exist")
        if delivery.status != DeliveryStatus.FAILED:
            raise BadState(f"Delivery {did} is {delivery.status}; only failed deliveries can be retried")
        if delivery.artifact_id is None:
            raise BadState(f"Delivery {did} has no content (its command failed); trigger the schedule again")
        schedule = get_schedule(conn, org, delivery.schedule_id)
        if schedule is None:
            raise BadState(f"Delivery {did} belongs to a deleted schedule")
        run_id = delivery_sql.reopen_failed_delivery(conn, org, did, schedule.retry_max_attempts)
        if run_id is not None:
            run_sql.reopen_run(conn, org, run_id)  # it re-derives its status when this delivery settles
    return {"success": True}
