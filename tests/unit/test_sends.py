"""Content and targets of sends: what is accepted, and every refusal naming its field."""

from __future__ import annotations

from uuid import uuid4

import pytest

from shared.errors import InvalidInput
from shared.sends import (
    Content,
    content_from_json,
    message_text,
    parse_content,
    parse_target,
    target_from_json,
)


def test_content_round_trips_through_its_stored_form() -> None:
    content = parse_content({"template": "Hi {{ name }}", "variables": {"name": "Ann"}, "subject": "Hello",
                             "attachments": ["https://example.com/a.pdf"]})
    assert content_from_json(content.as_json()) == content
    assert message_text(content, "Hi Ann") == "Hi Ann\n\nhttps://example.com/a.pdf"
    assert message_text(Content(text="x"), "x") == "x"


@pytest.mark.parametrize(("raw", "field"), [
    ({}, "content.text"),
    ({"text": "a", "template": "b"}, "content.text"),
    ({"text": ""}, "content.text"),
    ({"text": "a", "variables": {}}, "content.variables"),
    ({"template": "{{ missing }}"}, "content.variables"),
    ({"template": "{% if %}"}, "content.template"),
    ({"text": "a", "attachments": ["ftp://x/y"]}, "content.attachments"),
    ({"text": "a", "subject": "two\nlines"}, "content.subject"),
    ({"text": "a", "colour": "red"}, "content.colour"),
    ("text", "content"),
])
def test_bad_content_names_the_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_content(raw)
    assert refused.value.detail.startswith(f"{field}:")


def test_targets_and_their_channels() -> None:
    user = uuid4()
    assert parse_target({"user_id": str(user)}).as_fields()["user_id"] == str(user)
    target = parse_target({"to": ["Ann@Example.com", "+14155550100", "ann@example.com", "+14155550100"]})
    assert target.to == ("Ann@Example.com", "+14155550100") and target.phones() == ["+14155550100"]
    for stored in (target, parse_target({"user_ids": [str(user)]}), parse_target({"list_id": str(user)})):
        assert target_from_json(stored.as_json()) == stored


@pytest.mark.parametrize(("data", "start"), [
    ({}, "user_id/user_ids/list_id/to: Give exactly one target"),
    ({"user_id": str(uuid4()), "list_id": str(uuid4())}, "user_id/user_ids/list_id/to: Give exactly one target"),
    ({"to": ["+1 415 555 0100"]}, "to: '+1 415 555 0100' is not an E.164 phone number"),
    ({"to": ["+0123456789"]}, "to: '+0123456789' is not an E.164"),
    ({"to": ["nobody"]}, "to: Invalid email address"),
    ({"to": []}, "to: Must be a non-empty list"),
    ({"user_ids": ["x"]}, "user_ids: Invalid uuid"),
    ({"list_id": "x"}, "list_id: Invalid uuid"),
])
def test_bad_targets_name_the_field(data: dict[str, object], start: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_target(data)
    assert refused.value.detail.startswith(start)
