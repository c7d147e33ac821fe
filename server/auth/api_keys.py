"""Service-account API keys and their scopes.

A key reads ``gmf_<prefix>_<secret>``: ``gmf_``, an 8-character lookup prefix (lowercase letters and
digits, stored in clear and shown in listings so a key can be recognised), ``_``, and a 43-character
secret (letters and digits: 256 random bits, selectable with a double click, safe in a header or a
URL). Only the SHA-256 digest of the whole key is stored; as for refresh tokens, a fast digest is
right for a 256-bit random secret (see ``server.auth.refresh``). The plaintext is shown once, at
creation.

Scopes: ``metrics:write`` (send metric events, optionally only for some metrics), ``metrics:read``
(read progression and leaderboards), and ``admin`` (everything).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

API_KEY_PREFIX = "gmf_"
LOOKUP_PREFIX_LENGTH = 8
SECRET_LENGTH = 43
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits

_API_KEY = re.compile(r"gmf_([a-z0-9]{8})_[A-Za-z0-9]{32,128}")


class InvalidApiKey(ValueError):
    """Text that is not an API key (the message never contains the text)."""


class Scope(StrEnum):
    METRICS_WRITE = "metrics:write"
    METRICS_READ = "metrics:read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A new key: `plaintext` for the client (once), `prefix` and `digest` for the database."""

    plaintext: str = field(repr=False)
    prefix: str
    digest: str


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> ApiKey:
    """A fresh random key. The prefix is unique with overwhelming odds; on a clash, draw again."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(LOOKUP_PREFIX_LENGTH))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    plaintext = f"{API_KEY_PREFIX}{prefix}_{secret}"
    return ApiKey(plaintext=plaintext, prefix=prefix, digest=_digest(plaintext))


def parse_api_key(text: str) -> tuple[str, str]:
    """(lookup prefix, SHA-256 digest of the whole key) of a well-formed key, else InvalidApiKey."""
    match = _API_KEY.fullmatch(text)
    if match is None:
        raise InvalidApiKey("not a gamif API key (expected gmf_<8 characters>_<secret>)")
    return match.group(1), _digest(text)


def verify_api_key(text: str, stored_digest: str) -> bool:
    """Whether `text` is the key whose digest is `stored_digest` (constant-time comparison)."""
    try:
        _, digest = parse_api_key(text)
    except InvalidApiKey:
        return False
    return hmac.compare_digest(digest.encode("ascii"), stored_digest.encode("utf-8"))


def allows(
    scopes: Iterable[str],
    metrics_allowed: list[str] | None,
    scope: str,
    metric: str | None,
) -> bool:
    """Whether a key with `scopes` (and, for writes, `metrics_allowed`) may do `scope` on `metric`.

    - ``admin`` allows everything, whatever the metric list (an admin could edit that list anyway).
    - Otherwise the scope must be held; unknown held scopes are ignored.
    - ``metrics:write`` with a metric list (None: every metric) needs a named metric in the list:
      pass the event's metric; a write naming no metric is refused (fail closed).
    - The metric list restricts writes only (``metrics:read`` ignores it).

    Raises ValueError if `scope` is not a Scope (a typo in the caller, not a denial).
    """
    wanted = Scope(scope)
    held = set(scopes)
    if Scope.ADMIN in held:
        return True
    if wanted not in held:
        return False
    if wanted is Scope.METRICS_WRITE and metrics_allowed is not None:
        return metric is not None and metric in metrics_allowed
    return True
