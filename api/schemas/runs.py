"""Schemas for runs, their deliveries and every attempt."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.common import PageArgs, PageInfo


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
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(RunOut), required=True)


class RunListArgs(PageArgs):
    """A schedule's runs, newest slot first."""
