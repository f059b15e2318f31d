"""The caller's organization: read it, rename it, set its message gateway."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_organization_id
from api.db import get_pool, get_settings
from api.docs import ApiBlueprint, error_responses
from api.schemas.organization import OrganizationOut, OrganizationUpdate
from api.services import organization as service
from shared.db import transaction

blp = ApiBlueprint("organization", __name__, url_prefix="/v1/organization", description="Organization")


@blp.route("")
class Organization(MethodView):
    @blp.response(200, OrganizationOut)
    @error_responses(blp, 400)
    def get(self) -> dict[str, Any]:
        """Read the token's organization; its message gateway shows the URL and has_secret, never the secret."""
        with transaction(get_pool()) as conn:
            return service.organization_view(conn, current_organization_id())

    @blp.arguments(OrganizationUpdate)
    @blp.response(200, OrganizationOut)
    @error_responses(blp, 400)
    def patch(self, data: dict[str, Any]) -> dict[str, Any]:
        """Rename it, or set (`{url, secret}`) or remove (null) its message gateway: the signed webhook that
        messages to phone numbers are POSTed to."""
        with transaction(get_pool()) as conn:
            return service.update_organization(conn, get_settings(), current_organization_id(), data)
