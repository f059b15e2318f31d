"""The states of runs, deliveries and attempts: one definition used by the Python and put into the SQL.

The values are the ones stored (and CHECKed) in PostgreSQL. SQL text takes them from here through
`sql_in`, never as literals written again, so a state is renamed or added in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"          # inserted (by beat, the API or a one-shot), not yet in the broker
    PUBLISHED = "published"      # its message is in the broker
    RUNNING = "running"          # a worker claimed it: producing content, or its deliveries are open
    COMPLETE = "complete"        # every delivery delivered
    ERROR_DELIVERED = "error_delivered"  # some delivered, some failed
    FAILED = "failed"            # nothing delivered: the command failed, or every delivery failed
    SKIPPED = "skipped"          # nothing to send: alert condition unmet, or no recipients


RUN_TERMINAL = (RunStatus.COMPLETE, RunStatus.ERROR_DELIVERED, RunStatus.FAILED, RunStatus.SKIPPED)
RUN_UNSTARTED = (RunStatus.PENDING, RunStatus.PUBLISHED)


class DeliveryStatus(StrEnum):
    PENDING = "pending"      # to be sent; its message is in the broker (or will be republished)
    SENDING = "sending"      # a worker claimed it and is sending it now
    RETRYING = "retrying"    # the last attempt failed transiently; next_attempt_at says when again
    DELIVERED = "delivered"
    FAILED = "failed"        # permanently, or attempts exhausted
    CANCELLED = "cancelled"  # never to be sent (the alert condition held the content back)


DELIVERY_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)
DELIVERY_SETTLED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)


class AttemptOutcome(StrEnum):
    SENDING = "sending"          # recorded before the send
    DELIVERED = "delivered"
    RETRY = "retry"              # failed transiently; the delivery is retrying
    FAILED = "failed"            # failed permanently, or the last attempt failed
    INTERRUPTED = "interrupted"  # its worker died mid-send; another attempt followed


class SendStatus(StrEnum):
    """A scheduled message's (or a campaign's send's) state, derived from its hidden schedule and its run."""
    SCHEDULED = "scheduled"  # waiting for its slot; editable and cancellable
    SENDING = "sending"      # beat fired it: its run has not finished
    SENT = "sent"            # its run finished and delivered (to every recipient, or to some)
    FAILED = "failed"        # its run finished and delivered nothing (failed, or no recipients)
    CANCELLED = "cancelled"  # cancelled before its slot; never sent


def sql_in(values: Iterable[StrEnum]) -> str:
    """The values as an SQL list for `IN (...)` (pure; the values are our own constants, never input)."""
    return ", ".join(f"'{value.value}'" for value in values)


class CampaignStatus(StrEnum):
    DRAFT = "draft"              # editable; nothing will be sent
    SCHEDULED = "scheduled"      # its send waits for scheduled_at
    SENDING = "sending"          # beat fired its send; deliveries are open (read from the send)
    SENT = "sent"                # every delivery has ended (read from the send)
    CANCELLED = "cancelled"      # will never be sent


# What the API writes into campaigns.status; sending and sent are derived from the campaign's send.
CAMPAIGN_STORED = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED)
