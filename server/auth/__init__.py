"""Authentication primitives: password hashing, access tokens, refresh tokens, API keys and scopes.

Pure functions without storage or HTTP: the API layer wires them to the database and the requests.
"""

from server.auth.api_keys import (
    ApiKey,
    InvalidApiKey,
    Scope,
    allows,
    new_api_key,
    parse_api_key,
    verify_api_key,
)
from server.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    UNUSABLE_PASSWORD,
    WeakPassword,
    check_password_policy,
    equalize_verification_time,
    has_usable_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from server.auth.refresh import digest_refresh_token, new_refresh_token
from server.auth.tokens import (
    AccessClaims,
    InvalidToken,
    InvalidTokenReason,
    issue_access_token,
    verify_access_token,
)

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "UNUSABLE_PASSWORD",
    "AccessClaims",
    "ApiKey",
    "InvalidApiKey",
    "InvalidToken",
    "InvalidTokenReason",
    "Scope",
    "WeakPassword",
    "allows",
    "check_password_policy",
    "digest_refresh_token",
    "equalize_verification_time",
    "has_usable_password",
    "hash_password",
    "issue_access_token",
    "needs_rehash",
    "new_api_key",
    "new_refresh_token",
    "parse_api_key",
    "verify_access_token",
    "verify_api_key",
    "verify_password",
]
