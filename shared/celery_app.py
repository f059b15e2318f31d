"""The one Celery app: broker, queues, routes and task names that beat and workers agree on.

Beat publishes by task name and never imports workers; workers register tasks on this app.
Configuration is read from Settings on first use (Celery's on_configure), never at import.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from shared.broker import is_amqp
from shared.redis_transport import TRANSPORT as REDIS_TRANSPORT
from shared.settings import Settings, load_settings

RUNS_QUEUE = "runs"
DELIVERY_KINDS = ("email", "sftp", "webhook", "slack", "gateway")
# A message gateway is a signed webhook: its batches share the webhook pool's queue (I/O-bound HTTP alike).
DELIVERY_QUEUES = {kind: f"deliver.{'webhook' if kind == 'gateway' else kind}" for kind in DELIVERY_KINDS}

# Beat publishes start_batch (a batch of run ids) and nothing else; workers publish the rest.
TASK_START_RUNS = "punctual.runs.start_batch"
TASK_EXECUTE_RUNS = "punctual.runs.execute_batch"   # a few run ids, claimed in one statement
TASK_PRODUCE_CHUNK = "punctual.runs.produce_chunk"  # one chunk of a per_subscriber run's subscribers
TASK_DELIVER = {kind: f"punctual.deliver.{kind}" for kind in DELIVERY_KINDS}  # a batch of delivery ids


# RabbitMQ keeps our queues as quorum queues: replicated, durable, and with a delivery limit that
# stops a message which kills its worker every time from looping for ever.
QUORUM_ARGUMENTS = {"x-queue-type": "quorum"}


def _queue(name: str, quorum: bool = False) -> Queue:
    if quorum:
        return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True,
                     queue_arguments=QUORUM_ARGUMENTS)
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def _broker_config(settings: Settings) -> dict[str, Any]:
    if not is_amqp(settings.broker_url):
        # Redis hands an unacknowledged message out again after the visibility timeout: that is
        # how a message a killed worker had taken but not yet claimed in PostgreSQL comes back.
        # A short one is safe because every task claims its work with a statement that proves
        # ownership: a copy of a message whose task is still running (a slow batch) claims
        # nothing and is acknowledged at once. Retries wait in PostgreSQL, not in the broker.
        # kombu looks for such messages every interval x throttle seconds (100 by default): every 5.
        config: dict[str, Any] = {
            "broker_transport_options": {"visibility_timeout": settings.broker_visibility_timeout_s,
                                         "unacked_restore_interval": 5, "unacked_restore_throttle": 1}}
        if settings.broker_url.partition("://")[0].lower() == "redis":
            # A worker that loses Redis reconnects instead of stopping (see shared/redis_transport.py).
            # Not for rediss://: an explicit transport would lose kombu's TLS set-up for that scheme.
            config["broker_transport"] = REDIS_TRANSPORT
        return config
    return {
        # Publisher confirms: a publish returns once RabbitMQ has the message, so beat marks a run
        # published only when it really is (the outbox commits after the publish).
        "broker_transport_options": {"confirm_publish": True},
        "task_default_queue_type": "quorum",
        # Quorum queues refuse global QoS; Celery then sets the prefetch per consumer. Retries wait
        # in PostgreSQL, not in countdown messages, so no delayed delivery is needed.
        "worker_detect_quorum_queues": True,
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the Celery configuration for these settings."""
    quorum = is_amqp(settings.broker_url)
    return {
        "broker_url": settings.broker_url,
        **_broker_config(settings),
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,  # run state lives in PostgreSQL, not in a result backend
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # The runs pool (prefork) enforces these: a soft limit raises in the task, so the runs left
        # fail with a reason; the hard one kills the child, and its claims go to another worker
        # (a run claimed more than a few times is failed, see shared/sql/runs.py MAX_CLAIMS).
        "task_annotations": {name: {"soft_time_limit": settings.task_time_limit_s,
                                    "time_limit": settings.task_time_limit_s + 60}
                             for name in (TASK_START_RUNS, TASK_EXECUTE_RUNS, TASK_PRODUCE_CHUNK)},
        "task_default_queue": RUNS_QUEUE,
        # Each queue gets its own direct exchange and routing key; sharing Celery's defaults
        # would bind every queue to one key and copy each message into all of them.
        "task_queues": [_queue(RUNS_QUEUE, quorum),
                        *(_queue(q, quorum) for q in dict.fromkeys(DELIVERY_QUEUES.values()))],
        "task_default_exchange": RUNS_QUEUE,
        "task_default_routing_key": RUNS_QUEUE,
        "task_routes": {
            **{name: {"queue": RUNS_QUEUE, "routing_key": RUNS_QUEUE}
               for name in (TASK_START_RUNS, TASK_EXECUTE_RUNS, TASK_PRODUCE_CHUNK)},
            **{TASK_DELIVER[k]: {"queue": DELIVERY_QUEUES[k], "routing_key": DELIVERY_QUEUES[k]}
               for k in DELIVERY_KINDS},
        },
        "worker_send_task_events": True,
        # No task-sent events: they cost a third of every publish, and Flower shows tasks from
        # the workers' own received/started/succeeded events.
        "task_send_sent_event": False,
        "timezone": "UTC",
        "enable_utc": True,
    }


def create_celery_app(settings: Settings | None = None) -> Celery:
    """Create the Punctual Celery app; with no settings they are loaded on first use."""
    app = Celery("punctual", set_as_current=False)
    if settings is not None:
        app.conf.update(celery_config(settings))
    else:
        # A promise: Celery calls it when the configuration is first needed, not at import.
        app.add_defaults(lambda: celery_config(load_settings()))
    return app
