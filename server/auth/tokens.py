"""Access tokens: short-lived JWTs signed with HS256, and nothing else.

Only HS256 is ever accepted: a token whose header names another algorithm (``none``, HS512, RS256,
ES256, ...) is refused before its signature is looked at, which closes the ``alg: none`` and
algorithm-confusion attacks. Every failure raises InvalidToken with a stable ``reason`` code that the
HTTP layer can log and map to a 401.

Time is a parameter (``now``) so that tests need no clock: PyJWT's own time checks always read the
real clock, so they are turned off and the same checks (``exp``, ``nbf``, ``iat``, with a small leeway
for clock skew between nodes) are done here against `now`.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import jwt

ALGORITHM = "HS256"
TOKEN_TYPE = "access"
LEEWAY_SECONDS = 10
MIN_KEY_BYTES = 32
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "sub", "iss", "aud", "jti")


class InvalidTokenReason(StrEnum):
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"
    BAD_AUDIENCE = "bad_audience"
    BAD_ISSUER = "bad_issuer"
    MALFORMED = "malformed"
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    WRONG_TYPE = "wrong_type"
    NOT_YET_VALID = "not_yet_valid"
    MISSING_CLAIM = "missing_claim"


class InvalidToken(Exception):
    """A token that must not be trusted; ``reason`` says why (an InvalidTokenReason)."""

    def __init__(self, reason: InvalidTokenReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    subject: str
    role: str
    expires_at: datetime
    token_id: str


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the signing key must be at least {MIN_KEY_BYTES} bytes long")


def _timestamp(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())


def issue_access_token(
    key: bytes,
    *,
    subject: str,
    role: str,
    issuer: str,
    audience: str,
    ttl_seconds: int,
    now: datetime,
) -> str:
    """A signed access token for `subject`, valid from `now` for `ttl_seconds`."""
    _check_key(key)
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued = _timestamp(now)
    claims: dict[str, Any] = {
        "sub": subject,
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "typ": TOKEN_TYPE,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify_access_token(
    key: bytes,
    token: str,
    *,
    issuer: str,
    audience: str,
    now: datetime | None = None,
) -> AccessClaims:
    """The claims of a valid access token, or InvalidToken. `now` defaults to the current time."""
    _check_key(key)
    current = _timestamp(now if now is not None else datetime.now(UTC))
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require": list(REQUIRED_CLAIMS),
                # Checked below against `now` instead of the real clock.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAlgorithmError as exc:
        raise InvalidToken(InvalidTokenReason.ALGORITHM_NOT_ALLOWED, str(exc)) from None
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken(InvalidTokenReason.BAD_SIGNATURE, str(exc)) from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(InvalidTokenReason.MISSING_CLAIM, exc.claim) from None
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken(InvalidTokenReason.BAD_AUDIENCE, str(exc)) from None
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken(InvalidTokenReason.BAD_ISSUER, str(exc)) from None
    except jwt.InvalidTokenError as exc:  # undecodable, or a claim of the wrong type
        raise InvalidToken(InvalidTokenReason.MALFORMED, str(exc)) from None

    if payload.get("typ") != TOKEN_TYPE:
        raise InvalidToken(InvalidTokenReason.WRONG_TYPE, f"typ is {payload.get('typ')!r}")
    if "role" not in payload:
        raise InvalidToken(InvalidTokenReason.MISSING_CLAIM, "role")
    subject, role, token_id = payload["sub"], payload["role"], payload["jti"]
    if not (isinstance(role, str) and role and subject and token_id):
        raise InvalidToken(InvalidTokenReason.MALFORMED, "sub, role and jti must be non-empty strings")

    expires, not_before, issued = (_numeric_date(payload, claim) for claim in ("exp", "nbf", "iat"))
    if expires <= current - LEEWAY_SECONDS:
        raise InvalidToken(InvalidTokenReason.EXPIRED, "the token has expired")
    if not_before > current + LEEWAY_SECONDS or issued > current + LEEWAY_SECONDS:
        raise InvalidToken(InvalidTokenReason.NOT_YET_VALID, "the token is not valid yet")
    return AccessClaims(
        subject=subject,
        role=role,
        expires_at=datetime.fromtimestamp(expires, UTC),
        token_id=token_id,
    )


def _numeric_date(payload: dict[str, Any], claim: str) -> int:
    """A NumericDate claim (RFC 7519: seconds since the epoch, a JSON number) as an int."""
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(InvalidTokenReason.MALFORMED, f"{claim} must be a number")
    try:
        datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidToken(InvalidTokenReason.MALFORMED, f"{claim} is out of range") from None
    return int(value)
