"""POST /admin/users and /admin/tokens: admins create password-less players in bulk and mint their
access tokens (load tests, and apps that authenticate their users themselves)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from persistence.models import RefreshToken, User
from server.auth import UNUSABLE_PASSWORD
from tests.hub.cluster import HubProcess, Raw, admin_token, hub_env

USERS = "/api/v1/admin/users"
TOKENS = "/api/v1/admin/tokens"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def players(*handles: str) -> list[dict[str, str]]:
    return [{"handle": h, "display_name": h.title()} for h in handles]


async def user_count(app) -> int:
    async with app.state.services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_an_admin_creates_players_with_tokens_that_work(app, client, admin):
    body = {
        "users": [
            {"handle": "lt-1", "display_name": "Load 1", "email": "LT-1@Example.com"},
            {"handle": "lt-2", "display_name": "Load 2"},
        ],
        "issue_tokens": True,
    }
    before = datetime.now(UTC).replace(microsecond=0)

    response = await client.post(USERS, json=body, headers=admin.headers)

    assert response.status_code == 201, response.text
    created = response.json()["users"]
    assert [u["handle"] for u in created] == ["lt-1", "lt-2"]
    ttl = app.state.settings.access_token_ttl_seconds
    for user in created:
        assert set(user) == {"id", "handle", "display_name", "access_token", "expires_at"}
        expires = datetime.fromisoformat(user["expires_at"])
        assert before + timedelta(seconds=ttl) <= expires <= datetime.now(UTC) + timedelta(seconds=ttl)
        me = await client.get("/api/v1/me", headers=bearer(user["access_token"]))
        assert me.status_code == 200, me.text
        assert me.json()["user"]["id"] == user["id"]
        assert me.json()["user"]["role"] == "player"
    me = (await client.get("/api/v1/me", headers=bearer(created[0]["access_token"]))).json()["user"]
    assert me["email"] == "lt-1@example.com"
    me = (await client.get("/api/v1/me", headers=bearer(created[1]["access_token"]))).json()["user"]
    assert me["email"] is None  # created without one
    async with app.state.services.sessions() as session:
        hashes = set((await session.scalars(select(User.password_hash).where(User.role == "player"))).all())
        refresh = await session.scalar(select(func.count()).select_from(RefreshToken))
    assert hashes == {UNUSABLE_PASSWORD}
    assert refresh == 1  # the admin's login only: these are access tokens


async def test_without_issue_tokens_no_token_is_returned(client, admin):
    response = await client.post(USERS, json={"users": players("quiet")}, headers=admin.headers)

    assert response.status_code == 201, response.text
    [user] = response.json()["users"]
    assert set(user) == {"id", "handle", "display_name"}
    assert user["display_name"] == "Quiet"


async def test_only_admins_create_players(client, player, service_account, problem):
    body = {"users": players("sneaky"), "issue_tokens": True}
    key = await service_account(["admin"])

    problem(await client.post(USERS, json=body, headers=player.headers), 403)
    problem(await client.post(USERS, json=body, headers=key.headers), 403)
    problem(await client.post(USERS, json=body), 401)
    problem(await client.post(TOKENS, json={"handles": [player.handle]}, headers=player.headers), 403)
    problem(await client.post(TOKENS, json={"handles": [player.handle]}), 401)


async def test_a_clash_creates_nothing_and_names_the_handles(app, client, admin, player, problem, subtests):
    cases = {
        "handle repeated in the request": (
            players("dup-a", "fresh-1", "dup-a"),
            {"users.2.handle"},
            "dup-a",
        ),
        "email repeated in the request": (
            [
                {"handle": "mail-a", "display_name": "A", "email": "same@example.com"},
                {"handle": "mail-b", "display_name": "B", "email": "SAME@example.com"},
            ],
            {"users.1.email"},
            "mail-b",
        ),
        "existing handle": (players("fresh-2", player.handle), {"users.1.handle"}, player.handle),
        "existing email": (
            [{"handle": "fresh-3", "display_name": "F", "email": player.email.upper()}],
            {"users.0.email"},
            "fresh-3",
        ),
    }
    for name, (users, fields, named) in cases.items():
        with subtests.test(name):
            before = await user_count(app)
            response = await client.post(USERS, json={"users": users}, headers=admin.headers)
            body = problem(response, 409, *fields)
            assert {e["field"] for e in body["errors"]} == fields
            assert named in body["detail"]
            assert await user_count(app) == before


async def test_bad_bodies_are_refused(app, client, admin, problem, subtests):
    too_many = [{"handle": f"u-{i}", "display_name": "U"} for i in range(1001)]
    cases = {
        "no users": ({"users": []}, "users"),
        "more than 1000": ({"users": too_many}, "users"),
        "bad handle": ({"users": players("Not A Handle")}, "users.0.handle"),
        "blank name": ({"users": [{"handle": "ok-1", "display_name": "  "}]}, "users.0.display_name"),
        "bad email": (
            {"users": [{"handle": "ok-2", "display_name": "O", "email": "no-at"}]},
            "users.0.email",
        ),
        "placeholder email": (
            {"users": [{"handle": "ok-3", "display_name": "O", "email": "x@no-email"}]},
            "users.0.email",
        ),
        "unknown field": (
            {"users": [{"handle": "ok-4", "display_name": "O", "password": "x"}]},
            "users.0.password",
        ),
        "issue_tokens not a bool": ({"users": players("ok-5"), "issue_tokens": "maybe"}, "issue_tokens"),
    }
    before = await user_count(app)
    for name, (body, field) in cases.items():
        with subtests.test(name):
            problem(await client.post(USERS, json=body, headers=admin.headers), 422, field)
    assert await user_count(app) == before


async def test_a_thousand_players_in_one_request(app, client, admin):
    users = [{"handle": f"bulk-{i:04d}", "display_name": f"Bulk {i}"} for i in range(1000)]

    response = await client.post(USERS, json={"users": users, "issue_tokens": True}, headers=admin.headers)

    assert response.status_code == 201, response.text
    created = response.json()["users"]
    assert [u["handle"] for u in created] == [u["handle"] for u in users]
    assert len({u["access_token"] for u in created}) == 1000
    assert await user_count(app) == 1001  # and the admin


async def test_created_players_cannot_log_in_with_any_password(client, admin, problem):
    response = await client.post(USERS, json={"users": players("nopass")}, headers=admin.headers)
    assert response.status_code == 201, response.text

    for login, password in [
        ("nopass", UNUSABLE_PASSWORD),
        ("nopass", "a long enough guess"),
        ("nopass", "!"),
    ]:
        response = await client.post("/api/v1/auth/login", json={"login": login, "password": password})
        problem(response, 401)
    response = await client.post(
        "/api/v1/auth/login", json={"login": "nopass@no-email", "password": "x" * 12}
    )
    problem(response, 401)


async def test_tokens_for_existing_accounts(app, client, admin, player):
    await client.post(USERS, json={"users": players("tok-1")}, headers=admin.headers)
    body = {"handles": ["tok-1", player.handle, "tok-1"], "ttl_seconds": 120}
    before = datetime.now(UTC).replace(microsecond=0)

    response = await client.post(TOKENS, json=body, headers=admin.headers)

    assert response.status_code == 200, response.text
    tokens = response.json()["tokens"]
    assert [t["handle"] for t in tokens] == ["tok-1", player.handle]  # one per distinct handle
    assert tokens[1]["user_id"] == player.id
    for token in tokens:
        assert set(token) == {"handle", "user_id", "access_token", "expires_at"}
        expires = datetime.fromisoformat(token["expires_at"])
        assert before + timedelta(seconds=120) <= expires <= datetime.now(UTC) + timedelta(seconds=120)
        me = await client.get("/api/v1/me", headers=bearer(token["access_token"]))
        assert me.status_code == 200, me.text
        assert me.json()["user"]["handle"] == token["handle"]

    default = (await client.post(TOKENS, json={"handles": ["tok-1"]}, headers=admin.headers)).json()
    expires = datetime.fromisoformat(default["tokens"][0]["expires_at"])
    ttl = app.state.settings.access_token_ttl_seconds
    assert expires >= before + timedelta(seconds=ttl)


async def test_unknown_or_disabled_handles_get_no_token(app, client, admin, player, problem):
    body = {"handles": [player.handle, "ghost", "nobody"]}

    refused = problem(
        await client.post(TOKENS, json=body, headers=admin.headers), 404, "handles.1", "handles.2"
    )

    assert "ghost" in refused["detail"]
    assert "nobody" in refused["detail"]
    assert "access_token" not in str(refused)
    async with app.state.services.sessions() as session, session.begin():
        await session.execute(
            update(User).where(User.handle == player.handle).values(disabled_at=datetime.now(UTC))
        )
    refused = problem(
        await client.post(TOKENS, json={"handles": [player.handle]}, headers=admin.headers), 409
    )
    assert player.handle in refused["detail"]


async def test_token_requests_are_validated(client, admin, player, problem, subtests):
    cases = {
        "ttl too short": ({"handles": [player.handle], "ttl_seconds": 59}, "ttl_seconds"),
        "ttl too long": ({"handles": [player.handle], "ttl_seconds": 86_401}, "ttl_seconds"),
        "ttl not a number": ({"handles": [player.handle], "ttl_seconds": "long"}, "ttl_seconds"),
        "no handles": ({"handles": []}, "handles"),
        "more than 1000": ({"handles": [f"h-{i}" for i in range(1001)]}, "handles"),
        "bad handle": ({"handles": ["Bad Handle"]}, "handles.0"),
    }
    for name, (body, field) in cases.items():
        with subtests.test(name):
            problem(await client.post(TOKENS, json=body, headers=admin.headers), 422, field)
    for ttl in (60, 86_400):  # the bounds themselves are fine
        response = await client.post(
            TOKENS, json={"handles": [player.handle], "ttl_seconds": ttl}, headers=admin.headers
        )
        assert response.status_code == 200, response.text


async def test_the_new_routes_are_documented(client):
    document = (await client.get("/api/v1/openapi.json")).json()

    users = document["paths"][USERS]["post"]
    tokens = document["paths"][TOKENS]["post"]
    assert users["security"] == tokens["security"] == [{"bearer": []}]
    assert {"201", "401", "403", "409", "422"} <= set(users["responses"])
    assert {"200", "401", "403", "404", "409", "422"} <= set(tokens["responses"])
    schemas = document["components"]["schemas"]
    assert {"AdminUsersIn", "AdminUserIn", "AdminUsersOut", "AdminTokensIn", "AdminTokensOut"} <= set(schemas)
    assert schemas["AdminUsersIn"]["properties"]["users"]["maxItems"] == 1000


async def test_a_minted_token_authenticates_on_the_hub(tmp_path):
    """A real `gamif serve` (embedded SQLite, no Redis): the hub's `auth` accepts a minted token."""
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}", None, "", tmp_path)
    hub = HubProcess("admin-users", env)
    await hub.start()
    try:
        admin = bearer(await admin_token(hub.http, env))
        async with httpx.AsyncClient(base_url=hub.http, timeout=30) as http:
            body = {"users": players("ws-player"), "issue_tokens": True}
            response = await http.post(USERS, json=body, headers=admin)
            assert response.status_code == 201, response.text
            [user] = response.json()["users"]
            minted = await http.post(TOKENS, json={"handles": ["ws-player"]}, headers=admin)
            assert minted.status_code == 200, minted.text
        for token in (user["access_token"], minted.json()["tokens"][0]["access_token"]):
            async with Raw.open(hub.ws) as raw:
                welcome = await raw.login(token)
                assert welcome.user_id == user["id"]
    finally:
        await hub.stop()
