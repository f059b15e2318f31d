"""The broker a test session runs on: its private Redis (default) or RabbitMQ (PUNCTUAL_TEST_BROKER=rabbitmq).

Both answer the same questions tests ask (stop, start, flush, which run ids wait in the runs
queue), so broker-dependent tests run unchanged on either. RabbitMQ is the machine's server
(127.0.0.1:5672, or PUNCTUAL_TEST_RABBITMQ_URL): each session gets its own vhost, and reaches it
through a TCP proxy the tests can cut, since the shared server itself must stay up.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
import uuid
from collections import Counter
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from amqp.exceptions import NotFound
from kombu import Connection

from api.embedded import free_port
from shared.celery_app import DELIVERY_QUEUES, RUNS_QUEUE, TASK_START_RUNS
from tests.services import RedisServer

BROKER_ENV = "PUNCTUAL_TEST_BROKER"
RABBITMQ_URL = os.environ.get("PUNCTUAL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUES = (RUNS_QUEUE, *dict.fromkeys(DELIVERY_QUEUES.values()))


def selected_broker() -> str:
    """`redis` or `rabbitmq`, from PUNCTUAL_TEST_BROKER (default redis)."""
    name = os.environ.get(BROKER_ENV, "redis").strip().lower() or "redis"
    if name not in ("redis", "rabbitmq"):
        raise ValueError(f"{BROKER_ENV} must be redis or rabbitmq, got {name!r}")
    return name


def rabbitmq_listening(url: str = RABBITMQ_URL, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections where RabbitMQ should be."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=timeout):
            return True
    except OSError:
        return False


class SessionBroker(Protocol):
    name: str

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...

    def start(self) -> None: ...

    def flush(self) -> None: ...

    def run_ids(self) -> Counter[str]: ...

    def close(self) -> None: ...


def _start_batch_ids(headers: dict[str, object], body: bytes) -> list[str]:
    assert headers["task"] == TASK_START_RUNS, headers
    args = json.loads(body)[0]
    return list(args[0])


class RedisBroker:
    """The session's private redis-server as the broker (it also holds the rate limits)."""

    name = "redis"

    def __init__(self, server: RedisServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()

    def flush(self) -> None:
        self.server.flush()

    def run_ids(self) -> Counter[str]:
        client = redis.Redis.from_url(self.server.url)
        try:
            raw = client.lrange(RUNS_QUEUE, 0, -1)
        finally:
            client.close()
        ids: Counter[str] = Counter()
        for item in raw:  # type: ignore[union-attr]
            message = json.loads(item)
            body = message["body"]
            if message["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            ids.update(_start_batch_ids(message["headers"], body))
        return ids

    def close(self) -> None:
        pass  # the server belongs to the redis_server fixture


class TcpProxy:
    """Forward 127.0.0.1:port to an upstream address; stop() refuses new connections and cuts open ones."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown() first: close() alone leaves the accept() blocked in the other thread
            # accepting (the kernel still holds the socket).
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            self._close(sock)


def _rabbitmqctl(*args: str) -> None:
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")


class RabbitBroker:
    """A private vhost on the machine's RabbitMQ, reached through a TcpProxy that tests may cut."""

    name = "rabbitmq"

    def __init__(self, admin_url: str = RABBITMQ_URL) -> None:
        parts = urlsplit(admin_url)
        self.vhost = f"punctual_test_{uuid.uuid4().hex[:12]}"
        _rabbitmqctl("add_vhost", self.vhost)
        _rabbitmqctl("set_permissions", "-p", self.vhost, parts.username or "guest", ".*", ".*", ".*")
        self.proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5672))
        self.proxy.start()
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{self.proxy.port}"
        self._url = urlunsplit((parts.scheme, netloc, "/" + quote(self.vhost, safe=""), "", ""))

    @property
    def url(self) -> str:
        return self._url

    def stop(self) -> None:
        self.proxy.stop()

    def start(self) -> None:
        self.proxy.start()

    def _connection(self) -> Connection:
        return Connection(self._url, connect_timeout=5)

    def flush(self) -> None:
        """Drop every waiting message of our queues (they and their bindings stay)."""
        with self._connection() as conn:
            for name in QUEUES:
                channel = conn.channel()  # a 404 closes only its channel: one each
                try:
                    channel.queue_purge(name)
                except NotFound:
                    pass

    def run_ids(self) -> Counter[str]:
        """Run ids in the messages waiting in the runs queue; read without acknowledging, so all stay."""
        ids: Counter[str] = Counter()
        with self._connection() as conn:
            channel = conn.channel()
            try:
                while (message := channel.basic_get(queue=RUNS_QUEUE, no_ack=False)) is not None:
                    ids.update(_start_batch_ids(message.headers, message.body))
            except NotFound:
                return ids  # nothing was ever published
            # Closing the connection without acks puts every message back.
        return ids

    def close(self) -> None:
        self.proxy.stop()
        _rabbitmqctl("delete_vhost", self.vhost)
