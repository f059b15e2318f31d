"""Beat's publisher gives up on a hung broker after PUNCTUAL_BEAT_BROKER_TIMEOUT, on Redis and on RabbitMQ alike."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from beat.broker import BrokerPublisher, BrokerUnavailable
from shared.celery_app import create_celery_app
from shared.settings import Settings


@pytest.fixture()
def hung_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a broker that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield int(listener.getsockname()[1])
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    for sock in accepted:
        sock.close()


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_publish_to_a_hung_broker_fails_within_the_timeout(scheme: str, hung_port: int) -> None:
    url = (f"amqp://guest:guest@127.0.0.1:{hung_port}//" if scheme == "amqp"
           else f"redis://127.0.0.1:{hung_port}/0")
    app = create_celery_app(Settings("postgresql://unused/db", "redis://127.0.0.1:1/0", "k" * 20, broker_url=url))
    publisher = BrokerPublisher(app, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        publisher.publish([uuid.uuid4()])
    assert time.monotonic() - started < 3.0
    publisher.close()
