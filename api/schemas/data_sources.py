"""Schemas for data sources: where an organization's sql commands read from."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import TenantBody

URL_DOC = ("postgresql://user:password@host:5432/dbname. Write-only: encrypted at rest and never returned. "
           "Private and loopback hosts need PUNCTUAL_OUTBOUND_ALLOWLIST; Punctual's own database is refused. "
           "Give it a read-only role: Punctual also runs every query as one SELECT in a READ ONLY transaction.")


class DataSourceCreate(TenantBody):
    name = fields.String(required=True, validate=validate.Length(min=1, max=63),
                         metadata={"description": "What sql commands put in `config.data_source`"})
    url = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=2048),
                        metadata={"description": URL_DOC})


class DataSourceUpdate(TenantBody):
    """Rename, or replace the URL (rotate its password); commands naming the old name must be changed first."""

    name = fields.String(validate=validate.Length(min=1, max=63))
    url = fields.String(load_only=True, validate=validate.Length(min=1, max=2048), metadata={"description": URL_DOC})


class DataSourceOut(Schema):
    id = fields.UUID(allow_none=True, required=True,
                     metadata={"description": "null for a data source the operator granted"})
    name = fields.String(required=True)
    owner = fields.String(required=True, metadata={
        "description": "`organization` (created through this API) or `granted` (configured by the operator in "
                       "PUNCTUAL_DATA_SOURCES and granted to this organization)"})
    display_url = fields.String(allow_none=True, required=True,
                                metadata={"description": "The URL without user and password; null when granted"})
    created_at = fields.DateTime(allow_none=True, required=True)
    updated_at = fields.DateTime(allow_none=True, required=True)


class DataSourceList(Schema):
    records = fields.List(fields.Nested(DataSourceOut), required=True)
