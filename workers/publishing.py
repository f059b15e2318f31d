"""What workers put on the broker: batches of deliveries per destination kind, chunks, runs.

Always called after the commit that made the rows exist, so a worker that reads an id finds its
row. If the process dies between commit and publish, the sweep publishes the rows later (their
`publish_after`, or their dead holder), so nothing is lost, only delayed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from shared.celery_app import DELIVERY_QUEUES, RUNS_QUEUE, TASK_DELIVER, TASK_EXECUTE_RUNS, TASK_PRODUCE_CHUNK
from workers.app import app


def delivery_batches(items: Iterable[tuple[str, UUID]], size: int) -> list[tuple[str, list[str]]]:
    """Group (kind, id) pairs into messages of at most `size` ids of one kind, in order (pure)."""
    by_kind: dict[str, list[str]] = {}
    for kind, delivery_id in items:
        by_kind.setdefault(kind, []).append(str(delivery_id))
    return [(kind, ids[i:i + size]) for kind, ids in by_kind.items() for i in range(0, len(ids), size)]


def publish_deliveries(items: Sequence[tuple[str, UUID]], per_message: int) -> None:
    """Publish deliveries as batch messages on their kind's queue, on one broker connection."""
    if not items:
        return
    with app.producer_or_acquire() as producer:
        for kind, ids in delivery_batches(items, per_message):
            app.send_task(TASK_DELIVER[kind], args=[ids], queue=DELIVERY_QUEUES[kind], producer=producer)


def publish_chunks(run_id: UUID, numbers: Sequence[int]) -> None:
    """Publish one produce-chunk message per chunk of a per_subscriber run."""
    if not numbers:
        return
    with app.producer_or_acquire() as producer:
        for number in numbers:
            app.send_task(TASK_PRODUCE_CHUNK, args=[str(run_id), number], queue=RUNS_QUEUE, producer=producer)


def publish_runs(run_ids: Sequence[UUID], per_message: int) -> None:
    """Publish execute messages of at most `per_message` runs each."""
    if not run_ids:
        return
    ids = [str(r) for r in run_ids]
    with app.producer_or_acquire() as producer:
        for i in range(0, len(ids), per_message):
            app.send_task(TASK_EXECUTE_RUNS, args=[ids[i:i + per_message]], queue=RUNS_QUEUE, producer=producer)
