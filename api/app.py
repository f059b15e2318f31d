"""The Flask app factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from api.auth import register_auth
from api.docs import ASSETS_PATH, Api, assets_blueprint, register_documentation, register_id_converter
from api.errors import register_error_handlers
from api.metrics import register_metrics
from api.rate_limit import register_rate_limit
from api.request_guard import register_guard
from shared.db import create_pool
from shared.settings import Settings, load_settings

API_DESCRIPTION = """Punctual runs commands on cron schedules in any IANA time zone and delivers
the result by email, SFTP, webhook or Slack, exactly once per slot, with retries and a record of
every attempt. Authenticate with `Authorization: Bearer <token>`. Every error body is
`{"detail": "<reason>", "status": <code>}`.

Tenancy: every resource belongs to the token's organization; another organization's id answers
404 exactly as a missing one. An `organization_id` given in a body or query must be the token's
organization, else 400 (`organization_id: Does not match the organization of the token`).
Rate limits are one budget per token across every route, and failed authentications are limited per
client address (429 with `Retry-After`). Organization quotas answer 400 (schedules, recipients per
schedule) or 429 with `Retry-After` (runs triggered per hour), naming the quota. Bodies over the
configured size answer 413.
Lists are keyset-paged: pass `page_info.next_cursor` back as `cursor`."""


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    """Build the API app; reads settings from the environment when none are given."""
    settings = settings or load_settings()
    app = Flask("punctual")
    app.config.update(
        API_TITLE="Punctual",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Swagger UI's files are served from the swagger-ui-bundle package (works offline);
        # without that package the page falls back to the CDN.
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        API_SPEC_OPTIONS={
            "info": {"description": API_DESCRIPTION},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    app.config.update(config)
    app.extensions["punctual_settings"] = settings
    app.extensions["punctual_pool"] = create_pool(settings, name="punctual-api",
                                                       timeout_s=settings.api_db_timeout_s)
    assets = assets_blueprint()
    if assets.has_assets:  # type: ignore[attr-defined]
        app.config["OPENAPI_SWAGGER_UI_URL"] = ASSETS_PATH
    app.register_blueprint(assets)
    api = Api(app)
    register_id_converter(app, api)
    register_documentation(api)
    register_error_handlers(app)
    # Before-request hooks run in this order: who is calling, is the request sane, is it within its rate.
    register_auth(app)
    register_guard(app)
    app.extensions["punctual_limiter"] = register_rate_limit(app, settings)
    register_metrics(app, settings)
    _register_blueprints(api)
    return app


def _register_blueprints(api: Api) -> None:
    from api.resources import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
