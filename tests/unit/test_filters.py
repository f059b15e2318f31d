"""Schedule filters: what each kind of command receives from the stored filters, and the structured form's rules."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import InvalidInput
from shared.filters import FILTER_KINDS, check_filter_value, command_filters, filter_operand

STORED: dict[str, Any] = {
    "region": {"kind": "EQ", "left_side": "US", "type": "string"},
    "not_region": {"kind": "NOT_EQ", "left_side": "EU", "type": "string"},
    "country": {"kind": "IN", "left_side": ["US", "CA"], "type": "string"},
    "not_country": {"kind": "NOT_IN", "left_side": ["MX"], "type": "string"},
    "min_amount": {"kind": "GTE", "left_side": 10, "type": "number"},
    "amount": {"kind": "BETWEEN", "left_side": 1.5, "right_side": 9, "type": "number"},
    "active": {"kind": "EQ", "left_side": True, "type": "boolean"},
    "team": "ops",
    "tags": ["a", "b"],
    "cleared": None,
}


def test_sql_and_template_commands_receive_the_operand_of_each_filter() -> None:
    expected = {"region": "US", "not_region": "EU", "country": ["US", "CA"], "not_country": ["MX"],
                "min_amount": 10, "amount": [1.5, 9], "active": True, "team": "ops", "tags": ["a", "b"],
                "cleared": None}
    assert command_filters("sql", STORED) == expected
    assert command_filters("template", STORED) == expected


def test_http_and_plugin_commands_receive_the_filters_as_sent() -> None:
    assert command_filters("http", STORED) == STORED
    assert command_filters("pdf_renderer", STORED) == STORED
    assert command_filters(None, STORED) == STORED


def test_subscriber_attributes_win_over_the_schedules_filters() -> None:
    attributes = {"region": "EU", "plan": "pro"}
    assert command_filters("sql", STORED, attributes)["region"] == "EU"
    assert command_filters("http", STORED, attributes)["region"] == "EU"
    assert command_filters("sql", {"team": "ops"}, attributes) == {"team": "ops", "region": "EU", "plan": "pro"}


def test_translation_leaves_the_stored_filters_untouched() -> None:
    stored = {"country": {"kind": "IN", "left_side": ["US"], "type": "string"}}
    received = command_filters("sql", stored)
    received["country"].append("CA")
    assert stored == {"country": {"kind": "IN", "left_side": ["US"], "type": "string"}}
    assert filter_operand("plain") == "plain"


@pytest.mark.parametrize("kind", FILTER_KINDS)
def test_every_kind_is_valid_for_numbers(kind: str) -> None:
    spec: dict[str, Any] = {"kind": kind, "type": "number", "left_side": [1, 2] if kind.endswith("IN") else 1}
    if kind == "BETWEEN":
        spec["right_side"] = 2
    assert check_filter_value("n", spec) == spec


@pytest.mark.parametrize(("value", "message"), [
    ({"kind": "EQ", "type": "string", "left_side": None}, "filters.k.left_side: Missing data for required field."),
    ({"kind": "GT", "type": "boolean", "left_side": True}, "filters.k.kind: GT does not apply to type boolean"),
    ({"kind": "IN", "type": "number", "left_side": [1, "2"]}, "filters.k.left_side: Must be a list of 1 to 1000"),
    ({"kind": "IN", "type": "number", "left_side": list(range(1001))}, "filters.k.left_side: Must be a list of 1"),
    ({"kind": "BETWEEN", "type": "number", "left_side": 1, "right_side": "2"},
     "filters.k.right_side: Must be a number for kind BETWEEN"),
    ({"kind": "EQ", "type": "boolean", "left_side": 1}, "filters.k.left_side: Must be a boolean for kind EQ"),
    ([1, [2]], "filters.k: Must be a string, number, boolean, a list of them, or a structured filter"),
])
def test_bad_filters_are_refused_naming_the_key(value: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_filter_value("k", value)
    assert raised.value.detail.startswith(message), raised.value.detail
