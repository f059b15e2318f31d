"""The caller's organization: its name and its message gateway (the signed webhook phone numbers go to)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from shared.crypto import decrypt_secret, encrypt_secret
from shared.errors import InvalidInput, NotFound
from shared.outbound import check_url
from shared.schedule_rules import webhook_secret_ok
from shared.settings import Settings
from shared.sql import organizations as organization_sql


def organization_view(conn: psycopg.Connection, organization_id: UUID) -> dict[str, Any]:
    """The organization as the API shows it: the gateway's URL and whether it has a secret, never the secret."""
    org = organization_sql.get_organization(conn, organization_id)
    if org is None:
        raise NotFound(f"Organization with id {organization_id} does not exist")
    gateway = organization_sql.get_message_gateway(conn, organization_id)
    return {"id": org.id, "name": org.name, "created_at": org.created_at,
            "message_gateway": {"url": gateway.url, "has_secret": gateway.secret is not None} if gateway else None}


def update_organization(conn: psycopg.Connection, settings: Settings, organization_id: UUID,
                        data: dict[str, Any]) -> dict[str, Any]:
    """Apply a PATCH: message_gateway {url, secret} sets it (the URL through the outbound policy, the secret
    encrypted; a missing secret keeps the stored one), null removes it; raises InvalidInput naming the field."""
    if "message_gateway" in data:
        gateway = data["message_gateway"]
        if gateway is None:
            organization_sql.set_message_gateway(conn, organization_id, None, None)
        else:
            url = check_url(gateway["url"], settings.outbound_allowlist, field="message_gateway.url")
            secret = gateway.get("secret")
            if secret is not None and not webhook_secret_ok(secret):
                raise InvalidInput("message_gateway.secret: Must be whsec_ followed by at least 16 bytes of base64")
            stored = organization_sql.get_message_gateway(conn, organization_id)
            if secret is None and stored is not None and stored.secret is not None:
                secret = decrypt_secret(settings.secret_key, stored.secret).get("secret")
            if secret is None:
                raise InvalidInput("message_gateway.secret: Missing data for required field.")
            organization_sql.set_message_gateway(conn, organization_id, url,
                                                 encrypt_secret(settings.secret_key, {"secret": secret}))
    if data.get("name") is not None:
        organization_sql.rename_organization(conn, organization_id, data["name"])
    return organization_view(conn, organization_id)
