"""Authentication primitives: passwords, access tokens, refresh tokens, API keys and scopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher

from server.auth import (
    AccessClaims,
    InvalidApiKey,
    InvalidToken,
    Scope,
    WeakPassword,
    allows,
    check_password_policy,
    digest_refresh_token,
    equalize_verification_time,
    hash_password,
    issue_access_token,
    needs_rehash,
    new_api_key,
    new_refresh_token,
    parse_api_key,
    passwords,
    verify_access_token,
    verify_api_key,
    verify_password,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
ISSUER, AUDIENCE = "gamif", "gamif-api"
# Far from the real clock on purpose: nothing below may depend on today's date.
T0 = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- passwords


def test_hash_and_verify() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert hashed != hash_password("correct horse battery")  # salted
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse batterz")
    assert not needs_rehash(hashed)


@pytest.mark.parametrize("bad_hash", ["", "not a hash", "$argon2id$v=19$m=65536,t=3,p=4$bm9wZQ$bm9wZQ", "é"])
def test_verify_never_raises_on_bad_hashes(bad_hash: str) -> None:
    assert verify_password(bad_hash, "whatever password") is False


def test_unicode_passwords_are_normalised() -> None:
    composed, decomposed = "caf\u00e9-au-lait!", "cafe\u0301-au-lait!"
    assert verify_password(hash_password(composed), decomposed)


def test_needs_rehash_for_old_parameters_and_unreadable_hashes() -> None:
    weaker = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse battery")
    assert verify_password(weaker, "correct horse battery")
    assert needs_rehash(weaker)
    assert needs_rehash("not a hash")


def test_equalize_verification_time_runs_a_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    # What it must cost is one verification against a hash of today's parameters (the cost of a
    # wrong password for an existing account): that is what is checked, not a duration.
    verified: list[tuple[str, str, bool]] = []

    def spy(password_hash: str, password: str) -> bool:
        verified.append((password_hash, password, verify_password(password_hash, password)))
        return verified[-1][2]

    monkeypatch.setattr(passwords, "verify_password", spy)
    # The dummy hash is made once per process: start from none, as a fresh process does (the API
    # tests' fast hasher may have made it earlier in this one), and leave none made with today's.
    passwords._dummy_hash.cache_clear()
    try:
        equalize_verification_time("any password at all")
    finally:
        passwords._dummy_hash.cache_clear()
    [(dummy, password, matched)] = verified
    assert password == "any password at all"
    assert not matched
    assert dummy.startswith("$argon2id$")
    assert not needs_rehash(dummy)  # the cost of the hashes stored today


@pytest.mark.parametrize("password", ["a" * 10, "0123456789", "x" * 256, "pässwörd-ü"])
def test_policy_accepts_10_to_256_characters(password: str) -> None:
    check_password_policy(password)


@pytest.mark.parametrize(
    ("password", "reason"),
    [("", "too short"), ("a" * 9, "too short"), ("x" * 257, "too long")],
)
def test_policy_refuses_with_a_reason(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason):
        check_password_policy(password)
    assert issubclass(WeakPassword, ValueError)


# ---------------------------------------------------------------- access tokens


def issue(*, key: bytes = KEY, now: datetime = T0, ttl: int = 900, **overrides: str) -> str:
    fields: dict[str, Any] = {"subject": "user-1", "role": "player", "issuer": ISSUER, "audience": AUDIENCE}
    fields.update(overrides)
    return issue_access_token(key, ttl_seconds=ttl, now=now, **fields)


def verify(token: str, *, key: bytes = KEY, now: datetime | None = T0, **overrides: str) -> AccessClaims:
    expected = {"issuer": ISSUER, "audience": AUDIENCE} | overrides
    return verify_access_token(key, token, now=now, **expected)


def reason_of(token: str, **kwargs: Any) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify(token, **kwargs)
    return caught.value.reason


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, Any], claims: dict[str, Any], *, key: bytes | None = KEY) -> str:
    """A token built by hand: signed with HMAC-SHA256 under `key`, or with an empty signature."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims_at(**changes: Any) -> dict[str, Any]:
    stamp = int(T0.timestamp())
    claims = {
        "sub": "user-1",
        "role": "player",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": stamp,
        "nbf": stamp,
        "exp": stamp + 900,
        "jti": "0123456789abcdef",
        "typ": "access",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


HS256 = {"alg": "HS256", "typ": "JWT"}


def test_round_trip() -> None:
    token = issue()
    claims = verify(token)
    assert claims == AccessClaims(
        subject="user-1", role="player", expires_at=T0 + timedelta(seconds=900), token_id=claims.token_id
    )
    assert re.fullmatch(r"[0-9a-f]{32}", claims.token_id)
    payload = jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_signature": False})
    assert set(payload) == {"sub", "role", "iss", "aud", "iat", "nbf", "exp", "jti", "typ"}
    assert payload["typ"] == "access"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert verify(issue()).token_id != claims.token_id


def test_the_hand_crafted_reference_token_verifies() -> None:
    """The crafting helper is sound, so the rejections below are about what they change."""
    assert verify(craft(HS256, claims_at())).subject == "user-1"


def test_a_fresh_token_verifies_against_the_real_clock() -> None:
    assert verify(issue(now=datetime.now(UTC)), now=None).role == "player"


def test_expired_against_the_real_clock() -> None:
    assert reason_of(issue(now=datetime(2020, 1, 1, tzinfo=UTC)), now=None) == "expired"


def test_expiry_boundary_with_leeway() -> None:
    token = issue(ttl=900)
    assert verify(token, now=T0 + timedelta(seconds=909)).subject == "user-1"
    assert reason_of(token, now=T0 + timedelta(seconds=910)) == "expired"


def test_not_yet_valid() -> None:
    token = issue(now=T0 + timedelta(minutes=5))
    assert reason_of(token) == "not_yet_valid"
    assert verify(token, now=T0 + timedelta(minutes=5) - timedelta(seconds=10)).subject == "user-1"
    future_iat = craft(HS256, claims_at(iat=int(T0.timestamp()) + 3600))
    assert reason_of(future_iat) == "not_yet_valid"


def test_forged_signature() -> None:
    assert reason_of(issue(key=OTHER_KEY)) == "bad_signature"


def test_tampered_payload() -> None:
    header, _, signature = issue().split(".")
    payload = b64(json.dumps(claims_at(role="admin")).encode())
    assert reason_of(f"{header}.{payload}.{signature}") == "bad_signature"


def test_alg_none_is_refused() -> None:
    unsigned = craft({"alg": "none", "typ": "JWT"}, claims_at(), key=None)
    assert unsigned.endswith(".")
    assert reason_of(unsigned) == "algorithm_not_allowed"
    assert reason_of(craft({"alg": "None", "typ": "JWT"}, claims_at(), key=None)) == "algorithm_not_allowed"
    assert reason_of(craft({"typ": "JWT"}, claims_at())) == "algorithm_not_allowed"


@pytest.mark.parametrize("alg", ["HS512", "HS384", "RS256", "ES256", "PS256", "EdDSA"])
def test_other_algorithms_are_refused(alg: str) -> None:
    assert reason_of(craft({"alg": alg, "typ": "JWT"}, claims_at())) == "algorithm_not_allowed"


def test_hs512_signed_with_the_right_key_is_refused() -> None:
    token = jwt.encode(claims_at(), b"k" * 64, algorithm="HS512")
    assert reason_of(token, key=b"k" * 64) == "algorithm_not_allowed"


def test_wrong_audience_and_issuer() -> None:
    assert reason_of(issue(audience="someone-else")) == "bad_audience"
    assert reason_of(issue(), audience="other-api") == "bad_audience"
    assert reason_of(issue(issuer="evil")) == "bad_issuer"
    assert reason_of(issue(), issuer="other") == "bad_issuer"


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "iss", "aud", "jti", "role"])
def test_missing_claim(claim: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        verify(craft(HS256, claims_at(**{claim: None})))
    assert caught.value.reason == "missing_claim"
    assert claim in str(caught.value)


@pytest.mark.parametrize("typ", ["refresh", "ACCESS", None])
def test_wrong_type(typ: str | None) -> None:
    assert reason_of(craft(HS256, claims_at(typ=typ))) == "wrong_type"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        craft(HS256, claims_at())[:-3] + "!!!",
    ],
)
def test_garbage_is_malformed(token: str) -> None:
    assert reason_of(token) in {"malformed", "bad_signature"}
    if token.count(".") != 2:
        assert reason_of(token) == "malformed"


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": "tomorrow"},
        {"exp": True},
        {"nbf": [1]},
        {"iat": 1e300},
        {"sub": 42},
        {"sub": ""},
        {"role": 7},
        {"role": ""},
        {"jti": 5},
    ],
)
def test_claims_of_the_wrong_type_are_malformed(changes: dict[str, Any]) -> None:
    assert reason_of(craft(HS256, claims_at(**changes))) == "malformed"


def test_payload_that_is_not_an_object_is_malformed() -> None:
    signing_input = f"{b64(json.dumps(HS256).encode())}.{b64(b'[1, 2]')}"
    signature = b64(hmac.new(KEY, signing_input.encode(), hashlib.sha256).digest())
    assert reason_of(f"{signing_input}.{signature}") == "malformed"


def test_invalid_token_carries_a_reason_and_detail() -> None:
    with pytest.raises(InvalidToken) as caught:
        verify(issue(key=OTHER_KEY))
    assert caught.value.reason == "bad_signature"
    assert str(caught.value).startswith("bad_signature: ")


def test_programming_errors_are_not_token_errors() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue(key=b"short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        verify(issue(), key=b"short")
    with pytest.raises(ValueError, match="timezone-aware"):
        issue(now=datetime(2031, 1, 1))  # naive: the point of the test
    with pytest.raises(ValueError, match="positive"):
        issue(ttl=0)


# ---------------------------------------------------------------- refresh tokens


def test_refresh_tokens() -> None:
    token, digest = new_refresh_token()
    assert re.fullmatch(r"grt_[A-Za-z0-9_-]{43}", token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert digest_refresh_token(token) == digest
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert new_refresh_token()[0] != token
    assert digest_refresh_token(token + "x") != digest


# ---------------------------------------------------------------- API keys


def test_api_key_round_trip() -> None:
    key = new_api_key()
    assert re.fullmatch(r"gmf_[a-z0-9]{8}_[A-Za-z0-9]{43}", key.plaintext)
    assert key.plaintext.startswith(f"gmf_{key.prefix}_")
    assert key.digest == hashlib.sha256(key.plaintext.encode()).hexdigest()
    assert parse_api_key(key.plaintext) == (key.prefix, key.digest)
    assert verify_api_key(key.plaintext, key.digest)
    assert key.plaintext not in repr(key)
    other = new_api_key()
    assert other.prefix != key.prefix
    assert not verify_api_key(other.plaintext, key.digest)
    assert not verify_api_key(key.plaintext, "")
    assert not verify_api_key(key.plaintext, "é" * 64)


def test_one_changed_character_fails() -> None:
    key = new_api_key()
    last = key.plaintext[-1]
    altered = key.plaintext[:-1] + ("a" if last != "a" else "b")
    assert parse_api_key(altered)[0] == key.prefix
    assert not verify_api_key(altered, key.digest)


SECRET_PART = "A" * 43


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"gmk_abcd1234_{SECRET_PART}",  # wrong prefix
        f"GMF_abcd1234_{SECRET_PART}",  # prefix is case-sensitive
        f"abcd1234_{SECRET_PART}",  # no prefix
        f"gmf_abcd1234_{'A' * 31}",  # secret too short
        f"gmf_abc1234_{SECRET_PART}",  # lookup prefix too short
        f"gmf_abcd12345_{SECRET_PART}",  # lookup prefix too long
        f"gmf_ABCD1234_{SECRET_PART}",  # lookup prefix is lowercase
        f"gmf_abcd1234-{SECRET_PART}",  # wrong separator
        f"gmf-abcd1234_{SECRET_PART}",  # wrong separator
        f"gmf_abcd1234{SECRET_PART}",  # missing separator
        f"gmf_abcd1234_{SECRET_PART[:-1]}_",  # stray character in the secret
        f" gmf_abcd1234_{SECRET_PART}",  # surrounding whitespace
        f"gmf_abcd1234_{SECRET_PART}\n",
        f"gmf_abcd1234_{'A' * 129}",  # absurdly long
        "Bearer gmf_abcd1234_" + SECRET_PART,
    ],
)
def test_malformed_api_keys(text: str) -> None:
    with pytest.raises(InvalidApiKey) as caught:
        parse_api_key(text)
    assert SECRET_PART not in str(caught.value)
    assert not verify_api_key(text, hashlib.sha256(text.encode()).hexdigest())


R, W, A = Scope.METRICS_READ, Scope.METRICS_WRITE, Scope.ADMIN


@pytest.mark.parametrize(
    ("scopes", "metrics", "scope", "metric", "allowed"),
    [
        # the scope must be held
        ([W], None, W, "commits", True),
        ([W], None, R, None, False),
        ([R], None, R, None, True),
        ([R], None, W, "commits", False),
        ([], None, R, None, False),
        ([R, W], None, W, "commits", True),
        # the metric list restricts writes, failing closed when no metric is named
        ([W], ["commits"], W, "commits", True),
        ([W], ["commits"], W, "reviews", False),
        ([W], ["commits"], W, None, False),
        ([W], [], W, "commits", False),
        ([W], None, W, None, True),
        ([R, W], ["commits"], R, "reviews", True),
        ([R], ["commits"], R, None, True),
        # admin allows everything
        ([A], None, W, "commits", True),
        ([A], ["commits"], W, "reviews", True),
        ([A], None, R, None, True),
        ([A], None, A, None, True),
        ([W, R], None, A, None, False),
        # scopes as stored (plain strings), unknown ones ignored
        (["metrics:write"], None, "metrics:write", "commits", True),
        (["metrics:*", "root"], None, "metrics:write", "commits", False),
    ],
)
def test_allows(
    scopes: list[str], metrics: list[str] | None, scope: str, metric: str | None, allowed: bool
) -> None:
    assert allows(scopes, metrics, scope, metric) is allowed


def test_allows_refuses_an_unknown_requested_scope() -> None:
    with pytest.raises(ValueError, match="metrics:wirte"):
        allows([A], None, "metrics:wirte", None)
