"""Load N periodic tasks, all due at one instant, into a peer's store (run in the peers' venv).

usage: python peer_load.py redbeat|django COUNT DUE_UNIX_TIMESTAMP
Each task runs every hour and last ran one hour before DUE, so each is due exactly at DUE.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


def load_redbeat(count: int, due: datetime) -> None:
    from celery.schedules import schedule
    from peer_app import app
    from redbeat.decoder import RedBeatJSONEncoder
    from redbeat.schedulers import ensure_conf, get_redis

    ensure_conf(app)
    conf, client = app.redbeat_conf, get_redis(app)
    every = schedule(run_every=HOUR, app=app)
    meta = json.dumps({"last_run_at": due - HOUR}, cls=RedBeatJSONEncoder)
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        key = f"{conf.key_prefix}bench-{i}"
        definition = {"name": f"bench-{i}", "task": "bench.noop", "args": [i], "kwargs": {}, "options": {},
                      "schedule": every, "enabled": True}
        pipe.hset(key, mapping={"definition": json.dumps(definition, cls=RedBeatJSONEncoder), "meta": meta})
        pipe.zadd(conf.schedule_key, {key: due.timestamp()})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def load_django(count: int, due: datetime) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    call_command("migrate", verbosity=0)
    interval, _ = IntervalSchedule.objects.get_or_create(every=3600, period=IntervalSchedule.SECONDS)
    batch: list[PeriodicTask] = []
    for i in range(count):
        batch.append(PeriodicTask(name=f"bench-{i}", task="bench.noop", interval=interval, args=json.dumps([i]),
                                  last_run_at=due - HOUR, start_time=None))
        if len(batch) == 5000:
            PeriodicTask.objects.bulk_create(batch)
            batch = []
    PeriodicTask.objects.bulk_create(batch)
    PeriodicTasks.update_changed()


def main() -> None:
    kind, count, due = sys.argv[1], int(sys.argv[2]), datetime.fromtimestamp(float(sys.argv[3]), UTC)
    {"redbeat": load_redbeat, "django": load_django}[kind](count, due)


if __name__ == "__main__":
    main()
