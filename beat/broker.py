"""BrokerPublisher: send batches of run ids to the broker on one reused connection, failing fast."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import amqp.exceptions
import redis
from celery import Celery
from kombu import Connection, Producer
from kombu.exceptions import KombuError

from shared.broker import is_amqp
from shared.celery_app import RUNS_QUEUE, TASK_START_RUNS

logger = logging.getLogger("punctual.beat")

# What a publish raises when the broker is down, restarting or hung: kombu wraps most of them,
# redis-py, py-amqp (a refused or nacked publish, a closed channel) and the socket layer raise the rest.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    KombuError, redis.RedisError, amqp.exceptions.AMQPError, amqp.exceptions.MessageNacked, OSError,
)


class BrokerUnavailable(Exception):
    """The broker refused or timed out; the runs stay pending in PostgreSQL."""


class BrokerPublisher:
    """One producer on one broker connection, reused for every message beat sends."""

    def __init__(self, app: Celery, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s
        # Kombu's defaults retry a lost connection for a long time, and every retry would hold
        # the outbox rows locked and beat's loop still. Beat has its own retry (the outbox and the
        # next tick), so one quick attempt is right: a down broker costs a tick milliseconds.
        self.transport_options: dict[str, Any] = {
            "max_retries": 0,
            "interval_start": 0,
            "interval_step": 0,
            "interval_max": 0,
        }
        if is_amqp(app.conf.broker_url or ""):
            # A hung RabbitMQ (or a publisher confirm that never comes) times out like a dead one.
            self.transport_options.update(read_timeout=timeout_s, write_timeout=timeout_s)
        else:
            self.transport_options.update(socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
                                          retry_on_timeout=False)
        self._connection: Connection | None = None
        self._producer: Producer | None = None

    def publish(self, run_ids: Sequence[UUID]) -> None:
        """Send one message naming these runs; raises BrokerUnavailable if it did not reach the broker."""
        producer = self._producer or self._connect()
        try:
            self.app.send_task(
                TASK_START_RUNS, args=[[str(r) for r in run_ids]], queue=RUNS_QUEUE,
                producer=producer, retry=False,
            )
        except BROKER_ERRORS as error:
            self.close()  # a fresh connection next time, not a half-broken one
            raise BrokerUnavailable(f"{type(error).__name__}: {error}") from error

    def _connect(self) -> Producer:
        self._connection = self.app.connection_for_write(connect_timeout=self.timeout_s,
                                                         transport_options=self.transport_options)
        self._producer = self.app.amqp.Producer(self._connection, auto_declare=True)
        return self._producer

    def close(self) -> None:
        """Drop the connection (it is opened again on the next publish)."""
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except BROKER_ERRORS:
                logger.debug("beat: closing the broker connection failed", exc_info=True)
