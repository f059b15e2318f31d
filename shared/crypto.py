"""Encryption at rest for destination and command secrets (Fernet, keyed by PUNCTUAL_SECRET_KEY)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from shared.errors import ConfigError


def _fernet(secret_key: str) -> Fernet:
    # Fernet wants 32 url-safe base64 bytes; derive them so any long passphrase works as the key.
    digest = hashlib.sha256(b"punctual-secrets-v1:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(secret_key: str, value: dict[str, Any]) -> bytes:
    """Encrypt a JSON-able dict of secrets; never raises for valid JSON input."""
    return _fernet(secret_key).encrypt(json.dumps(value, sort_keys=True).encode())


def decrypt_secret(secret_key: str, token: bytes | None) -> dict[str, Any]:
    """Decrypt secrets stored by encrypt_secret; raises ConfigError if the key does not match."""
    if not token:
        return {}
    try:
        data = _fernet(secret_key).decrypt(bytes(token))
    except InvalidToken:
        raise ConfigError("stored secret cannot be decrypted: PUNCTUAL_SECRET_KEY changed?") from None
    value = json.loads(data)
    return value if isinstance(value, dict) else {}
