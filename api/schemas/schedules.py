"""Schemas for schedules: create, update, list, recipients, and the schedule as shown."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from api.schemas.common import PageArgs, PageInfo, Success, TenantBody, uuid_field
from api.schemas.runs import AttemptOut, DeliveryOut, RunDetailOut, RunOut, RunPage
from shared.schedule_rules import (
    ALERT_CONDITIONS,
    DEFAULT_MAX_ROW_LIMIT,
    DESTINATION_TYPES,
    FORMAT_OPTIONS,
    FORMATS,
    HARD_MAX_ROW_LIMIT,
    schedule_warnings,
)

__all__ = ["AttemptOut", "DeliveryOut", "RunDetailOut", "RunOut", "RunPage", "Success"]

RUN_MODES = ("per_subscriber", "once_distribute")
MISFIRE_POLICIES = ("run_once", "skip", "run_all")
LAST_STATUSES = ("complete", "error_delivered", "failed", "skipped")
SORT_FIELDS = ("name", "created_at", "next_run_time", "last_run_time")
FORMAT_OPTIONS_DESCRIPTION = (
    "Options of the format, applied when it renders; any other option is refused. "
    + " ".join(f"{fmt}: " + ("; ".join(f"`{name}` ({rule})" for name, rule in options.items()) or "none") + "."
               for fmt, options in FORMAT_OPTIONS.items())
    + " Defaults: csv delimiter `,` and a header; xlsx sheet `Results` and a header; json compact (indent 0 too);"
    " pdf A4 portrait; png 1200 pixels wide; pdf and png are titled with the schedule's name unless `hide_title`,"
    " which only pdf and png take."
)


class DestinationIn(Schema):
    """One shape for every type; fields that do not belong to `type` are refused."""

    type = fields.String(required=True, validate=validate.OneOf(DESTINATION_TYPES))
    url = fields.String(allow_none=True, validate=validate.Length(max=2048), metadata={
        "description": "webhook, slack (a Slack URL is a credential: write-only, shown masked)"})
    secret = fields.String(allow_none=True, load_only=True, validate=validate.Length(max=512),
                           metadata={"description": "webhook signing secret whsec_<base64>; write-only"})
    subject = fields.String(allow_none=True, validate=validate.Length(max=1000),
                            metadata={"description": "email: Jinja template"})
    body = fields.String(allow_none=True, validate=validate.Length(max=100_000),
                         metadata={"description": "email: Jinja template"})
    text = fields.String(allow_none=True, validate=validate.Length(max=40_000), metadata={"description": "slack"})
    host = fields.String(allow_none=True, validate=validate.Length(max=255), metadata={"description": "sftp"})
    port = fields.Integer(allow_none=True, metadata={"description": "sftp (default 22)"})
    username = fields.String(allow_none=True, validate=validate.Length(max=255), metadata={"description": "sftp"})
    password = fields.String(allow_none=True, load_only=True, validate=validate.Length(max=1024),
                             metadata={"description": "sftp; write-only"})
    private_key = fields.String(allow_none=True, load_only=True, validate=validate.Length(max=20_000),
                                metadata={"description": "sftp PEM/OpenSSH key; write-only"})
    host_key = fields.String(allow_none=True, validate=validate.Length(max=20_000),
                             metadata={"description": "sftp, required: 'ssh-ed25519 AAAA...'"})
    directory = fields.String(allow_none=True, validate=validate.Length(max=1024),
                              metadata={"description": "sftp (default /)"})
    filename_template = fields.String(allow_none=True, validate=validate.Length(max=255),
                                      metadata={"description": "sftp"})


class DestinationOut(Schema):
    type = fields.String(required=True)
    url = fields.String(metadata={"description": "webhook: the URL; slack: masked, .../****"})
    subject = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    text = fields.String(allow_none=True)
    host = fields.String()
    port = fields.Integer()
    username = fields.String()
    host_key = fields.String()
    directory = fields.String()
    filename_template = fields.String()
    has_secret = fields.Boolean(required=True, metadata={"description": "Whether write-only secrets are stored"})


class RetryPolicy(Schema):
    max_attempts = fields.Integer(validate=validate.Range(min=1, max=100), load_default=5)
    base_delay_s = fields.Float(validate=validate.Range(min=0, max=86400), load_default=30.0)
    max_delay_s = fields.Float(validate=validate.Range(min=0, max=86400), load_default=3600.0)


class Alert(Schema):
    condition = fields.String(required=True, validate=validate.OneOf(ALERT_CONDITIONS))


NAME_DOC = ("Optional (absent or null) when the schedule runs a command: it is then named after the command "
            "(the command's name at creation). Required without command_id.")
DESTINATION_DOC = ("Where deliveries go. Optional when subscriber_user_ids are given: the schedule then emails each "
                   "subscriber at their own address (an email destination with the default subject and body).")
FILTERS_DOC = ("Keys declared by the command's filter_keys. Each value is plain (string, number, boolean, null or a "
               "list of them) or structured as Omni sends it: {kind: EQ|NOT_EQ|IN|NOT_IN|GT|GTE|LT|LTE|BETWEEN, "
               "type: string|number|boolean, left_side, right_side (BETWEEN only)}; IN and NOT_IN take a list.")
QUERY_KEY_DOC = ("Which named result of the command to deliver (Omni's queryIdentifierMapKey: a single tile); one "
                 "of the command's config.result_keys, else 400 `Couldn't find query presentation for key: <key>`. "
                 "Absent or null: every result (one sheet, section or table per key).")
MAX_ROW_LIMIT_DOC = (f"The most rows delivered per result (null: {DEFAULT_MAX_ROW_LIMIT}, or {HARD_MAX_ROW_LIMIT} with "
                     f"override_row_limit). Above {DEFAULT_MAX_ROW_LIMIT} it needs override_row_limit. A result cut "
                     "by it (or by an sql command's row_limit) says so under its table in pdf, png and html.")
OVERRIDE_ROW_LIMIT_DOC = (f"Let max_row_limit go past the default cap of {DEFAULT_MAX_ROW_LIMIT} rows, up to "
                          f"{HARD_MAX_ROW_LIMIT} (without max_row_limit: deliver up to {HARD_MAX_ROW_LIMIT}). "
                          "An sql command's own row_limit still applies.")

# Omni documents overrideRowLimit as a number: a count here would be a mistake worth a clear word.
OVERRIDE_ERRORS: dict[str, str | list[Any] | dict[Any, Any]] = {
    "invalid": "Must be true or false (the number of rows goes in max_row_limit)"}


class ScheduleFields(TenantBody):
    """Fields a caller may set, on create and (all optional) on update."""

    command_id = uuid_field(allow_none=True)
    name = fields.String(validate=validate.Length(min=1, max=255))
    cron_expression = fields.String(allow_none=True, validate=validate.Length(max=255),
                                    metadata={"description": "5-field Unix or 6-field AWS cron"})
    execute_at = fields.String(allow_none=True, validate=validate.Length(max=64), metadata={
        "description": "One-shot instead of cron: RFC 3339, on a 15-minute boundary, >= 15 minutes ahead"})
    timezone = fields.String(validate=validate.Length(max=64))
    enabled = fields.Boolean()
    run_mode = fields.String(validate=validate.OneOf(RUN_MODES))
    fan_out = fields.Boolean()
    subscriber_user_ids = fields.List(fields.String(), validate=validate.Length(max=1000))
    destination = fields.Nested(DestinationIn)
    format = fields.String(validate=validate.OneOf(FORMATS))
    format_options = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                                 metadata={"description": FORMAT_OPTIONS_DESCRIPTION})
    filters = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                          metadata={"description": FILTERS_DOC})
    query_key = fields.String(allow_none=True, validate=validate.Length(min=1, max=255),
                              metadata={"description": QUERY_KEY_DOC})
    max_row_limit = fields.Integer(allow_none=True, strict=True,
                                   validate=validate.Range(min=1, max=HARD_MAX_ROW_LIMIT),
                                   metadata={"description": MAX_ROW_LIMIT_DOC})
    override_row_limit = fields.Boolean(metadata={"description": OVERRIDE_ROW_LIMIT_DOC},
                                        error_messages=OVERRIDE_ERRORS)
    alert = fields.Nested(Alert, allow_none=True)
    misfire_policy = fields.String(validate=validate.OneOf(MISFIRE_POLICIES))
    retry = fields.Nested(RetryPolicy)
    created_by_user_id = uuid_field(allow_none=True, metadata={"description": "The owning member"})


class ScheduleCreate(ScheduleFields):
    name = fields.String(allow_none=True, validate=validate.Length(min=1, max=255),
                         metadata={"description": NAME_DOC})
    destination = fields.Nested(DestinationIn, metadata={"description": DESTINATION_DOC})
    timezone = fields.String(load_default="UTC", validate=validate.Length(max=64))
    enabled = fields.Boolean(load_default=True)
    run_mode = fields.String(load_default="per_subscriber", validate=validate.OneOf(RUN_MODES))
    fan_out = fields.Boolean(load_default=False)
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    override_row_limit = fields.Boolean(load_default=False, metadata={"description": OVERRIDE_ROW_LIMIT_DOC},
                                        error_messages=OVERRIDE_ERRORS)
    misfire_policy = fields.String(load_default="run_once", validate=validate.OneOf(MISFIRE_POLICIES))
    test_now = fields.Boolean(load_default=False, metadata={"description": "Send a test delivery at once"})


class ScheduleUpdate(ScheduleFields):
    """Every field optional; a given destination replaces the stored one (secrets carry over if omitted)."""


class ScheduleOut(Schema):
    id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    command_id = fields.UUID(allow_none=True)
    name = fields.String(required=True)
    kind = fields.String(metadata={"description": "cron or one_shot"})
    cron_expression = fields.String(allow_none=True)
    execute_at = fields.DateTime(allow_none=True)
    timezone = fields.String()
    enabled = fields.Boolean()
    run_mode = fields.String()
    fan_out = fields.Boolean()
    destination = fields.Nested(DestinationOut)
    format = fields.String()
    format_options = fields.Dict(metadata={"description": FORMAT_OPTIONS_DESCRIPTION})
    query_key = fields.String(allow_none=True, metadata={"description": QUERY_KEY_DOC})
    max_row_limit = fields.Integer(allow_none=True, metadata={"description": MAX_ROW_LIMIT_DOC})
    override_row_limit = fields.Boolean(metadata={"description": OVERRIDE_ROW_LIMIT_DOC})
    filters = fields.Dict()
    alert = fields.Nested(Alert, allow_none=True)
    misfire_policy = fields.String()
    retry = fields.Nested(RetryPolicy)
    next_run_time = fields.DateTime(attribute="next_run_at", allow_none=True, metadata={
        "description": "The next slot beat will fire; null while the schedule cannot fire (paused, enabled false or "
                       "system-disabled) and once a one-shot has fired. Resuming or re-enabling computes it afresh "
                       "from now: slots missed meanwhile are not caught up."})
    last_run_time = fields.DateTime(attribute="last_run_at", allow_none=True)
    last_status = fields.String(allow_none=True)
    last_completed_at = fields.DateTime(allow_none=True)
    paused_at = fields.DateTime(allow_none=True)
    system_disabled_at = fields.DateTime(allow_none=True)
    system_disabled_reason = fields.String(allow_none=True)
    recipient_count = fields.Integer(metadata={"description": "Subscribers, members and email-only users alike "
                                                              "(addresses added with add-recipients are among them)"})
    warnings = fields.List(fields.String(), metadata={
        "description": "Why this schedule will not deliver as it stands, e.g. an email schedule with no recipients"})
    created_by_user_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    @pre_dump
    def _present(self, view: Any, **_: Any) -> dict[str, Any]:
        data = dict(view.__dict__)
        data["destination"] = {"type": view.destination_type, **view.destination,
                               "has_secret": view.has_destination_secret}
        if "masked_url" in data["destination"]:  # Slack: the URL is a secret, shown masked
            data["destination"]["url"] = data["destination"].pop("masked_url")
        data["alert"] = {"condition": view.alert_condition} if view.alert_condition else None
        data["warnings"] = schedule_warnings(view.destination_type, view.recipient_count)
        data["retry"] = {"max_attempts": view.retry_max_attempts, "base_delay_s": view.retry_base_delay_s,
                         "max_delay_s": view.retry_max_delay_s}
        return data


class ScheduleListArgs(PageArgs):
    q = fields.String(validate=validate.Length(max=255),
                      metadata={"description": "Substring of the name, the command's name or the owner"})
    status = fields.String(validate=validate.OneOf(LAST_STATUSES), metadata={"description": "Last run status"})
    destination = fields.String(validate=validate.OneOf(DESTINATION_TYPES))
    run_mode = fields.String(validate=validate.OneOf(RUN_MODES))
    enabled = fields.Boolean()
    owner_id = uuid_field()
    sort_field = fields.String(load_default="created_at", validate=validate.OneOf(SORT_FIELDS))
    sort_direction = fields.String(load_default="asc", validate=validate.OneOf(("asc", "desc")))


class SchedulePage(Schema):
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(ScheduleOut), required=True)


class RecipientsIn(TenantBody):
    emails = fields.List(fields.Raw(), validate=validate.Length(max=1000),
                         metadata={"description": "Addresses; unknown ones become email-only users"})
    user_ids = fields.List(fields.Raw(), validate=validate.Length(max=1000),
                           metadata={"description": "Ids of users of the organization"})


class RecipientsAdded(Success):
    added_recipients_count = fields.Integer(required=True)


class RecipientsRemoved(Success):
    removed_recipients_count = fields.Integer(required=True)
