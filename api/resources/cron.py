"""GET /v1/cron/preview: what an expression means and when it fires next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.docs import ApiBlueprint, error_responses
from api.schemas.cron import CronPreview, CronPreviewArgs
from shared.cron import describe_expression, dialect_of, next_fire_times, parse_timestamp, validate_timezone

blp = ApiBlueprint("cron", __name__, url_prefix="/v1/cron", description="Cron expressions")


@blp.route("/preview", methods=["GET"])
@blp.arguments(CronPreviewArgs, location="query")
@blp.response(200, CronPreview)
@error_responses(blp, 400)
def preview(args: dict[str, Any]) -> dict[str, Any]:
    """The dialect, a plain-English description and the next `count` fire times (at most 100)."""
    expression, timezone = args["expression"], args["timezone"]
    validate_timezone(timezone)
    after = parse_timestamp(args["after"], "after") if args.get("after") else datetime.now(UTC)
    return {
        "dialect": dialect_of(expression),
        "description": describe_expression(expression),
        "next_run_times": next_fire_times(expression, timezone, after, args["count"]),
    }
