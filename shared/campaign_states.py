"""The campaign state machine: which action each state allows, and what a refusal says. Pure: no I/O.

    draft ──schedule──> scheduled ──(beat fires its send)──> sending ──(every delivery ended)──> sent
      │                     │
      └──────cancel─────────┴──> cancelled

A draft is the only state that may be edited or deleted. Beat and the workers move a campaign from
scheduled to sending and sent by carrying out its send; the API only ever schedules and cancels.
"""

from __future__ import annotations

from enum import StrEnum

from shared.errors import PreconditionFailed
from shared.statuses import CampaignStatus, SendStatus


class CampaignAction(StrEnum):
    EDIT = "edit"
    DELETE = "delete"
    SCHEDULE = "schedule"
    CANCEL = "cancel"


# The state each action needs, and the state it leaves (None: the campaign is gone or unchanged in status).
_TRANSITIONS: dict[CampaignAction, tuple[frozenset[CampaignStatus], CampaignStatus | None]] = {
    CampaignAction.EDIT: (frozenset({CampaignStatus.DRAFT}), CampaignStatus.DRAFT),
    CampaignAction.DELETE: (frozenset({CampaignStatus.DRAFT}), None),
    CampaignAction.SCHEDULE: (frozenset({CampaignStatus.DRAFT}), CampaignStatus.SCHEDULED),
    CampaignAction.CANCEL: (frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED}), CampaignStatus.CANCELLED),
}


def allowed_from(action: CampaignAction) -> frozenset[CampaignStatus]:
    """The states from which the action may be taken."""
    return _TRANSITIONS[action][0]


def refusal_detail(status: CampaignStatus, action: CampaignAction) -> str:
    """The 412 detail naming the current state and the refused action: `Campaign is sent; cannot schedule`."""
    return f"Campaign is {status.value}; cannot {action.value}"


def next_status(status: CampaignStatus, action: CampaignAction) -> CampaignStatus | None:
    """The state the action leaves the campaign in (None once deleted); raises PreconditionFailed from a wrong state."""
    sources, target = _TRANSITIONS[action]
    if status not in sources:
        raise PreconditionFailed(refusal_detail(status, action))
    return target


def shown_status(stored: CampaignStatus, send_status: str | None) -> CampaignStatus:
    """The status the API reports: the stored one, or, for a scheduled campaign, how far its send has got.

    `send_status` is a SendStatus of the campaign's send (None: it has none). A failed send has ended too
    (its run finished having delivered nothing, e.g. an empty segment): every delivery has ended, so the
    campaign is sent, and its delivery counts say what came of it.
    """
    if stored is not CampaignStatus.SCHEDULED or send_status in (None, SendStatus.SCHEDULED, SendStatus.CANCELLED):
        return stored
    if send_status == SendStatus.SENDING:
        return CampaignStatus.SENDING
    return CampaignStatus.SENT
