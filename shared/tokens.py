"""API tokens: generated with enough entropy that a plain sha256 is a safe stored form."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "pk_"


def generate_token() -> str:
    """Return a new random bearer token (shown to the caller once, never stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    """Return the sha256 digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode()).digest()
