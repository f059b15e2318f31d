"""Data sources: the PostgreSQL databases an organization's sql commands may read."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_organization_id
from api.db import get_pool, get_settings
from api.docs import ApiBlueprint, error_responses
from api.params import parse_uuid
from api.schemas.data_sources import DataSourceCreate, DataSourceList, DataSourceOut, DataSourceUpdate
from api.services import data_sources as service
from shared.db import transaction

blp = ApiBlueprint("data_sources", __name__, url_prefix="/v1/data-sources", description="Data sources")


@blp.route("")
class DataSources(MethodView):
    @blp.response(200, DataSourceList)
    @error_responses(blp)
    def get(self) -> dict[str, Any]:
        """List the organization's data sources and those the operator granted it (never their URLs)."""
        with transaction(get_pool()) as conn:
            return {"records": service.list_all(conn, get_settings(), current_organization_id())}

    @blp.arguments(DataSourceCreate)
    @blp.response(201, DataSourceOut)
    @error_responses(blp, 400, 409)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a data source; its URL is checked, encrypted and never shown again."""
        with transaction(get_pool()) as conn:
            return service.create(conn, get_settings(), current_organization_id(), data)


@blp.route("/<id:data_source_id>")
class DataSourceById(MethodView):
    @blp.response(200, DataSourceOut)
    @error_responses(blp, 400, 404)
    def get(self, data_source_id: str) -> dict[str, Any]:
        """Read one of the organization's own data sources (without its URL)."""
        sid = parse_uuid(data_source_id, "data_source_id")
        with transaction(get_pool()) as conn:
            return service.load(conn, current_organization_id(), sid)

    @blp.arguments(DataSourceUpdate)
    @blp.response(200, DataSourceOut)
    @error_responses(blp, 400, 404, 409)
    def patch(self, data: dict[str, Any], data_source_id: str) -> dict[str, Any]:
        """Rename a data source or replace its URL."""
        sid = parse_uuid(data_source_id, "data_source_id")
        with transaction(get_pool()) as conn:
            return service.update(conn, get_settings(), current_organization_id(), sid, data)

    @blp.response(204)
    @error_responses(blp, 400, 404, 409)
    def delete(self, data_source_id: str) -> None:
        """Delete a data source that no command uses (409 otherwise)."""
        sid = parse_uuid(data_source_id, "data_source_id")
        with transaction(get_pool()) as conn:
            service.delete(conn, current_organization_id(), sid)
