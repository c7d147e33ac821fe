"""/challenges: admins define and edit team challenges; everyone signed in reads them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from persistence.models import Challenge

OUT_KEYS = {"definition", "state", "version", "created_at", "started_at", "finished_at", "results"}


def at(**delta: float) -> str:
    """An instant relative to now, as ISO 8601 with an offset."""
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def definition(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "november-reviews",
        "name": "November review sprint",
        "metrics": ["reviews_done"],
        "starts_at": at(days=1),
        "ends_at": at(days=8),
        "teams": ["platform", "web"],
        "rewards": [{"rank": 1, "xp": 200, "badge": "reviewer"}, {"rank": 2, "xp": 100}],
    }
    return body | changes


async def make_teams(client, admin, *slugs: str) -> None:
    for slug in slugs or ("platform", "web"):
        response = await client.post(
            "/api/v1/teams", json={"slug": slug, "name": slug}, headers=admin.headers
        )
        assert response.status_code == 201, response.text


async def create(client, admin, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/challenges", json=definition(**changes), headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def set_state(app, challenge_id: str, state: str) -> None:
    """What the lifecycle tasks (not written yet) will do."""
    async with app.state.services.sessions() as session, session.begin():
        await session.execute(update(Challenge).where(Challenge.id == challenge_id).values(state=state))


async def test_an_admin_defines_a_challenge_that_players_can_read(client, admin, player):
    await make_teams(client, admin)
    body = definition(timezone="Europe/Paris")

    response = await client.post("/api/v1/challenges", json=body, headers=admin.headers)

    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == OUT_KEYS
    assert created["state"] == "scheduled"
    assert created["version"] == 1
    assert (created["started_at"], created["finished_at"], created["results"]) == (None, None, None)
    assert abs(datetime.now(UTC) - datetime.fromisoformat(created["created_at"])) < timedelta(minutes=1)
    shown = created["definition"]
    assert shown["id"] == "november-reviews"
    assert shown["metrics"] == ["reviews_done"]
    assert shown["teams"] == ["platform", "web"]
    assert (shown["scoring"], shown["mode"], shown["grace_seconds"]) == ("sum", "highest", 3600)
    assert datetime.fromisoformat(shown["starts_at"]) == datetime.fromisoformat(body["starts_at"])
    assert shown["rewards"][0] == {"rank": 1, "xp": 200, "badge": "reviewer"}

    read = await client.get("/api/v1/challenges/november-reviews", headers=player.headers)
    assert read.status_code == 200
    assert read.json() == created
    listed = (await client.get("/api/v1/challenges", headers=player.headers)).json()
    assert listed == {"items": [created], "next_cursor": None}


async def test_challenges_are_listed_newest_first_by_state_and_page_by_page(app, client, admin, player):
    await make_teams(client, admin)
    for day in range(1, 6):
        await create(client, admin, id=f"sprint-{day}", starts_at=at(days=day), ends_at=at(days=day + 10))
    await set_state(app, "sprint-2", "live")
    await set_state(app, "sprint-4", "finished")

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/challenges", params=params, headers=player.headers)).json()
        assert len(page["items"]) <= 2
        seen += [item["definition"]["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["sprint-5", "sprint-4", "sprint-3", "sprint-2", "sprint-1"]

    async def ids(state: str) -> list[str]:
        response = await client.get("/api/v1/challenges", params={"state": state}, headers=player.headers)
        assert response.status_code == 200, response.text
        return [item["definition"]["id"] for item in response.json()["items"]]

    assert await ids("scheduled") == ["sprint-5", "sprint-3", "sprint-1"]
    assert await ids("live") == ["sprint-2"]
    assert await ids("finished") == ["sprint-4"]
    assert await ids("closing") == []


async def test_a_live_challenge_past_its_end_is_closing(app, client, admin, player):
    await make_teams(client, admin)
    await create(client, admin, starts_at=at(days=-2), ends_at=at(minutes=1))
    await set_state(app, "november-reviews", "live")
    async with app.state.services.sessions() as session, session.begin():
        # Its window ended a minute ago (the API refuses to define one that has: the test moves it).
        ended = datetime.now(UTC) - timedelta(minutes=1)
        await session.execute(
            update(Challenge).where(Challenge.id == "november-reviews").values(ends_at=ended)
        )
        row = await session.get(Challenge, "november-reviews")
        assert row is not None
        row.definition = row.definition | {"ends_at": ended.isoformat()}

    read = (await client.get("/api/v1/challenges/november-reviews", headers=player.headers)).json()
    assert read["state"] == "closing"
    closing = await client.get("/api/v1/challenges", params={"state": "closing"}, headers=player.headers)
    assert [item["definition"]["id"] for item in closing.json()["items"]] == ["november-reviews"]
    live = await client.get("/api/v1/challenges", params={"state": "live"}, headers=player.headers)
    assert live.json()["items"] == []


async def test_a_definition_is_refused_naming_each_field_at_fault(client, admin, problem, subtests):
    await make_teams(client, admin, "platform", "web", "legacy")
    archived = await client.post("/api/v1/teams/legacy/archive", headers=admin.headers)
    assert archived.status_code == 200
    cases = {
        "ends before it starts": (definition(ends_at=at(hours=1)), ["ends_at"]),
        "unknown metric": (definition(metrics=["coffees"]), ["metrics.0"]),
        "unknown team": (definition(teams=["platform", "ghosts"]), ["teams.1"]),
        "archived team": (definition(teams=["legacy", "web"]), ["teams.0"]),
        "highest with a goal": (definition(goal=100), ["goal"]),
        "first_to_goal without a goal": (definition(mode="first_to_goal"), ["goal"]),
        "unknown badge": (definition(rewards=[{"rank": 1, "badge": "no-such-badge"}]), ["rewards.0.badge"]),
        "window already ended": (definition(starts_at=at(days=-9), ends_at=at(days=-2)), ["ends_at"]),
        "unknown key": (definition(colour="red"), ["colour"]),
        "several at once": (
            definition(metrics=["coffees"], teams=["platform", "ghosts"]),
            ["metrics.0", "teams.1"],
        ),
        "NUL in the name": (definition(name="Sprint\x00"), ["name"]),
        "a blank name": (definition(name="\n \u3000"), ["name"]),
    }
    for name, (body, fields) in cases.items():
        with subtests.test(name):
            response = await client.post("/api/v1/challenges", json=body, headers=admin.headers)
            refused = problem(response, 422, *fields)
            assert "body" not in [error["field"] for error in refused["errors"]]
    listed = await client.get("/api/v1/challenges", headers=admin.headers)
    assert listed.json()["items"] == []


async def test_a_cross_field_error_is_reported_at_its_field_with_its_message(client, admin, problem):
    await make_teams(client, admin)
    response = await client.post(
        "/api/v1/challenges", json=definition(ends_at=at(hours=1)), headers=admin.headers
    )
    body = problem(response, 422, "ends_at")
    assert body["errors"] == [
        {"field": "ends_at", "message": "must be after starts_at", "code": "value_error"}
    ]


async def test_a_taken_id_is_409(client, admin, problem):
    await make_teams(client, admin)
    first = await create(client, admin)

    response = await client.post("/api/v1/challenges", json=definition(name="Again"), headers=admin.headers)

    assert "november-reviews" in problem(response, 409)["detail"]
    read = await client.get("/api/v1/challenges/november-reviews", headers=admin.headers)
    assert read.json() == first


async def test_players_may_not_define_or_edit_and_strangers_not_even_read(client, admin, player, problem):
    await make_teams(client, admin)
    await create(client, admin)

    problem(await client.post("/api/v1/challenges", json=definition(id="mine"), headers=player.headers), 403)
    patch = {"version": 1, "name": "Hijacked"}
    problem(
        await client.patch("/api/v1/challenges/november-reviews", json=patch, headers=player.headers), 403
    )
    problem(await client.get("/api/v1/challenges"), 401)
    problem(await client.get("/api/v1/challenges/november-reviews"), 401)
    problem(await client.post("/api/v1/challenges", json=definition(id="mine")), 401)
    problem(await client.patch("/api/v1/challenges/november-reviews", json=patch), 401)
    read = (await client.get("/api/v1/challenges/november-reviews", headers=player.headers)).json()
    assert read["definition"]["name"] == "November review sprint"
    assert read["version"] == 1


async def test_an_unknown_challenge_is_404(client, admin, player, problem):
    problem(await client.get("/api/v1/challenges/ghost-sprint", headers=player.headers), 404)
    patch = {"version": 1, "name": "X"}
    problem(await client.patch("/api/v1/challenges/ghost-sprint", json=patch, headers=admin.headers), 404)


async def test_a_scheduled_challenge_may_change_anything_but_its_id(client, admin, problem):
    await make_teams(client, admin, "platform", "web", "mobile")
    await create(client, admin)
    url = "/api/v1/challenges/november-reviews"
    patch = {
        "version": 1,
        "name": "Review sprint",
        "metrics": ["reviews_done", "prs_merged"],
        "mode": "first_to_goal",
        "goal": 50,
        "teams": None,
        "completion_reward": {"xp": 50},
    }

    response = await client.patch(url, json=patch, headers=admin.headers)

    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["version"] == 2
    shown = edited["definition"]
    assert shown["name"] == "Review sprint"
    assert shown["metrics"] == ["reviews_done", "prs_merged"]
    assert (shown["mode"], shown["goal"], shown["teams"]) == ("first_to_goal", 50, None)
    assert shown["rewards"][0]["rank"] == 1  # left out, left alone
    assert (await client.get(url, headers=admin.headers)).json() == edited

    again = await client.patch(url, json={"version": 2, "description": "Go"}, headers=admin.headers)
    assert again.json()["version"] == 3
    problem(await client.patch(url, json={"version": 3, "id": "renamed"}, headers=admin.headers), 422, "id")
    invalid = {"version": 3, "mode": "highest"}  # the goal and completion_reward would be left dangling
    problem(await client.patch(url, json=invalid, headers=admin.headers), 422, "goal")
    problem(
        await client.patch(url, json={"version": 3, "teams": ["web", "ghosts"]}, headers=admin.headers),
        422,
        "teams.1",
    )
    assert (await client.get(url, headers=admin.headers)).json()["version"] == 3


async def test_a_stale_version_is_409_and_changes_nothing(client, admin, problem):
    await make_teams(client, admin)
    await create(client, admin)
    url = "/api/v1/challenges/november-reviews"
    first = await client.patch(url, json={"version": 1, "name": "First"}, headers=admin.headers)
    assert first.status_code == 200

    stale = await client.patch(url, json={"version": 1, "name": "Second"}, headers=admin.headers)

    assert "version 2 is current" in problem(stale, 409)["detail"]
    read = (await client.get(url, headers=admin.headers)).json()
    assert (read["definition"]["name"], read["version"]) == ("First", 2)


async def test_a_live_challenge_may_change_its_name_and_end_later_but_not_its_metrics(
    app, client, admin, problem
):
    """Locked fields of a live challenge are a 422 naming each (like any invalid field), not a 409."""
    await make_teams(client, admin)
    created = await create(client, admin)
    await set_state(app, "november-reviews", "live")
    url = "/api/v1/challenges/november-reviews"
    later = (datetime.fromisoformat(created["definition"]["ends_at"]) + timedelta(days=2)).isoformat()

    response = await client.patch(
        url, json={"version": 1, "name": "Longer sprint", "ends_at": later}, headers=admin.headers
    )

    assert response.status_code == 200, response.text
    edited = response.json()
    assert (edited["state"], edited["version"], edited["definition"]["name"]) == ("live", 2, "Longer sprint")
    assert datetime.fromisoformat(edited["definition"]["ends_at"]) == datetime.fromisoformat(later)

    locked = await client.patch(
        url, json={"version": 2, "metrics": ["commits"], "min_members": 3}, headers=admin.headers
    )
    problem(locked, 422, "metrics", "min_members")
    earlier = await client.patch(url, json={"version": 2, "ends_at": at(days=3)}, headers=admin.headers)
    problem(earlier, 422, "ends_at")
    same = await client.patch(url, json={"version": 2, "metrics": ["reviews_done"]}, headers=admin.headers)
    assert same.status_code == 200  # sending a locked field unchanged is fine (and makes no new version)
    assert same.json()["version"] == 2
    assert (await client.get(url, headers=admin.headers)).json() == edited


async def test_a_finished_challenge_is_409(app, client, admin, problem):
    await make_teams(client, admin)
    await create(client, admin)
    await set_state(app, "november-reviews", "finished")

    response = await client.patch(
        "/api/v1/challenges/november-reviews", json={"version": 1, "name": "Too late"}, headers=admin.headers
    )

    assert "finished" in problem(response, 409)["detail"]
    read = (await client.get("/api/v1/challenges/november-reviews", headers=admin.headers)).json()
    assert read["definition"]["name"] == "November review sprint"


async def test_a_tampered_cursor_or_unknown_state_is_422(client, player, problem):
    response = await client.get("/api/v1/challenges", params={"cursor": "djE6bm9wZQ"}, headers=player.headers)
    problem(response, 422, "cursor")
    problem(
        await client.get("/api/v1/challenges", params={"state": "paused"}, headers=player.headers),
        422,
        "state",
    )


async def test_the_document_refuses_the_names_the_server_refuses(client):
    # Blank names are refused (the definition strips them to nothing): the OpenAPI document says so, so
    # that a client generated from it does not send one (schemathesis checks the server keeps to it).
    document = (await client.get("/api/v1/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for model in ("ChallengeIn", "ChallengePatch"):
        name = schemas[model]["properties"]["name"]
        pattern = re.compile(name.get("pattern") or name["anyOf"][0]["pattern"])
        assert [bool(pattern.search(text)) for text in ("Sprint", "\n", " \u3000\x1c", "a\x00")] == [
            True,
            False,
            False,
            False,
        ], model
