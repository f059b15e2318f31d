"""GET /v1/health: the database, the broker, and beat's last tick."""

from __future__ import annotations

from typing import Any

import psycopg
import redis
from flask import Response, jsonify
from flask_smorest import Blueprint

from api.db import get_pool, get_settings
from shared.db import transaction

blp = Blueprint("health", __name__, url_prefix="/v1", description="Liveness of the system")


def _database() -> tuple[bool, dict[str, Any]]:
    try:
        with transaction(get_pool()) as conn:
            conn.execute("SELECT 1")
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


@blp.route("/health")
@blp.doc(security=[])
def health() -> Response:
    """Report the database, the broker and beat's heartbeat; 503 when a dependency is down."""
    db_ok, body = _database()
    body["broker"] = _broker()
    ok = db_ok and body["broker"]["ok"]
    body["status"] = "ok" if ok else "degraded"
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response
