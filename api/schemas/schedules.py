"""Schemas for schedules and runs."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.celery_app import DELIVERY_KINDS


class DestinationIn(Schema):
    class Meta:
        unknown = EXCLUDE

    type = fields.String(required=True, validate=validate.OneOf(DELIVERY_KINDS))
    url = fields.String(load_default=None)
    secret = fields.String(load_default=None, load_only=True)


class RetryPolicy(Schema):
    max_attempts = fields.Integer(validate=validate.Range(min=1, max=100), load_default=5)
    base_delay_s = fields.Float(validate=validate.Range(min=0, max=86400), load_default=30.0)
    max_delay_s = fields.Float(validate=validate.Range(min=0, max=86400), load_default=3600.0)


class ScheduleCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    cron_expression = fields.String(load_default=None)
    execute_at = fields.String(load_default=None)
    timezone = fields.String(load_default="UTC")
    enabled = fields.Boolean(load_default=True)
    run_mode = fields.String(load_default="per_subscriber",
                             validate=validate.OneOf(["per_subscriber", "once_distribute"]))
    fan_out = fields.Boolean(load_default=False)
    destination = fields.Nested(DestinationIn, required=True)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx", "html", "text"]))
    misfire_policy = fields.String(load_default="run_once", validate=validate.OneOf(["run_once", "skip", "run_all"]))
    retry = fields.Nested(RetryPolicy, load_default=None)


class ScheduleOut(Schema):
    id = fields.UUID()
    organization_id = fields.UUID()
    command_id = fields.UUID(allow_none=True)
    name = fields.String()
    cron_expression = fields.String(allow_none=True)
    execute_at = fields.DateTime(allow_none=True)
    timezone = fields.String()
    enabled = fields.Boolean()
    run_mode = fields.String()
    fan_out = fields.Boolean()
    destination = fields.Dict()
    format = fields.String()
    misfire_policy = fields.String()
    next_run_time = fields.DateTime(attribute="next_run_at", allow_none=True)
    last_run_time = fields.DateTime(attribute="last_run_at", allow_none=True)
    last_status = fields.String(allow_none=True)
    last_completed_at = fields.DateTime(allow_none=True)
    paused_at = fields.DateTime(allow_none=True)
    system_disabled_at = fields.DateTime(allow_none=True)
    system_disabled_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AttemptOut(Schema):
    attempt_number = fields.Integer()
    started_at = fields.DateTime()
    duration_ms = fields.Integer(allow_none=True)
    outcome = fields.String()
    error = fields.String(allow_none=True)
    response_code = fields.Integer(allow_none=True)


class DeliveryOut(Schema):
    id = fields.UUID()
    recipient_key = fields.String()
    user_id = fields.UUID(allow_none=True)
    destination_type = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_response_code = fields.Integer(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    attempt_log = fields.List(fields.Nested(AttemptOut), data_key="attempts_log")


class RunOut(Schema):
    id = fields.UUID()
    schedule_id = fields.UUID()
    scheduled_for = fields.DateTime()
    trigger = fields.String()
    is_test = fields.Boolean()
    status = fields.String()
    publish_count = fields.Integer()
    deliveries_total = fields.Integer()
    deliveries_delivered = fields.Integer()
    deliveries_failed = fields.Integer()
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True)


class RunDetailOut(RunOut):
    deliveries = fields.List(fields.Nested(DeliveryOut))


class RunPage(Schema):
    records = fields.List(fields.Nested(RunOut))
    next_cursor = fields.String(allow_none=True)


class Success(Schema):
    success = fields.Boolean()
