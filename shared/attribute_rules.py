"""Rules for user attributes: values checked against their declared definitions.

Pure: no I/O. `null`, `""` and `[]` unset an attribute; anything else must match the declared
type (string, number, boolean), as a JSON array when the attribute is multi-value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInput

ATTRIBUTE_TYPES = ("string", "number", "boolean")


@dataclass(frozen=True)
class AttributeDefinition:
    """A declared attribute: its name, its value type and whether it holds a list."""

    name: str
    type: str
    multi_value: bool


def _matches(kind: str, value: Any) -> bool:
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _check_one(definition: AttributeDefinition, value: Any) -> None:
    article = "an" if definition.type[0] in "aeiou" else "a"
    if not _matches(definition.type, value):
        raise InvalidInput(f"User attribute {definition.name} is type {definition.type}, but passed-in value "
                           f"{_shown(value)} is not {article} {definition.type}")


def merge_attributes(current: Mapping[str, Any], given: Mapping[str, Any],
                     definitions: Mapping[str, AttributeDefinition]) -> dict[str, Any]:
    """Apply given values over current ones (null, "" and [] unset); raises InvalidInput on a bad value."""
    merged = dict(current)
    for name, value in given.items():
        definition = definitions.get(name)
        if definition is None:
            raise InvalidInput(f"User attribute {name} is not defined; declare it with POST /v1/user-attributes")
        if value is None or value == "" or value == []:
            merged.pop(name, None)
            continue
        if definition.multi_value:
            if not isinstance(value, list):
                raise InvalidInput(f"User attribute {name} is multi-value, but passed-in value {_shown(value)} "
                                   "is not an array")
            for item in value:
                _check_one(definition, item)
        elif isinstance(value, list):
            raise InvalidInput(f"User attribute {name} is single-value, but passed-in value {_shown(value)} "
                               "is an array")
        else:
            _check_one(definition, value)
        merged[name] = value
    return merged
