"""Invitations (``GAMIF_REGISTRATION=invite``): a signed, expiring token naming the email it invites.

Nothing is stored: the token is an HS256 JWT (the access tokens' key, a purpose of its own so that
neither kind passes for the other). It works once in effect, since an email registers only once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "gamif-invite"


class InvalidInvite(ValueError):
    """The invitation is forged, expired, or for another email; the message says which, for the user."""


def issue_invite(key: bytes, *, email: str, issuer: str, ttl_seconds: int, now: datetime) -> str:
    claims = {
        "sub": email.lower(),
        "iss": issuer,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def check_invite(key: bytes, token: str, *, email: str, issuer: str, now: datetime) -> None:
    """Raise InvalidInvite unless ``token`` is a valid invitation for ``email`` at ``now``."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=issuer,
            options={"verify_exp": False, "require": ["sub", "exp", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        raise InvalidInvite("not a valid invitation") from None
    if not isinstance(claims["exp"], int) or claims["exp"] <= now.timestamp():
        raise InvalidInvite("this invitation has expired: ask for a new one")
    if claims["sub"] != email.lower():
        raise InvalidInvite("this invitation is for another email address")
