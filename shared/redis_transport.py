"""kombu's Redis transport, with one fix: a channel closed after its connection answers a connection error.

When the broker connection is lost, Celery's consumer first collects the connection (its channel's
close fails, Redis being gone, and the transport is detached from the connection), then closes it.
That second close runs the channel's close again, which puts the messages it had handed out (tasks
in flight, acknowledged late) back on Redis, and kombu builds a new Redis client from the detached
transport: `'NoneType' object has no attribute 'hostname'`. An AttributeError is not a connection
error, so the worker took it for a bug and stopped ("Unrecoverable error"); it happened whenever a
worker lost Redis while it held unacknowledged messages, so a Redis restart killed busy workers.

Raising a redis ConnectionError instead lets kombu and Celery treat it as the lost connection it
is: the close goes on, the worker reconnects, and the messages Redis lost are published again from
PostgreSQL (beat's outbox, the workers' sweep).
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

TRANSPORT = "shared.redis_transport:Transport"


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    """A Redis channel that refuses, as a connection error, to reconnect once its transport is closed."""

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with the Channel above."""

    Channel = Channel
