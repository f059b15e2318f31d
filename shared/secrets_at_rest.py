"""Secrets that older versions stored in plaintext, moved into the encrypted columns.

`punctual migrate` runs this after the SQL migrations: a migration file cannot encrypt, because
only the application holds PUNCTUAL_SECRET_KEY. It is idempotent (a second run finds nothing) and
runs in the caller's transaction, so a failure leaves every row as it was.
"""

from __future__ import annotations

import psycopg

from shared.crypto import decrypt_secret, encrypt_secret
from shared.slack_urls import mask_slack_url
from shared.sql import commands as command_sql
from shared.sql import schedules as schedule_sql


def encrypt_plaintext_secrets(conn: psycopg.Connection, secret_key: str) -> dict[str, int]:
    """Move http command headers and Slack webhook URLs into the encrypted secrets; return how many rows of
    each moved; raises ConfigError when existing secrets do not decrypt with this key."""
    commands = 0
    for command_id, config, stored in command_sql.list_plaintext_header_commands(conn):
        public = {k: v for k, v in config.items() if k != "headers"}
        secrets = {**decrypt_secret(secret_key, stored)}
        if config.get("headers"):
            secrets["headers"] = config["headers"]
        command_sql.store_command_secret(conn, command_id, public,
                                         encrypt_secret(secret_key, secrets) if secrets else None)
        commands += 1
    slack = 0
    for schedule_id, destination, stored in schedule_sql.list_plaintext_slack_urls(conn):
        url = str(destination["url"] or "")
        public = {k: v for k, v in destination.items() if k != "url"}
        secrets = {**decrypt_secret(secret_key, stored)}
        if url:
            secrets["url"] = url
            public["masked_url"] = mask_slack_url(url)
        schedule_sql.store_destination(conn, schedule_id, public,
                                       encrypt_secret(secret_key, secrets) if secrets else None)
        slack += 1
    return {"http_command_headers": commands, "slack_urls": slack}
