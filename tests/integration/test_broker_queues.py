"""Queue depths read from the real broker (Redis or RabbitMQ), and RabbitMQ's queues being quorum queues."""

from __future__ import annotations

import subprocess

import pytest

from shared.broker import BrokerUnreachable, read_queue_depths
from shared.celery_app import DELIVERY_QUEUES, RUNS_QUEUE, TASK_DELIVER, TASK_START_RUNS, create_celery_app
from shared.settings import Settings
from tests.brokers import QUEUES, SessionBroker

pytestmark = pytest.mark.broker


def test_queue_depths_count_every_waiting_message(settings: Settings, clean: None) -> None:
    app = create_celery_app(settings)
    try:
        for _ in range(3):
            app.send_task(TASK_START_RUNS, args=[[]], queue=RUNS_QUEUE)
        # A message with a priority lands in another Redis list of the same queue; it still waits.
        app.send_task(TASK_START_RUNS, args=[[]], queue=RUNS_QUEUE, priority=6)
        app.send_task(TASK_DELIVER["webhook"], args=["d-1"], queue=DELIVERY_QUEUES["webhook"])
    finally:
        app.close()
    depths = read_queue_depths(settings, QUEUES)
    assert depths == {"runs": 4, "deliver.email": 0, "deliver.sftp": 0, "deliver.webhook": 1, "deliver.slack": 0}


def test_queue_depths_fail_fast_when_the_broker_is_down(settings: Settings, broker_server: SessionBroker,
                                                         clean: None) -> None:
    broker_server.stop()
    try:
        with pytest.raises(BrokerUnreachable):
            read_queue_depths(settings, QUEUES, timeout_s=1.0)
    finally:
        broker_server.start()
    assert read_queue_depths(settings, QUEUES)["runs"] == 0


def test_rabbitmq_holds_punctual_queues_as_quorum_queues(settings: Settings, broker_server: SessionBroker,
                                                        clean: None) -> None:
    if broker_server.name != "rabbitmq":
        pytest.skip("RabbitMQ only (PUNCTUAL_TEST_BROKER=rabbitmq)")
    app = create_celery_app(settings)
    try:
        for queue in QUEUES:  # publishing declares each queue as Celery's configuration says
            app.send_task(TASK_START_RUNS, args=[[]], queue=queue)
    finally:
        app.close()
    listed = subprocess.run(["rabbitmqctl", "list_queues", "-q", "-p", broker_server.vhost, "name", "type"],
                            capture_output=True, text=True, timeout=60, check=True).stdout.split()
    types = dict(zip(listed[::2], listed[1::2], strict=True))
    assert {name: types.get(name) for name in QUEUES} == {name: "quorum" for name in QUEUES}
