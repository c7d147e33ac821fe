"""/teams: everyone lists and reads; admins create, edit, archive and manage members (with history)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from persistence.models import Team, TeamMembership, User

TEAM_KEYS = {"slug", "name", "description", "created_at", "archived_at", "members"}


async def make_team(client, admin, slug: str, name: str = "", description: str = "") -> dict[str, object]:
    body = {"slug": slug, "name": name or slug.title(), "description": description}
    response = await client.post("/api/v1/teams", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_admin_creates_a_team_that_players_can_read(client, admin, player, problem):
    response = await client.post(
        "/api/v1/teams",
        json={"slug": "platform", "name": "Platform", "description": "Keeps the lights on"},
        headers=admin.headers,
    )

    assert response.status_code == 201
    team = response.json()
    assert set(team) == TEAM_KEYS
    assert team["slug"] == "platform"
    assert team["name"] == "Platform"
    assert team["description"] == "Keeps the lights on"
    assert team["archived_at"] is None
    assert team["members"] == 0
    assert abs(datetime.now(UTC) - datetime.fromisoformat(team["created_at"])) < timedelta(minutes=1)

    listed = (await client.get("/api/v1/teams", headers=player.headers)).json()
    assert listed == {"items": [team], "next_cursor": None}
    detail = await client.get("/api/v1/teams/platform", headers=player.headers)
    assert detail.status_code == 200
    assert detail.json() == team | {"member_list": []}
    problem(await client.get("/api/v1/teams"), 401)
    problem(await client.get("/api/v1/teams/platform"), 401)
    missing = problem(await client.get("/api/v1/teams/ghosts", headers=player.headers), 404)
    assert "ghosts" in missing["detail"]


async def test_team_creation_is_validated(client, admin, problem, subtests):
    await make_team(client, admin, "platform")
    cases = {
        "slug taken": ({"slug": "platform", "name": "Again"}, 409, None),
        "upper-case slug": ({"slug": "Platform", "name": "P"}, 422, "slug"),
        "slug with a space": ({"slug": "the team", "name": "P"}, 422, "slug"),
        "one-character slug": ({"slug": "p", "name": "P"}, 422, "slug"),
        "no name": ({"slug": "plat"}, 422, "name"),
        "unknown field": ({"slug": "plat", "name": "P", "colour": "red"}, 422, "colour"),
        "description too long": (
            {"slug": "plat", "name": "P", "description": "x" * 2001},
            422,
            "description",
        ),
    }
    for name, (body, status, field) in cases.items():
        with subtests.test(name):
            response = await client.post("/api/v1/teams", json=body, headers=admin.headers)
            problem(response, status, *([field] if field else []))
    teams = (await client.get("/api/v1/teams", headers=admin.headers)).json()["items"]
    assert [team["slug"] for team in teams] == ["platform"]


async def test_an_admin_renames_and_describes_a_team(client, admin, player, problem):
    await make_team(client, admin, "platform", "Platform", "old")

    renamed = await client.patch("/api/v1/teams/platform", json={"name": "Infra"}, headers=admin.headers)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Infra"
    assert renamed.json()["description"] == "old"  # left out, left alone
    described = await client.patch("/api/v1/teams/platform", json={"description": ""}, headers=admin.headers)
    assert (described.json()["name"], described.json()["description"]) == ("Infra", "")
    detail = (await client.get("/api/v1/teams/platform", headers=player.headers)).json()
    assert (detail["name"], detail["description"]) == ("Infra", "")

    problem(await client.patch("/api/v1/teams/nope", json={"name": "X"}, headers=admin.headers), 404)
    problem(
        await client.patch("/api/v1/teams/platform", json={"name": ""}, headers=admin.headers), 422, "name"
    )
    problem(
        await client.patch("/api/v1/teams/platform", json={"slug": "x"}, headers=admin.headers), 422, "slug"
    )


async def test_archived_teams_are_hidden_unless_asked_for(client, admin, player, problem):
    await make_team(client, admin, "alpha")
    await make_team(client, admin, "beta")

    response = await client.post("/api/v1/teams/alpha/archive", headers=admin.headers)

    assert response.status_code == 200
    archived = response.json()
    assert archived["archived_at"] is not None
    again = await client.post("/api/v1/teams/alpha/archive", headers=admin.headers)  # idempotent
    assert again.json()["archived_at"] == archived["archived_at"]
    listed = (await client.get("/api/v1/teams", headers=player.headers)).json()["items"]
    assert [team["slug"] for team in listed] == ["beta"]
    everything = await client.get("/api/v1/teams?include_archived=true", headers=player.headers)
    assert [team["slug"] for team in everything.json()["items"]] == ["alpha", "beta"]
    # Archived teams can still be read, but no longer changed.
    assert (await client.get("/api/v1/teams/alpha", headers=player.headers)).status_code == 200
    problem(await client.patch("/api/v1/teams/alpha", json={"name": "A"}, headers=admin.headers), 409)
    problem(await client.put("/api/v1/teams/alpha/members/alice", headers=admin.headers), 409)
    problem(await client.post("/api/v1/teams/nope/archive", headers=admin.headers), 404)
    problem(
        await client.get("/api/v1/teams?include_archived=maybe", headers=player.headers),
        422,
        "include_archived",
    )


async def test_members_come_and_go_and_their_history_is_kept(app, client, admin, register, problem):
    alice, _ = await register("alice"), await register("bob")
    await make_team(client, admin, "core")

    first = await client.put("/api/v1/teams/core/members/alice", headers=admin.headers)
    assert first.status_code == 204
    assert first.content == b""
    assert (await client.put("/api/v1/teams/core/members/alice", headers=admin.headers)).status_code == 204
    assert (await client.put("/api/v1/teams/core/members/bob", headers=admin.headers)).status_code == 204
    detail = (await client.get("/api/v1/teams/core", headers=alice.headers)).json()
    assert detail["members"] == 2
    assert [(m["handle"], m["display_name"]) for m in detail["member_list"]] == [
        ("alice", "Alice"),
        ("bob", "Bob"),
    ]
    assert all(datetime.fromisoformat(m["joined_at"]).tzinfo for m in detail["member_list"])
    assert (await client.get("/api/v1/me", headers=alice.headers)).json()["teams"] == ["core"]

    removed = await client.delete("/api/v1/teams/core/members/alice", headers=admin.headers)
    assert removed.status_code == 204
    assert (await client.get("/api/v1/teams", headers=alice.headers)).json()["items"][0]["members"] == 1
    assert (await client.get("/api/v1/me", headers=alice.headers)).json()["teams"] == []
    assert (await client.put("/api/v1/teams/core/members/alice", headers=admin.headers)).status_code == 204

    async with app.state.services.sessions() as session:
        rows = (
            await session.execute(
                select(TeamMembership.joined_at, TeamMembership.left_at)
                .join(User, User.id == TeamMembership.user_id)
                .join(Team, Team.id == TeamMembership.team_id)
                .where(User.handle == "alice", Team.slug == "core")
                .order_by(TeamMembership.id)
            )
        ).all()
    assert len(rows) == 2  # the first membership is kept, closed; re-joining opens a new one
    (joined, left), (rejoined, still) = rows
    assert joined <= left <= rejoined
    assert still is None

    # Who is not a member (any more) cannot be removed; who or what does not exist is not found.
    assert (await client.delete("/api/v1/teams/core/members/bob", headers=admin.headers)).status_code == 204
    problem(await client.delete("/api/v1/teams/core/members/bob", headers=admin.headers), 404)
    problem(await client.put("/api/v1/teams/core/members/nobody", headers=admin.headers), 404)
    problem(await client.put("/api/v1/teams/nope/members/alice", headers=admin.headers), 404)
    problem(await client.delete("/api/v1/teams/nope/members/alice", headers=admin.headers), 404)


async def test_players_and_api_keys_may_not_manage_teams(
    client, admin, player, service_account, problem, subtests
):
    await make_team(client, admin, "core")
    key = await service_account(["admin"])
    calls = {
        "create": ("POST", "/api/v1/teams", {"slug": "mine", "name": "Mine"}),
        "update": ("PATCH", "/api/v1/teams/core", {"name": "Mine"}),
        "archive": ("POST", "/api/v1/teams/core/archive", None),
        "add member": ("PUT", "/api/v1/teams/core/members/alice", None),
        "remove member": ("DELETE", "/api/v1/teams/core/members/alice", None),
    }
    for name, (method, path, body) in calls.items():
        for who, headers in (("player", player.headers), ("API key with admin scope", key.headers)):
            with subtests.test(f"{who}: {name}"):
                response = await client.request(method, path, json=body, headers=headers)
                problem(response, 403)
        with subtests.test(f"anonymous: {name}"):
            problem(await client.request(method, path, json=body), 401)
    detail = (await client.get("/api/v1/teams/core", headers=admin.headers)).json()
    assert (detail["name"], detail["archived_at"], detail["members"]) == ("Core", None, 0)


async def test_teams_are_paged_by_slug(client, admin, player, problem):
    for slug in ("echo", "alpha", "delta", "charlie", "bravo"):
        await make_team(client, admin, slug)
    await client.post("/api/v1/teams/charlie/archive", headers=admin.headers)

    pages, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/teams", params=params, headers=player.headers)).json()
        pages.append([team["slug"] for team in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == [["alpha", "bravo"], ["delta", "echo"]]
    tampered = base64.urlsafe_b64encode(b"v9:alpha").decode()
    problem(
        await client.get("/api/v1/teams", params={"cursor": tampered}, headers=player.headers), 422, "cursor"
    )
    problem(await client.get("/api/v1/teams", params={"limit": 0}, headers=player.headers), 422, "limit")
