"""The broker as operators see it: which kind it is, how many messages wait in each queue, whether it answers.

Read-only: nothing here publishes (beat is the only publisher). Redis and RabbitMQ are both read
the way their Celery transport stores messages, so the numbers match what workers will consume.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import redis
from amqp.exceptions import AMQPError
from kombu import Connection
from kombu.exceptions import KombuError
from kombu.transport.redis import PRIORITY_STEPS, Channel

from shared.settings import Settings

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


class BrokerUnreachable(Exception):
    """The broker refused the connection or did not answer in time."""


def is_amqp(url: str) -> bool:
    """True when the broker URL names RabbitMQ (AMQP), False for Redis."""
    return url.partition("://")[0].lower() in AMQP_SCHEMES


def display_url(url: str) -> str:
    """The URL without its password, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def read_queue_depths(settings: Settings, queues: Sequence[str], timeout_s: float = 2.0) -> dict[str, int]:
    """Return the messages waiting (not yet taken by a worker) per queue; raises BrokerUnreachable."""
    if is_amqp(settings.broker_url):
        return _amqp_depths(settings.broker_url, queues, timeout_s)
    return _redis_depths(settings.broker_url, queues, timeout_s)


def ping_broker(settings: Settings, timeout_s: float = 2.0) -> None:
    """Open a connection to the broker and close it; raises BrokerUnreachable."""
    read_queue_depths(settings, (), timeout_s)


def _redis_depths(url: str, queues: Sequence[str], timeout_s: float) -> dict[str, int]:
    # kombu keeps a queue as one Redis list per priority step: the bare name for the default
    # priority, name + separator + step for the others. A message is in exactly one of them.
    keys = [[name if step == 0 else f"{name}{Channel.sep}{step}" for step in PRIORITY_STEPS] for name in queues]
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.ping()
            for per_queue in keys:
                for key in per_queue:
                    pipe.llen(key)
            replies = pipe.execute()[1:]
    except redis.RedisError as error:
        raise BrokerUnreachable(f"{type(error).__name__}: {error}") from error
    finally:
        client.close()
    steps = len(PRIORITY_STEPS)
    return {name: sum(int(n) for n in replies[i * steps:(i + 1) * steps]) for i, name in enumerate(queues)}


def _amqp_depths(url: str, queues: Sequence[str], timeout_s: float) -> dict[str, int]:
    connection = Connection(url, connect_timeout=timeout_s,
                            transport_options={"read_timeout": timeout_s, "write_timeout": timeout_s,
                                               "max_retries": 0})
    depths: dict[str, int] = {}
    try:
        connection.ensure_connection(max_retries=0)
        for name in queues:
            depths[name] = _amqp_depth(connection, name)
    except (KombuError, AMQPError, OSError) as error:
        raise BrokerUnreachable(f"{type(error).__name__}: {error}") from error
    finally:
        connection.release()
    return depths


def _amqp_depth(connection: Connection, name: str) -> int:
    # A passive declare reads a queue's ready-message count without creating it or needing the
    # management plugin. A queue no worker has declared yet answers 404, which closes the channel:
    # each queue gets its own.
    channel = connection.channel()
    try:
        ok = channel.queue_declare(queue=name, passive=True)
    except AMQPError as error:
        if getattr(error, "code", None) == 404:
            return 0
        raise
    finally:
        try:
            channel.close()
        except (AMQPError, OSError):
            pass
    return int(ok.message_count)
