"""SIGTERM in a prefork child: only its parent's counts.

Procfile platforms (Heroku, honcho under `make run`, systemd's default KillMode) send SIGTERM to
every process of the group at once. Celery's main process answers with a warm shutdown: it stops
taking messages, waits for the tasks its children are running, then stops them. But Celery gives
the children SIGTERM's default action, so the same signal kills each child mid-task: the runs or
chunk it held stay claimed under a heartbeat nobody removes, wait PUNCTUAL_WORKER_DEAD_AFTER for
another worker, and are produced a second time.

So a child keeps SIGTERM blocked and waits for it in a thread of its own. Sent by its parent (a
cold shutdown, a hard time limit, a revoke with terminate) it ends the child exactly as before;
sent by anybody else while the parent lives, it is dropped: the parent got it too, and stops the
child once its task is done.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

logger = logging.getLogger("punctual.workers")


def follow_parent_sigterm() -> None:
    """In a prefork child, before it starts other threads: act on SIGTERM only when the parent sent it."""
    parent = os.getppid()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as Celery leaves it in a child; the main thread may set it
    # Threads started later inherit the mask, so the waiting thread is the only one SIGTERM can reach.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(target=_await_parent_sigterm, args=(parent,), name="punctual-sigterm", daemon=True).start()


def _await_parent_sigterm(parent: int) -> None:
    while True:
        info = signal.sigwaitinfo({signal.SIGTERM})
        if info.si_pid == parent or os.getppid() != parent:
            break
        logger.info("SIGTERM from pid %s left to the worker's main process: it stops this pool process "
                    "once its task is done", info.si_pid)
    # The default action on this thread, the one that does not block it: the process ends "by signal 15",
    # as billiard expects of a child it terminated.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
