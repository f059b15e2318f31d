"""kombu's Redis transport, with one fix and one saving.

The saving: kombu builds a new redis-py client for every ack, publish and event (`conn_or_acquire`), about
110 µs of CPU each, several per task; a channel here builds one per connection pool and reuses it (a
redis-py client is thread-safe: each command takes a connection from the pool). A new pool (after a fork,
or a reconnect) gets a new client.

The fix: a channel closed after its connection answers a connection error.

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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

TRANSPORT = "shared.redis_transport:Transport"


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    """A Redis channel that reuses its client, and refuses, as a connection error, to reconnect once its
    transport is closed."""

    _reused: tuple[Any, Any] | None = None  # (pool, the client on it)

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool  # a new one after _disconnect_pools (fork, close): then a new client on it
        if self._reused is None or self._reused[0] is not pool:
            self._reused = (pool, self._create_client())
        yield self._reused[1]

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with the Channel above."""

    Channel = Channel
