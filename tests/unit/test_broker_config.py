"""The Celery configuration follows BROKER_URL: Redis keeps its visibility timeout, RabbitMQ gets quorum queues."""

from __future__ import annotations

from shared.broker import display_url, is_amqp
from shared.celery_app import celery_config
from shared.settings import Settings

REDIS = Settings("postgresql://x/db", "redis://127.0.0.1:6379/0", "k" * 20)
RABBIT = Settings("postgresql://x/db", "redis://127.0.0.1:6379/0", "k" * 20,
                  broker_url="amqp://guest:guest@127.0.0.1:5672//")


def test_redis_is_the_default_broker_with_its_visibility_timeout() -> None:
    config = celery_config(REDIS)
    assert config["broker_url"] == "redis://127.0.0.1:6379/0"
    # Short, so a message a killed worker had taken but not claimed comes back within a minute.
    assert config["broker_transport_options"] == {"visibility_timeout": 30.0, "unacked_restore_interval": 5,
                                                  "unacked_restore_throttle": 1}
    assert all(not q.queue_arguments for q in config["task_queues"])


def test_rabbitmq_queues_are_durable_quorum_queues_with_publisher_confirms() -> None:
    config = celery_config(RABBIT)
    assert config["broker_url"] == RABBIT.broker_url
    assert config["broker_transport_options"]["confirm_publish"] is True
    assert config["task_acks_late"] is True and config["worker_detect_quorum_queues"] is True
    queues = config["task_queues"]
    assert {q.name for q in queues} == {"runs", "deliver.email", "deliver.sftp", "deliver.webhook", "deliver.slack"}
    for queue in queues:
        assert queue.queue_arguments == {"x-queue-type": "quorum"}
        assert queue.durable and not queue.auto_delete and not queue.exclusive
        assert queue.exchange.name == queue.name == queue.routing_key


def test_broker_urls_are_told_apart_and_printed_without_password() -> None:
    assert is_amqp("amqp://h//") and is_amqp("AMQPS://h//") and not is_amqp("redis://h:6379/0")
    assert display_url("amqp://guest:s3cret@rabbit:5672/vhost") == "amqp://guest:***@rabbit:5672/vhost"
    assert display_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_redis_uses_the_transport_that_survives_a_lost_connection() -> None:
    assert celery_config(REDIS)["broker_transport"] == "shared.redis_transport:Transport"
    tls = Settings("postgresql://x/db", "rediss://127.0.0.1:6380/0", "k" * 20)
    assert "broker_transport" not in celery_config(tls)  # kombu's own, with its TLS set-up
    assert "broker_transport" not in celery_config(RABBIT)
