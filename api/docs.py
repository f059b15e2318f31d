"""The API's documentation: error bodies in the OpenAPI document, and Swagger UI served offline."""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import Blueprint, Flask, Response, send_from_directory
from webargs.flaskparser import FlaskParser
from werkzeug.routing import BaseConverter

from api.schemas.common import Error

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `detail` names the field and says what is wrong",
    401: "Missing, malformed, unknown, revoked or expired token",
    404: "Missing, or belongs to another organization",
    405: "Method not allowed: the path exists but not with this method (the Allow header lists its methods)",
    409: "The resource's state forbids the operation, or it exists already",
    412: "The resource is not in a state the operation starts from: `detail` names the state and the operation "
         "(`Campaign is sent; cannot schedule`)",
    413: "Request body too large",
    429: "Rate limited (per token, or failed authentications per address) or over a per-hour quota: see "
         "Retry-After",
}
ASSETS_PATH = "/v1/docs/assets/"


class _Parser(FlaskParser):
    # Validation errors answer 400 (api/errors.py), so document them as 400, not webargs' 422.
    DEFAULT_VALIDATION_STATUS = 400


class ApiBlueprint(flask_smorest.Blueprint):
    """A flask-smorest blueprint whose argument errors are documented as our 400."""

    ARGUMENTS_PARSER = _Parser()


class IdConverter(BaseConverter):
    """A path segment documented as a uuid but matched as any text, so a bad one answers 400
    `<field>: Invalid uuid` from the view rather than a route 404."""


def register_id_converter(app: Flask, api: flask_smorest.Api) -> None:
    """Make `<id:name>` available in routes; call before registering blueprints."""
    app.url_map.converters["id"] = IdConverter
    api.register_converter(IdConverter, lambda _converter: {"type": "string", "format": "uuid"})


class Api(flask_smorest.Api):
    """flask-smorest's Api with our error body {"detail", "status"} in every documented error response."""

    ERROR_SCHEMA = Error

    def _register_pagination_header(self) -> None:
        # flask-smorest registers its page-number pagination header and PaginationMetadata schema for
        # @paginate views; Punctual pages by keyset cursor in the body, so neither belongs in the document.
        return None


def nullable_reference(converter: Any, field: Any, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """A nullable nested schema as OpenAPI 3.0.3 generators read it: `allOf: [$ref]` with `nullable: true`."""
    # apispec writes anyOf [{type: object, nullable: true}, {$ref}], which generators turn into a
    # second, empty model; 3.0.3 has no null type, and allOf plus nullable is the form they accept.
    any_of = ret.get("anyOf")
    if not isinstance(any_of, list) or {"type": "object", "nullable": True} not in any_of:
        return {}
    refs = [item for item in any_of if "$ref" in item]
    if len(refs) != 1 or len(any_of) != 2:
        return {}
    del ret["anyOf"]
    return {"allOf": refs, "nullable": True}


def register_documentation(api: flask_smorest.Api) -> None:
    """Adjust how schemas are documented; call before registering blueprints."""
    api.ma_plugin.converter.add_attribute_function(nullable_reference)


def error_responses(blp: ApiBlueprint, *codes: int) -> Any:
    """Declare the standard error body {"detail", "status"} for these codes (401, 405, 413 and 429 always)."""

    def decorate(view: Any) -> Any:
        for code in sorted({*codes, 401, 405, 413, 429}):
            view = blp.alt_response(code, schema=Error, description=ERROR_DESCRIPTIONS[code])(view)
        return view

    return decorate


def assets_blueprint() -> Blueprint:
    """Swagger UI's files from the swagger-ui-bundle package, so /v1/docs works without a CDN."""
    try:
        from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]
    except ImportError:  # docs then fall back to the CDN configured in the app
        swagger_ui_path = None
    blueprint = Blueprint("docs_assets", __name__)

    @blueprint.route(f"{ASSETS_PATH}<path:filename>")
    def asset(filename: str) -> Response:
        return send_from_directory(swagger_ui_path or "/nonexistent", filename, max_age=3600)

    blueprint.has_assets = swagger_ui_path is not None  # type: ignore[attr-defined]
    return blueprint
