"""A command's own time limit: one tenant's slow query, renderer or template loop cannot hold a worker.

Enforced with SIGALRM, which interrupts Python code (a Jinja2 loop) and waits (a socket, a
database round trip) alike. Signals reach only the main thread, which is where a prefork child
of the `runs` pool runs its task; elsewhere (a threads pool) this limit is not available and
Celery's task time limits cannot apply either, which is why commands run on the prefork pool.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from workers.commands.base import CommandError


class CommandTimeLimit(CommandError):
    """The command ran past its time limit."""


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise CommandTimeLimit in the block after `seconds`; a no-op off the main thread."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CommandTimeLimit(f"{what} exceeded its time limit of {seconds:g} s (PUNCTUAL_COMMAND_TIME_LIMIT)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
