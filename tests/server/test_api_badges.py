"""/badges: the catalogue of the current rules' badges, with the caller's own awards; secrets stay locked."""

from __future__ import annotations

from datetime import datetime

from game import default_rules

RULES = default_rules()
SECRET = "night-shift"  # the default rules' only secret badge


async def test_the_catalogue_of_a_new_player(client, player):
    response = await client.get("/api/v1/badges", headers=player.headers)

    assert response.status_code == 200
    catalogue = response.json()
    assert catalogue["rule_version"] == 1
    badges = catalogue["badges"]
    # Every badge, in rule order; the secret one as a placeholder in its place.
    ids = [badge["id"] for badge in badges]
    assert ids == [b if not RULES.badges[b].secret else "secret-1" for b in RULES.badges]
    by_id = {badge["id"]: badge for badge in badges}
    assert by_id["committer"] == {
        "id": "committer",
        "hidden": False,
        "secret": False,
        "name": "Committer",
        "description": "Commits, lots of them.",
        "icon": None,
        "repeat": None,
        "xp": 0,
        "tiers": [
            {"name": "bronze", "threshold": 50},
            {"name": "silver", "threshold": 250},
            {"name": "gold", "threshold": 1000},
        ],
        "earned": [],
    }
    assert by_id["review-marathon"]["repeat"] == "daily"
    assert by_id["review-marathon"]["tiers"] is None
    assert by_id["level-10"]["description"] is None  # the rules give none
    assert all(badge["earned"] == [] for badge in badges)


async def test_a_secret_badge_is_a_locked_placeholder_until_earned(client, player, ingest, ago):
    locked = (await client.get("/api/v1/badges", headers=player.headers)).json()["badges"]
    placeholder = next(badge for badge in locked if badge["secret"])
    assert placeholder == {
        "id": "secret-1",
        "hidden": True,
        "secret": True,
        "name": None,
        "description": None,
        "icon": None,
        "repeat": None,
        "xp": None,
        "tiers": None,
        "earned": [],
    }
    text = str(locked)
    assert SECRET not in text
    assert RULES.badges[SECRET].name not in text
    assert "tickets_closed" not in text  # nor anything of its criteria

    events = [
        {"id": f"t{i}", "metric": "tickets_closed", "value": 50, "occurred_at": ago(minutes=5 + i)}
        for i in range(2)
    ]
    assert (await ingest(player.headers, events)).status_code == 202

    badges = (await client.get("/api/v1/badges", headers=player.headers)).json()["badges"]
    assert "secret-1" not in {badge["id"] for badge in badges}
    earned = next(badge for badge in badges if badge["id"] == SECRET)
    assert earned["hidden"] is False
    assert earned["secret"] is True
    assert earned["name"] == "Night shift"
    assert earned["description"] == RULES.badges[SECRET].description
    [award] = earned["earned"]
    assert (award["key"], award["tier"], award["period"]) == (SECRET, None, None)
    assert datetime.fromisoformat(award["earned_at"]).tzinfo is not None
    # The same award /me lists.
    me = (await client.get("/api/v1/me", headers=player.headers)).json()
    [listed] = [badge for badge in me["badges"] if badge["badge_id"] == SECRET]
    assert datetime.fromisoformat(listed["earned_at"]) == datetime.fromisoformat(award["earned_at"])


async def test_earned_tiers_are_listed(client, register, service_account, ingest, ago):
    other = await register("bob")
    key = await service_account(["metrics:write"])
    events = [
        {
            "id": f"i{i}",
            "user": "bob",
            "metric": "incidents_resolved",
            "value": 6,
            "occurred_at": ago(minutes=i),
        }
        for i in (10, 11)
    ]
    events.append({"id": "c1", "user": "bob", "metric": "commits", "value": 1, "occurred_at": ago(minutes=9)})
    assert (await ingest(key.headers, events)).json()["accepted"] == len(events)

    by_id = {b["id"]: b for b in (await client.get("/api/v1/badges", headers=other.headers)).json()["badges"]}

    assert [award["tier"] for award in by_id["firefighter"]["earned"]] == ["bronze", "silver"]
    assert [award["key"] for award in by_id["firefighter"]["earned"]] == [
        "firefighter:bronze",
        "firefighter:silver",
    ]
    assert [award["key"] for award in by_id["first-commit"]["earned"]] == ["first-commit"]
    assert by_id["committer"]["earned"] == []
    # Resolving ten incidents earns the secret badge too: shown in full, for this player only.
    assert by_id[SECRET]["name"] == "Night shift"


async def test_only_people_see_the_catalogue(client, service_account, problem):
    key = await service_account(["metrics:write"])
    problem(await client.get("/api/v1/badges", headers=key.headers), 403)
    problem(await client.get("/api/v1/badges"), 401)
