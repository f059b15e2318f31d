"""The campaign state machine: every (state, action) pair, allowed or refused with both names."""

from __future__ import annotations

import pytest

from shared.campaign_states import CampaignAction, allowed_from, next_status, refusal_detail
from shared.errors import PreconditionFailed
from shared.statuses import CAMPAIGN_STORED, CampaignStatus

S = CampaignStatus
A = CampaignAction

ALLOWED = {
    (S.DRAFT, A.EDIT): S.DRAFT,
    (S.DRAFT, A.DELETE): None,
    (S.DRAFT, A.SCHEDULE): S.SCHEDULED,
    (S.DRAFT, A.CANCEL): S.CANCELLED,
    (S.SCHEDULED, A.CANCEL): S.CANCELLED,
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", list(A))
def test_each_pair_is_allowed_or_refused_naming_both(status: CampaignStatus, action: CampaignAction) -> None:
    if (status, action) in ALLOWED:
        assert next_status(status, action) == ALLOWED[(status, action)]
        assert status in allowed_from(action)
        return
    with pytest.raises(PreconditionFailed) as refused:
        next_status(status, action)
    assert refused.value.detail == f"Campaign is {status.value}; cannot {action.value}"
    assert status not in allowed_from(action)


def test_the_issue_example_reads_as_written() -> None:
    assert refusal_detail(S.SENT, A.SCHEDULE) == "Campaign is sent; cannot schedule"
    assert refusal_detail(S.SENDING, A.CANCEL) == "Campaign is sending; cannot cancel"


def test_only_decided_states_are_stored_and_terminal_states_allow_nothing() -> None:
    assert set(CAMPAIGN_STORED) == {S.DRAFT, S.SCHEDULED, S.CANCELLED}
    for terminal in (S.SENT, S.CANCELLED):
        assert all(terminal not in allowed_from(action) for action in A)


def test_a_scheduled_campaign_shows_how_far_its_send_has_got() -> None:
    from shared.campaign_states import shown_status

    assert shown_status(S.SCHEDULED, "scheduled") == S.SCHEDULED
    assert shown_status(S.SCHEDULED, None) == S.SCHEDULED
    assert shown_status(S.SCHEDULED, "sending") == S.SENDING
    assert shown_status(S.SCHEDULED, "sent") == S.SENT
    assert shown_status(S.SCHEDULED, "failed") == S.SENT
    # What the API decided stands: a draft has no send, a cancelled one's send never fires.
    assert shown_status(S.DRAFT, None) == S.DRAFT
    assert shown_status(S.CANCELLED, "scheduled") == S.CANCELLED
