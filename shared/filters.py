"""Schedule filters: the plain form, the structured form Omni sends, their rules, and what a command receives.

A schedule's `filters` maps each key (declared by its command) to either

- a plain value: a string, number, boolean, null, or a list of them (`{"region": "US"}`), or
- a structured filter: `{"kind": "EQ", "type": "string", "left_side": "US"}`; kinds EQ, NOT_EQ,
  IN and NOT_IN (left_side a list), GT, GTE, LT, LTE and BETWEEN (left_side and right_side).

What a command receives (command_filters): an http command (or a plugin kind) gets the filters as
they were sent (structured ones as JSON objects), so the product's own renderer applies the operator. sql and
template commands get one value per key: the operand (`left_side`), a list for IN and NOT_IN, and
`[left_side, right_side]` for BETWEEN; the query or template author writes the operator
(`= ANY(%(region)s)`, `> %(amount)s`). A subscriber's attributes are plain values and win over the
schedule's filters of the same name. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import InvalidInput

FILTER_KINDS = ("EQ", "NOT_EQ", "IN", "NOT_IN", "GT", "GTE", "LT", "LTE", "BETWEEN")
FILTER_TYPES = ("string", "number", "boolean")
LIST_KINDS = frozenset({"IN", "NOT_IN"})
# Which kinds each type allows: ordering a string or a boolean has no single meaning across databases.
KINDS_BY_TYPE = {
    "string": ("EQ", "NOT_EQ", "IN", "NOT_IN"),
    "number": FILTER_KINDS,
    "boolean": ("EQ", "NOT_EQ"),
}
STRUCTURED_FIELDS = ("kind", "type", "left_side", "right_side")
MAX_LIST_VALUES = 1000
# Command kinds whose author writes the operator (a query, a template) and so receives operands;
# every other kind (http, and commands added as plugins) receives the filters as they were sent.
OPERAND_KINDS = frozenset({"sql", "template"})


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _of_type(value: Any, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_list(key: str, kind: str, type_name: str, value: Any) -> None:
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST_VALUES
            or not all(_of_type(v, type_name) for v in value)):
        raise InvalidInput(f"filters.{key}.left_side: Must be a list of 1 to {MAX_LIST_VALUES} {type_name} "
                           f"values for kind {kind}")


def _check_structured(key: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    for name in spec:
        if name not in STRUCTURED_FIELDS:
            raise InvalidInput(f"filters.{key}.{name}: Unknown field (a structured filter has "
                               f"{', '.join(STRUCTURED_FIELDS)}).")
    for name in ("kind", "type", "left_side"):
        if spec.get(name) is None:
            raise InvalidInput(f"filters.{key}.{name}: Missing data for required field.")
    kind, type_name = spec["kind"], spec["type"]
    if kind not in FILTER_KINDS:
        raise InvalidInput(f"filters.{key}.kind: Must be one of: {', '.join(FILTER_KINDS)}.")
    if type_name not in FILTER_TYPES:
        raise InvalidInput(f"filters.{key}.type: Must be one of: {', '.join(FILTER_TYPES)}.")
    if kind not in KINDS_BY_TYPE[type_name]:
        raise InvalidInput(f"filters.{key}.kind: {kind} does not apply to type {type_name} "
                           f"(kinds for {type_name}: {', '.join(KINDS_BY_TYPE[type_name])}).")
    left = spec["left_side"]
    if kind in LIST_KINDS:
        _check_list(key, kind, type_name, left)
    elif not _of_type(left, type_name):
        raise InvalidInput(f"filters.{key}.left_side: Must be a {type_name} for kind {kind}")
    right = spec.get("right_side")
    if kind == "BETWEEN":
        if right is None:
            raise InvalidInput(f"filters.{key}.right_side: Missing data for required field "
                               "(BETWEEN takes left_side and right_side).")
        if not _of_type(right, type_name):
            raise InvalidInput(f"filters.{key}.right_side: Must be a {type_name} for kind BETWEEN")
        if right < left:
            raise InvalidInput(f"filters.{key}.right_side: Must not be less than left_side")
    elif "right_side" in spec:
        raise InvalidInput(f"filters.{key}.right_side: Only kind BETWEEN takes a right_side")
    return dict(spec)


def check_filter_value(key: str, value: Any) -> Any:
    """Return a filter's value if it is plain or a valid structured filter; raises InvalidInput naming the key."""
    if isinstance(value, dict):
        return _check_structured(key, value)
    if value is None or _scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value)):
        return value
    raise InvalidInput(f"filters.{key}: Must be a string, number, boolean, a list of them, or a structured "
                       "filter such as {\"kind\": \"EQ\", \"type\": \"string\", \"left_side\": \"US\"}")


def filter_operand(value: Any) -> Any:
    """The value a query or template sees for one stored filter: the operand of a structured one (pure)."""
    if not isinstance(value, dict):
        return value
    if value["kind"] == "BETWEEN":
        return [value["left_side"], value["right_side"]]
    if value["kind"] in LIST_KINDS:
        return list(value["left_side"])
    return value["left_side"]


def command_filters(command_kind: str | None, filters: Mapping[str, Any],
                    attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a command of this kind receives as its filters: the schedule's, then the subscriber's attributes (pure)."""
    if command_kind in OPERAND_KINDS:
        received = {key: filter_operand(value) for key, value in filters.items()}
    else:
        received = dict(filters)
    # per_subscriber: the subscriber's attributes are filters too, and win over the schedule's.
    received.update(attributes or {})
    return received
