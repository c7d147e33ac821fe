"""Password hashing (argon2id) and the password policy.

Hashes use argon2-cffi's defaults (argon2id, RFC 9106's low-memory profile), so they improve when the
library's defaults do: after a successful login, ``needs_rehash`` says whether to store a fresh hash.

Passwords are normalised to Unicode NFKC before hashing, checking and verifying (as NIST SP 800-63B
advises), so the same password typed on systems that compose accents differently still matches.

The policy is deliberately simple (NIST SP 800-63B: length, no composition rules): 10 to 256
characters, counted after normalisation.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher()

UNUSABLE_PASSWORD = "!no-password"
"""Stored instead of a hash for accounts created without a password (by an admin, for integrations
and load tests): the users table wants a value, and no argon2 hash starts with "!"."""


class WeakPassword(ValueError):
    """A password the policy refuses; the message says why, for the user."""


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str) -> None:
    """Raise WeakPassword unless `password` is 10 to 256 characters long."""
    length = len(_normalise(password))
    if length < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if length > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"too long: use at most {MAX_PASSWORD_LENGTH} characters")


def has_usable_password(password_hash: str) -> bool:
    """Whether the account can log in with a password at all."""
    return not password_hash.startswith("!")


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (PHC string format, salt and parameters included)."""
    return _hasher.hash(_normalise(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`; False, never an exception, on any bad input."""
    try:
        return _hasher.verify(password_hash, _normalise(password))
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made with other parameters than today's (True for an unreadable hash)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError, TypeError):
        return True


@cache
def _dummy_hash() -> str:
    return _hasher.hash("gamif timing equaliser")


def equalize_verification_time(password: str) -> None:
    """Spend the time of one verification: call it when the account does not exist, so that
    "unknown user" and "wrong password" take as long (no user enumeration by timing)."""
    verify_password(_dummy_hash(), password)
