"""/auth: registration, login, rotating refresh tokens, logout, and how bad credentials are refused."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from persistence.models import RefreshToken, User
from server.auth import issue_access_token

PASSWORD = "correct horse battery"


def registration(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": "Bob.Smith@Example.COM",
        "password": PASSWORD,
        "handle": "bob",
        "display_name": "Bob Smith",
        "timezone": "Europe/Paris",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# -- register --------------------------------------------------------------------------------------


async def test_register_creates_a_player_and_logs_them_in(client):
    response = await client.post("/api/v1/auth/register", json=registration())

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"user", "tokens"}
    user = body["user"]
    assert set(user) == {
        "id",
        "handle",
        "display_name",
        "email",
        "timezone",
        "avatar_url",
        "role",
        "created_at",
    }
    assert user["email"] == "bob.smith@example.com"  # lower-cased
    assert user["handle"] == "bob"
    assert user["display_name"] == "Bob Smith"
    assert user["timezone"] == "Europe/Paris"
    assert user["role"] == "player"
    assert user["avatar_url"] is None
    assert uuid.UUID(user["id"])
    created = datetime.fromisoformat(user["created_at"])
    assert created.tzinfo is not None
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    tokens = body["tokens"]
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_expires_in"] == 30 * 86_400
    assert tokens["access_token"] != tokens["refresh_token"]

    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user"] == user


async def test_register_refuses_invalid_or_taken_registrations(app, client, register, problem, subtests):
    taken = await register("bob")
    with subtests.test("email taken (in another case)"):
        body = registration(email=taken.email.upper(), handle="other")
        assert "email" in problem(await client.post("/api/v1/auth/register", json=body), 409)["detail"]
    with subtests.test("handle taken"):
        body = registration(email="someone@example.com")
        assert "handle" in problem(await client.post("/api/v1/auth/register", json=body), 409)["detail"]
    cases = {
        "weak password": (registration(password="short"), "password"),
        "unknown timezone": (registration(timezone="Mars/Olympus_Mons"), "timezone"),
        "unknown field": (registration(is_admin=True), "is_admin"),
        "upper-case handle": (registration(handle="Bob"), "handle"),
        "not an email": (registration(email="bob-at-example"), "email"),
        "blank display name": (registration(display_name="   "), "display_name"),
        "missing handle": ({k: v for k, v in registration().items() if k != "handle"}, "handle"),
    }
    for name, (body, field) in cases.items():
        with subtests.test(name):
            problem(await client.post("/api/v1/auth/register", json=body), 422, field)
    async with app.state.services.sessions() as session:
        assert list(await session.scalars(select(User.handle))) == ["bob"]


# -- login -----------------------------------------------------------------------------------------


async def test_login_by_email_or_handle_and_one_401_for_any_failure(client, register, problem):
    alice = await register("alice")
    for login in ("alice@example.com", "ALICE@Example.com", "alice"):
        response = await client.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD})
        assert response.status_code == 200, login
        tokens = response.json()
        assert set(tokens) == {
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "refresh_expires_in",
        }
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.json()["user"]["id"] == alice.id

    wrong = await client.post("/api/v1/auth/login", json={"login": "alice", "password": "not the password"})
    unknown = await client.post("/api/v1/auth/login", json={"login": "nobody", "password": PASSWORD})

    bodies = [problem(response, 401) for response in (wrong, unknown)]
    assert bodies[0] == bodies[1]
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"]
    assert wrong.headers["www-authenticate"].startswith("Bearer ")
    problem(await client.post("/api/v1/auth/login", json={"login": "alice"}), 422, "password")


# -- refresh and logout ----------------------------------------------------------------------------


async def test_refresh_rotates_the_tokens(client, player, problem):
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": player.refresh})

    assert response.status_code == 200
    tokens = response.json()
    assert tokens["refresh_token"] != player.refresh
    assert tokens["access_token"] != player.access
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["user"]["handle"] == "alice"
    # The new refresh token works once more; the old one never again.
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200
    old = await client.post("/api/v1/auth/refresh", json={"refresh_token": player.refresh})
    problem(old, 401)
    assert old.headers["www-authenticate"].startswith("Bearer ")


async def test_reusing_a_rotated_refresh_token_revokes_its_family(client, player, problem):
    other_login = await client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    newest = (await client.post("/api/v1/auth/refresh", json={"refresh_token": player.refresh})).json()

    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": player.refresh}), 401)

    # The thief's copy and the owner's newest token are both dead now ...
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": newest["refresh_token"]}), 401)
    # ... but another login (another family) is not affected.
    unrelated = other_login.json()["refresh_token"]
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": unrelated})).status_code == 200


async def test_logout_or_expiry_ends_a_refresh_token(app, client, player, problem):
    response = await client.post("/api/v1/auth/logout", json={"refresh_token": player.refresh})

    assert response.status_code == 204
    assert response.content == b""
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": player.refresh}), 401)
    problem(await client.post("/api/v1/auth/logout", json={"refresh_token": "never-issued"}), 401)
    problem(await client.post("/api/v1/auth/logout", json={}), 422, "refresh_token")

    login = await client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    async with app.state.services.sessions() as session, session.begin():
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(RefreshToken).values(expires_at=past))
    expired = await client.post("/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    problem(expired, 401)
    assert "expired" in expired.headers["www-authenticate"]


async def test_bad_access_tokens_are_refused_with_401(app, client, player, problem, subtests):
    settings = app.state.settings
    key = settings.jwt_key()
    now = datetime.now(UTC)

    def token(**changes: object) -> str:
        claims: dict[str, object] = {
            "key": key,
            "subject": player.id,
            "role": "player",
            "issuer": settings.jwt_issuer,
            "audience": settings.jwt_audience,
            "ttl_seconds": 900,
            "now": now,
        }
        claims.update(changes)
        return issue_access_token(**claims)  # type: ignore[arg-type]

    unsigned = (
        b64url({"alg": "none", "typ": "JWT"})
        + "."
        + b64url(
            {
                "sub": player.id,
                "role": "admin",
                "iss": "gamif",
                "aud": "gamif-api",
                "typ": "access",
                "jti": "x",
            }
            | {"iat": int(now.timestamp()), "nbf": int(now.timestamp()), "exp": int(now.timestamp()) + 900}
        )
    )
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token()}"})).status_code == 200
    cases = {
        "expired": {"Authorization": f"Bearer {token(now=now - timedelta(hours=1))}"},
        "forged (another key)": {"Authorization": f"Bearer {token(key=b'f' * 32)}"},
        "alg none": {"Authorization": f"Bearer {unsigned}."},
        "wrong audience": {"Authorization": f"Bearer {token(audience='someone-else')}"},
        "wrong issuer": {"Authorization": f"Bearer {token(issuer='evil')}"},
        "issued in the future": {"Authorization": f"Bearer {token(now=now + timedelta(hours=1))}"},
        "unknown user": {"Authorization": f"Bearer {token(subject=str(uuid.uuid4()))}"},
        "not a UUID subject": {"Authorization": f"Bearer {token(subject='alice')}"},
        "garbled": {"Authorization": "Bearer not.a.jwt"},
        "missing header": {},
        "another scheme": {"Authorization": f"Basic {base64.b64encode(b'alice:pw').decode()}"},
        "empty bearer": {"Authorization": "Bearer "},
    }
    for name, headers in cases.items():
        with subtests.test(name):
            response = await client.get("/api/v1/me", headers=headers)
            problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_access_follows_the_account_in_the_database_not_the_token(app, client, admin, player, problem):
    rules = {"yaml": "ruleset: x\n"}  # invalid, but only an admin gets as far as being told so
    problem(await client.put("/api/v1/rules", json=rules, headers=admin.headers), 422)
    async with app.state.services.sessions() as session, session.begin():
        await session.execute(update(User).where(User.handle == "root").values(role="player"))
        await session.execute(
            update(User).where(User.handle == "alice").values(disabled_at=datetime.now(UTC))
        )

    # A demoted admin loses admin rights at once, though the token says "admin".
    problem(await client.put("/api/v1/rules", json=rules, headers=admin.headers), 403)
    # A disabled account is locked out at once: its access token, refresh token and password.
    problem(await client.get("/api/v1/me", headers=player.headers), 401)
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": player.refresh}), 401)
    problem(await client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}), 401)
