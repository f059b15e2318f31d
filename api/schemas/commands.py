"""Schemas for commands: what a schedule runs."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from api.schemas.common import PageArgs, PageInfo, TenantBody
from shared.command_rules import COMMAND_KINDS

CONFIG_DOC = ("http: {url, method POST|GET, headers (write-only, encrypted at rest: shown as has_headers; {} or null "
              "clears them, omitted keeps them), result_keys (optional: the renderer answers a JSON object with one "
              "member per key, each a named result)}; sql: {data_source (a configured name), query, or queries "
              "(an object of 1 to 20 result keys to queries, each run as its own read-only SELECT; result_keys "
              "keeps their order), row_limit (per query), timeout_s (for all the queries)}; template: {template, "
              "content_type text|html}. A result key is 1 to 31 letters, digits, _, . or -; a schedule's query_key "
              "names one.")


class CommandCreate(TenantBody):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    kind = fields.String(required=True, validate=validate.OneOf(COMMAND_KINDS))
    config = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), required=True,
                         metadata={"description": CONFIG_DOC})
    filter_keys = fields.List(fields.String(), load_default=list, validate=validate.Length(max=100),
                              metadata={"description": "Keys a schedule's `filters` may use"})


class CommandUpdate(TenantBody):
    """Every field optional; a new kind needs a config for it."""

    name = fields.String(validate=validate.Length(min=1, max=255))
    kind = fields.String(validate=validate.OneOf(COMMAND_KINDS))
    config = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), metadata={"description": CONFIG_DOC})
    filter_keys = fields.List(fields.String(), validate=validate.Length(max=100))


class CommandOut(Schema):
    id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    config = fields.Dict(required=True, metadata={
        "description": "The config without its secrets; an http command's shows has_headers instead of headers"})
    filter_keys = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)

    @pre_dump
    def _present(self, command: Any, **_: Any) -> dict[str, Any]:
        data = dict(command.__dict__)
        if command.kind == "http":
            data["config"] = {**command.config, "has_headers": command.has_secret}
        return data


class CommandPage(Schema):
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(CommandOut), required=True)


class CommandListArgs(PageArgs):
    """Commands, oldest first."""
