"""Opaque refresh tokens: the token goes to the client, only its SHA-256 digest is stored.

Why SHA-256 and not argon2: slow, salted hashes protect *low-entropy* secrets (passwords) against
guessing. A refresh token carries 256 random bits, which no amount of guessing can find, fast hash
or not; so a fast, unsalted, deterministic digest loses nothing, and it is what makes the token
findable: the digest is the lookup key (a unique index) instead of a scan verifying every stored
salted hash. A leaked table of digests gives an attacker no usable token.
"""

from __future__ import annotations

import hashlib
import secrets

REFRESH_TOKEN_PREFIX = "grt_"
REFRESH_TOKEN_BYTES = 32


def digest_refresh_token(token: str) -> str:
    """The stored form of a refresh token: the SHA-256 hex digest of the whole token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> tuple[str, str]:
    """A fresh refresh token and its digest: (``grt_`` + 43 URL-safe characters, SHA-256 hex)."""
    token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    return token, digest_refresh_token(token)
