"""SQL for campaigns: a named content sent once to a contact list (the segment), and its stored state.

The only module that writes campaigns. Its status column holds what the API decided (draft,
scheduled, cancelled); the state machine is shared/campaign_states.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from shared.statuses import CampaignStatus


@dataclass(frozen=True)
class Campaign:
    id: UUID
    organization_id: UUID
    name: str
    description: str
    segment_id: UUID
    content: dict[str, Any]
    status: str
    schedule_id: UUID | None
    scheduled_at: datetime | None
    cancelled_at: datetime | None
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime


CAMPAIGN_COLUMNS = ", ".join(f.name for f in fields(Campaign))
_WRITABLE = frozenset({"name", "description", "segment_id", "content"})


def _adapt(column: str, value: Any) -> Any:
    return Jsonb(value) if column == "content" else value


def _check_writable(values: dict[str, Any]) -> None:
    if set(values) - _WRITABLE:
        raise ValueError(f"not writable: {sorted(set(values) - _WRITABLE)}")


def insert_campaign(conn: psycopg.Connection, organization_id: UUID, values: dict[str, Any],
                    created_by: UUID | None) -> Campaign:
    """Insert a draft campaign and return it; raises ValueError on an unknown column."""
    _check_writable(values)
    columns = ["organization_id", "created_by", *values]
    params = [organization_id, created_by, *(_adapt(c, v) for c, v in values.items())]
    with conn.cursor(row_factory=class_row(Campaign)) as cur:
        cur.execute(
            f"""INSERT INTO campaigns ({", ".join(columns)}) VALUES ({", ".join(["%s"] * len(columns))})
                RETURNING {CAMPAIGN_COLUMNS}""",
            params,
        )
        row = cur.fetchone()
    assert row is not None
    return row


def get_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID,
                 *, for_update: bool = False) -> Campaign | None:
    """The organization's campaign, or None; `for_update` locks its row until the transaction ends."""
    # Every transition locks the row first: concurrent schedule and cancel wait for each other, and
    # the second one judges the state the first one left.
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(Campaign)) as cur:
        cur.execute(
            f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = %s AND organization_id = %s{lock}",
            (campaign_id, organization_id),
        )
        return cur.fetchone()


def update_campaign(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID,
                    values: dict[str, Any]) -> Campaign | None:
    """Change a draft's fields; return it, or None if there is no such draft."""
    _check_writable(values)
    assignments = "".join(f"{c} = %s, " for c in values)
    with conn.cursor(row_factory=class_row(Campaign)) as cur:
        cur.execute(
            f"""UPDATE campaigns SET {assignments}updated_at = now()
                WHERE id = %s AND organization_id = %s AND status = '{CampaignStatus.DRAFT}'
                RETURNING {CAMPAIGN_COLUMNS}""",
            [*(_adapt(c, v) for c, v in values.items()), campaign_id, organization_id],
        )
        return cur.fetchone()


def delete_draft(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> bool:
    """Delete a draft; return whether one was."""
    cur = conn.execute(
        f"DELETE FROM campaigns WHERE id = %s AND organization_id = %s AND status = '{CampaignStatus.DRAFT}'",
        (campaign_id, organization_id),
    )
    return cur.rowcount == 1


def mark_scheduled(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID, scheduled_at: datetime,
                   schedule_id: UUID | None) -> Campaign | None:
    """Move a draft to scheduled for `scheduled_at`, carried by the send `schedule_id`; None if it was no draft."""
    with conn.cursor(row_factory=class_row(Campaign)) as cur:
        cur.execute(
            f"""UPDATE campaigns SET status = '{CampaignStatus.SCHEDULED}', scheduled_at = %s, schedule_id = %s,
                       updated_at = now()
                WHERE id = %s AND organization_id = %s AND status = '{CampaignStatus.DRAFT}'
                RETURNING {CAMPAIGN_COLUMNS}""",
            (scheduled_at, schedule_id, campaign_id, organization_id),
        )
        return cur.fetchone()


def mark_cancelled(conn: psycopg.Connection, organization_id: UUID, campaign_id: UUID) -> Campaign | None:
    """Move a draft or scheduled campaign to cancelled; None if it was neither."""
    with conn.cursor(row_factory=class_row(Campaign)) as cur:
        cur.execute(
            f"""UPDATE campaigns SET status = '{CampaignStatus.CANCELLED}', cancelled_at = now(), updated_at = now()
                WHERE id = %s AND organization_id = %s
                  AND status IN ('{CampaignStatus.DRAFT}', '{CampaignStatus.SCHEDULED}')
                RETURNING {CAMPAIGN_COLUMNS}""",
            (campaign_id, organization_id),
        )
        return cur.fetchone()


def list_campaigns(conn: psycopg.Connection, organization_id: UUID, *, limit: int,
                   after: tuple[datetime, UUID] | None = None) -> list[Campaign]:
    """The organization's campaigns, oldest first, keyset-paged after (created_at, id)."""
    keyset = "AND (created_at, id) > (%s, %s)" if after else ""
    with conn.cursor(row_factory=class_row(Campaign)) as cur:
        cur.execute(
            f"""SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE organization_id = %s {keyset}
                ORDER BY created_at, id LIMIT %s""",
            [organization_id, *(after or ()), limit],
        )
        return cur.fetchall()


def count_campaigns(conn: psycopg.Connection, organization_id: UUID) -> int:
    """How many campaigns the organization has."""
    row = conn.execute("SELECT count(*) FROM campaigns WHERE organization_id = %s", (organization_id,)).fetchone()
    assert row is not None
    return int(row[0])


def count_by_segment(conn: psycopg.Connection, organization_id: UUID, segment_id: UUID) -> int:
    """How many campaigns target this contact list (a list in use cannot be deleted)."""
    row = conn.execute("SELECT count(*) FROM campaigns WHERE organization_id = %s AND segment_id = %s",
                       (organization_id, segment_id)).fetchone()
    assert row is not None
    return int(row[0])

