"""Schemas for the cron preview."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class CronPreviewArgs(Schema):
    expression = fields.String(required=True, validate=validate.Length(min=1, max=255),
                               metadata={"description": "5-field Unix or 6-field AWS cron expression"})
    timezone = fields.String(load_default="UTC", validate=validate.Length(max=64))
    after = fields.String(validate=validate.Length(max=64),
                          metadata={"description": "RFC 3339 with offset (default now)"})
    count = fields.Integer(load_default=5, validate=validate.Range(min=1, max=100))


class CronPreview(Schema):
    dialect = fields.String(required=True, metadata={"description": "unix or aws"})
    description = fields.String(required=True)
    next_run_times = fields.List(fields.DateTime(), required=True)
