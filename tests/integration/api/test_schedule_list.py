"""GET /v1/schedules: filters, q, sorting and keyset pages behind an opaque cursor."""

from __future__ import annotations

import base64
import json

from psycopg_pool import ConnectionPool

from shared.db import transaction
from tests.integration.api.conftest import EMAIL, Api, error, insert_member


def _walk(api: Api, query: str) -> list[dict]:
    records, cursor, pages = [], None, 0
    while True:
        url = f"/v1/schedules?{query}" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url).get_json()
        records.extend(body["records"])
        pages += 1
        assert len(body["records"]) <= body["page_info"]["page_size"]
        if not body["page_info"]["has_next_page"]:
            assert body["page_info"]["next_cursor"] is None
            return records
        cursor = body["page_info"]["next_cursor"]
        assert pages < 100


def test_pages_cover_every_schedule_once_in_each_sort(api: Api, pool: ConnectionPool) -> None:
    names = ["delta", "alpha", "echo", "charlie", "bravo", "alpha"]
    ids = [api.create_schedule(name=n, cron_expression=f"{i} 9 * * *")["id"] for i, n in enumerate(names)]
    with transaction(pool) as conn:  # two have run, one is paused (no next run): NULLs sort last
        conn.execute("UPDATE schedules SET last_run_at = now() - interval '1 hour' WHERE id = %s", (ids[0],))
        conn.execute("UPDATE schedules SET last_run_at = now() - interval '2 hour' WHERE id = %s", (ids[1],))
        conn.execute("UPDATE schedules SET next_run_at = NULL WHERE id = %s", (ids[2],))
    first = api.get("/v1/schedules?page_size=4").get_json()
    assert first["page_info"] == {"has_next_page": True, "next_cursor": first["page_info"]["next_cursor"],
                                  "page_size": 4, "total_records": 6}
    for field in ("name", "created_at", "next_run_time", "last_run_time"):
        for direction in ("asc", "desc"):
            walked = _walk(api, f"page_size=2&sort_field={field}&sort_direction={direction}")
            assert sorted(r["id"] for r in walked) == sorted(ids), (field, direction)
    by_name = [r["name"] for r in _walk(api, "page_size=2&sort_field=name")]
    assert by_name == sorted(names)
    by_last = [r["id"] for r in _walk(api, "page_size=2&sort_field=last_run_time")]
    assert by_last[:2] == [ids[1], ids[0]]
    by_next_desc = [r["id"] for r in _walk(api, "page_size=5&sort_field=next_run_time&sort_direction=desc")]
    assert by_next_desc[0] == ids[2]  # NULL (sorted as the far future) first when descending


def test_filters_and_q(api: Api, pool: ConnectionPool) -> None:
    owner = insert_member(pool, api.tenant.organization_id, "olive@example.com", "Olive Owner")
    command = api.create_command(name="Quarterly revenue")
    a = api.create_schedule(name="Morning digest", created_by_user_id=owner)
    b = api.create_schedule(name="Evening", command_id=command["id"], destination=EMAIL, run_mode="once_distribute")
    c = api.create_schedule(name="100% real_name", enabled=False)
    with transaction(pool) as conn:
        conn.execute("UPDATE schedules SET last_status = 'failed' WHERE id = %s", (b["id"],))

    def ids(query: str) -> set[str]:
        response = api.get(f"/v1/schedules?{query}")
        assert response.status_code == 200, response.get_json()
        return {r["id"] for r in response.get_json()["records"]}

    assert ids("q=digest") == {a["id"]}
    assert ids("q=REVENUE") == {b["id"]}
    assert ids("q=olive") == {a["id"]}
    assert ids("q=100%25") == {c["id"]}
    assert ids("q=Mor_ing") == set()  # _ and % are literal, not wildcards
    assert ids("q=l_n") == {c["id"]}
    assert ids("status=failed") == {b["id"]}
    assert ids("destination=email") == {b["id"]}
    assert ids("run_mode=once_distribute") == {b["id"]}
    assert ids("enabled=false") == {c["id"]}
    assert ids(f"owner_id={owner}") == {a["id"]}
    assert api.get("/v1/schedules?enabled=false").get_json()["page_info"]["total_records"] == 1


def test_listing_errors(api: Api) -> None:
    api.create_schedule()
    assert error(api.get("/v1/schedules?page_size=101"), 400) == "Page size cannot exceed 100"
    assert error(api.get("/v1/schedules?page_size=0"), 400).startswith("page_size:")
    assert error(api.get("/v1/schedules?owner_id=nope"), 400) == "owner_id: Invalid uuid"
    assert error(api.get("/v1/schedules?sort_field=colour"), 400).startswith("sort_field: Must be one of")
    assert error(api.get("/v1/schedules?sort_direction=up"), 400).startswith("sort_direction:")
    assert error(api.get("/v1/schedules?status=weird"), 400).startswith("status:")
    assert error(api.get("/v1/schedules?cursor=garbage!"), 400) == "cursor: Invalid cursor"
    forged = base64.urlsafe_b64encode(json.dumps({"s": "schedules:created_at:asc", "v": "not a time", "t": True,
                                                  "i": "x", "n": 1}).encode()).decode()
    assert error(api.get(f"/v1/schedules?cursor={forged}"), 400) == "cursor: Invalid cursor"
    for field, value, is_time in (("name", "2026-01-01T00:00:00+00:00", True), ("created_at", "x", False),
                                  ("name", None, False)):
        mistyped = base64.urlsafe_b64encode(json.dumps({
            "s": f"schedules:{field}:asc", "v": value, "t": is_time, "i": "00000000-0000-0000-0000-000000000001",
            "n": 1}).encode()).decode()
        assert error(api.get(f"/v1/schedules?sort_field={field}&cursor={mistyped}"), 400) == "cursor: Invalid cursor"
    two = api.create_schedule(name="b")
    assert two
    cursor = api.get("/v1/schedules?page_size=1").get_json()["page_info"]["next_cursor"]
    assert error(api.get(f"/v1/schedules?cursor={cursor}&sort_field=name"), 400).startswith("cursor: This cursor")


def test_runs_listing_is_paged_newest_first(api: Api, pool: ConnectionPool) -> None:
    sid = api.create_schedule()["id"]
    for _ in range(5):
        assert api.post(f"/v1/schedules/{sid}/trigger").get_json() == {"success": True}
    first = api.get(f"/v1/schedules/{sid}/runs?page_size=2").get_json()
    assert first["page_info"]["total_records"] == 5 and first["page_info"]["has_next_page"]
    seen = [r["id"] for r in first["records"]]
    cursor = first["page_info"]["next_cursor"]
    while cursor:
        page = api.get(f"/v1/schedules/{sid}/runs?page_size=2&cursor={cursor}").get_json()
        seen.extend(r["id"] for r in page["records"])
        cursor = page["page_info"]["next_cursor"]
    with transaction(pool) as conn:
        expected = [str(r[0]) for r in conn.execute(
            "SELECT id FROM runs WHERE schedule_id = %s ORDER BY scheduled_for DESC, id DESC", (sid,))]
    assert seen == expected
    assert error(api.get(f"/v1/schedules/{sid}/runs?page_size=500"), 400) == "Page size cannot exceed 100"
    assert error(api.get("/v1/schedules/nope/runs"), 400) == "schedule_id: Invalid uuid"


def test_total_is_exact_up_to_the_cap_then_estimated(api: Api, pool: ConnectionPool) -> None:
    from uuid import UUID

    from shared.sql.schedule_listing import ScheduleQuery, count_schedules

    for i in range(12):
        api.create_schedule(name=f"s{i}", enabled=i % 2 == 0)
    org = UUID(api.tenant.organization_id)
    with transaction(pool) as conn:
        conn.execute("ANALYZE schedules")
        assert count_schedules(conn, org, ScheduleQuery(), cap=20) == 12
        assert count_schedules(conn, org, ScheduleQuery(enabled=False), cap=20) == 6
        estimated = count_schedules(conn, org, ScheduleQuery(), cap=5)
    assert estimated >= 6  # above the cap: the planner's estimate, never below cap + 1
