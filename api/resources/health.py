"""GET /v1/health: up or down for anybody; GET /v1/health/detail: the database, the broker and beat's
heartbeat, for a token holder."""

from __future__ import annotations

from typing import Any

import psycopg
import redis
from flask import Response, jsonify
from marshmallow import Schema, fields, validate

from api.db import get_pool, get_settings
from api.docs import ApiBlueprint, error_responses
from shared.db import transaction

blp = ApiBlueprint("health", __name__, url_prefix="/v1", description="Liveness of the system")


class HealthStatus(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("ok", "degraded")),
                           metadata={"description": "ok (200) or degraded (503)"})


class Dependency(Schema):
    ok = fields.Boolean(required=True)
    error = fields.String(metadata={"description": "The error's type when not ok"})


class BeatHealth(Schema):
    last_tick_at = fields.DateTime(required=True, allow_none=True)
    seconds_since_last_tick = fields.Float(required=True, allow_none=True)
    live_beats = fields.Integer(required=True, metadata={"description": "Beats that ticked in the last 30 s"})
    runs_published = fields.Integer(required=True)
    oldest_pending_run_at = fields.DateTime(required=True, allow_none=True)
    oldest_pending_run_age_s = fields.Float(required=True, allow_none=True)
    pending_runs = fields.Integer(required=True)


class HealthDetail(HealthStatus):
    database = fields.Nested(Dependency, required=True)
    broker = fields.Nested(Dependency, required=True)
    beat = fields.Nested(BeatHealth, metadata={"description": "Absent when the database is down"})


def _database(detail: bool) -> tuple[bool, dict[str, Any]]:
    try:
        with transaction(get_pool()) as conn:
            conn.execute("SELECT 1")
            if not detail:
                return True, {"database": {"ok": True}}
            beat = conn.execute(
                """SELECT max(last_tick_at), extract(epoch FROM now() - max(last_tick_at)),
                          count(*) FILTER (WHERE last_tick_at > now() - interval '30 seconds'),
                          coalesce(sum(runs_published), 0)
                   FROM beat_heartbeats"""
            ).fetchone()
            pending = conn.execute(
                """SELECT min(created_at), extract(epoch FROM now() - min(created_at)), count(*)
                   FROM runs WHERE status = 'pending'"""
            ).fetchone()
    except psycopg.Error as exc:
        return False, {"database": {"ok": False, "error": type(exc).__name__}}
    assert beat is not None and pending is not None
    return True, {
        "database": {"ok": True},
        "beat": {
            "last_tick_at": beat[0].isoformat() if beat[0] else None,
            "seconds_since_last_tick": float(beat[1]) if beat[1] is not None else None,
            "live_beats": beat[2],
            "runs_published": int(beat[3]),
            "oldest_pending_run_at": pending[0].isoformat() if pending[0] else None,
            "oldest_pending_run_age_s": float(pending[1]) if pending[1] is not None else None,
            "pending_runs": pending[2],
        },
    }


def _broker() -> dict[str, Any]:
    try:
        client = redis.Redis.from_url(get_settings().redis_url, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def _check(detail: bool) -> tuple[bool, dict[str, Any]]:
    db_ok, body = _database(detail)
    body["broker"] = _broker()
    ok = db_ok and body["broker"]["ok"]
    body["status"] = "ok" if ok else "degraded"
    return ok, body


def _answer(ok: bool, body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response


@blp.route("/health")
@blp.doc(security=[])
@blp.response(200, HealthStatus, description="The database and the broker answer")
@blp.alt_response(503, schema=HealthStatus, description="The database or the broker does not answer")
def health() -> Response:
    """Up or down, for load balancers and anybody: the details are at /v1/health/detail, for a token holder."""
    ok, _ = _check(detail=False)
    return _answer(ok, {"status": "ok" if ok else "degraded"})


@blp.route("/health/detail")
@blp.response(200, HealthDetail, description="The database and the broker answer")
@blp.alt_response(503, schema=HealthDetail, description="The database or the broker does not answer")
@error_responses(blp)
def health_detail() -> Response:
    """The database, the broker and beat's heartbeat (seconds since its last tick, pending runs); 503 when a
    dependency is down."""
    return _answer(*_check(detail=True))
