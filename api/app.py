"""The Flask app factory."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from api.auth import register_auth
from api.errors import register_error_handlers
from shared.db import create_pool
from shared.settings import Settings, load_settings

API_DESCRIPTION = """Punctual runs commands on cron schedules in any IANA time zone and delivers
the result by email, SFTP, webhook or Slack, exactly once per slot, with retries and a record of
every attempt. Authenticate with `Authorization: Bearer <token>`. Every error body is
`{"detail": "<reason>", "status": <code>}`."""


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
    app.extensions["punctual_pool"] = create_pool(settings, name="punctual-api")
    api = Api(app)
    register_error_handlers(app)
    register_auth(app)
    _register_blueprints(api)
    return app


def _register_blueprints(api: Api) -> None:
    from api.resources import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
