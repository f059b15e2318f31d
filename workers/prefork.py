"""The runs pool: Celery's prefork pool, except that a task already handed to a pool process stays its task.

When the consumer stops (a warm shutdown, or a lost broker connection), Celery's AsynPool.flush
drops from the pool's cache every task that no pool process has acknowledged yet, on the grounds
that the broker will deliver it again. That holds for a task still waiting in the parent. It does
not hold for one the parent has just written into a process's pipe: the process reads it, runs it
and reports it a moment later, but the parent has forgotten it. Then, with the cache empty, the
parent stops reading what its processes report, so:

- the task's message is never acknowledged, and the broker delivers a task that ran a second time;
- the process waits for its report to be read (billiard retries for 30 s) before it exits, so the
  warm shutdown takes 30 s, past `docker stop`'s 10 s, and the worker is killed.

A SIGTERM that lands within a millisecond or so of a dispatch hits this: about one stop in ten in
tests/chaos/test_worker_shutdown.py, which makes it certain by stopping the pool process (SIGSTOP)
while the task is handed over.

So, before Celery's flush, a task written to a live pool process is counted as accepted: kept, like
the tasks the processes are already running, and acknowledged when its process reports it. Should
the process die before it reads it, the pool's usual accounting for a lost process applies (the
task is rejected back to the broker: task_reject_on_worker_lost).
"""

from __future__ import annotations

from celery.concurrency.asynpool import AsynPool
from celery.concurrency.prefork import TaskPool as CeleryPreforkPool


class _AsynPool(AsynPool):  # type: ignore[misc]
    def flush(self) -> None:
        # A task written (or being written) to a live pool process's pipe: its process runs it.
        for job in tuple(self._cache.values()):
            process = job._write_to
            if not job._accepted and process is not None and process._is_alive():
                job._accepted = True
        super().flush()


class TaskPool(CeleryPreforkPool):  # type: ignore[misc]
    """`-P prefork` for workers.app (app.conf.worker_pool)."""

    Pool = _AsynPool
