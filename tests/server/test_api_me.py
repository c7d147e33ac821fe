"""/me, /me/ledger and /users/{handle}: a player's progress, explained, and public profiles."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LEVEL_KEYS = {"level", "xp", "level_xp", "next_level_xp", "progress"}


def current_periods(timezone: str) -> dict[str, str]:
    today = datetime.now(ZoneInfo(timezone)).date()
    monday = today - timedelta(days=today.weekday())
    return {"daily": today.isoformat(), "weekly": f"week of {monday.isoformat()}"}


async def test_me_of_a_new_player(client, register):
    carol = await register("carol", timezone="Asia/Tokyo")

    response = await client.get("/api/v1/me", headers=carol.headers)

    assert response.status_code == 200
    me = response.json()
    assert set(me) == {
        "user",
        "level",
        "badges",
        "locked_badges",
        "streaks",
        "missions",
        "teams",
        "rule_version",
    }
    assert me["user"]["email"] == "carol@example.com"
    assert me["user"]["timezone"] == "Asia/Tokyo"
    assert me["level"] == {"level": 1, "xp": 0, "level_xp": 0, "next_level_xp": 100, "progress": 0.0}
    assert me["badges"] == []
    assert me["teams"] == []
    assert me["rule_version"] == 1
    locked = {badge["badge_id"]: badge for badge in me["locked_badges"]}
    assert "night-shift" not in locked  # secret, and not earned
    assert locked["committer"] == {
        "badge_id": "committer",
        "name": "Committer",
        "description": "Commits, lots of them.",
        "tiers": ["bronze", "silver", "gold"],
        "earned_tiers": [],
    }
    assert {"first-commit", "reviewer", "well-rounded", "level-10"} <= set(locked)
    assert me["streaks"] == [
        {"streak_id": "shipping", "name": "Shipping streak", "current": 0, "best": 0, "freezes": 2},
        {"streak_id": "reviewing", "name": "Review streak", "current": 0, "best": 0, "freezes": 2},
    ]
    # Missions of the current periods, in the player's own timezone.
    periods = current_periods("Asia/Tokyo")
    missions = {mission["mission_id"]: mission for mission in me["missions"]}
    assert {"daily-reviews", "weekly-reviews", "weekly-shipping"} <= set(missions)
    assert missions["daily-reviews"] == {
        "mission_id": "daily-reviews",
        "name": "Review three pull requests today",
        "period": periods["daily"],
        "progress": 0.0,
        "goal": 3.0,
        "completed": False,
        "reward_xp": 20,
    }
    assert missions["weekly-reviews"]["period"] == periods["weekly"]


async def test_me_shows_progress_with_explanations(client, admin, player, service_account, ingest, ago):
    key = await service_account(["metrics:write"])
    now = ago(seconds=1)  # today's missions
    events = [
        {"id": "c1", "user": "alice", "metric": "commits", "value": 3, "occurred_at": now},
        {"id": "r1", "user": "alice", "metric": "reviews_done", "value": 4, "occurred_at": now},
        {"id": "i1", "user": "alice", "metric": "incidents_resolved", "value": 1, "occurred_at": now},
    ]
    assert (await ingest(key.headers, events)).status_code == 202
    await client.post("/api/v1/teams", json={"slug": "core", "name": "Core"}, headers=admin.headers)
    await client.put("/api/v1/teams/core/members/alice", headers=admin.headers)

    me = (await client.get("/api/v1/me", headers=player.headers)).json()

    # commits 3 x 2 + reviews 4 x 10 + incident 60 + the daily review mission's 20
    assert me["level"] == {"level": 2, "xp": 126, "level_xp": 100, "next_level_xp": 280, "progress": 0.1444}
    badges = {badge["badge_id"]: badge for badge in me["badges"]}
    assert set(badges) == {"first-commit", "firefighter"}
    assert badges["firefighter"]["tier"] == "bronze"
    assert badges["firefighter"]["secret"] is False
    assert badges["firefighter"]["period"] is None
    assert "incidents_resolved total 1" in badges["firefighter"]["explanation"]
    assert badges["firefighter"]["summary"] == "Badge: Firefighter (bronze)"
    assert datetime.fromisoformat(badges["first-commit"]["earned_at"]).tzinfo is not None
    locked = {badge["badge_id"]: badge for badge in me["locked_badges"]}
    assert "first-commit" not in locked  # earned, once-only
    assert locked["firefighter"]["earned_tiers"] == ["bronze"]  # silver and gold to go
    streaks = {streak["streak_id"]: streak for streak in me["streaks"]}
    assert streaks["shipping"]["current"] == streaks["shipping"]["best"] == 1
    missions = {mission["mission_id"]: mission for mission in me["missions"]}
    assert missions["daily-reviews"]["completed"] is True
    assert missions["weekly-reviews"]["progress"] == 4.0
    assert missions["weekly-reviews"]["completed"] is False
    assert me["teams"] == ["core"]

    ledger = (await client.get("/api/v1/me/ledger", headers=player.headers)).json()
    assert ledger["next_cursor"] is None
    assert sum(item["amount"] for item in ledger["items"]) == 126
    by_rule = {item["rule_id"]: item for item in ledger["items"]}
    commits = by_rule["metrics.commits"]
    assert commits["amount"] == 6
    assert commits["source"] == "metric"
    assert commits["metric"] == "commits"
    assert commits["event_ids"] == ["c1"]
    assert commits["rule_version"] == 1
    assert "3 commits × 2 XP" in commits["explanation"]
    # Beside the arithmetic, the award in a person's words, from the rules' phrase for the metric.
    assert commits["summary"] == "Pushed 3 commits"
    assert by_rule["metrics.incidents_resolved"]["summary"] == "Resolved an incident"
    assert by_rule["missions.daily-reviews"]["summary"] == "Mission: Review three pull requests today"
    assert by_rule["missions.daily-reviews"]["amount"] == 20
    assert by_rule["missions.daily-reviews"]["event_ids"] == ["r1"]


async def test_a_secret_badge_shows_once_earned(client, player, ingest, ago):
    events = [
        {"id": f"t{i}", "metric": "tickets_closed", "value": 50, "occurred_at": ago(minutes=5 + i)}
        for i in range(2)
    ]
    assert (await ingest(player.headers, events)).status_code == 202

    me = (await client.get("/api/v1/me", headers=player.headers)).json()

    secret = [badge for badge in me["badges"] if badge["badge_id"] == "night-shift"]
    assert len(secret) == 1
    assert secret[0]["secret"] is True
    assert secret[0]["name"] == "Night shift"
    assert "night-shift" not in {badge["badge_id"] for badge in me["locked_badges"]}


async def test_the_ledger_pages_newest_first_without_gaps_or_overlaps(client, player, ingest, ago):
    events = [
        {"id": f"t-{i}", "metric": "tickets_closed", "value": 1, "occurred_at": ago(days=i + 1)}
        for i in range(5)
    ]  # one ledger line a day
    assert (await ingest(player.headers, events)).status_code == 202
    everything = (await client.get("/api/v1/me/ledger?limit=200", headers=player.headers)).json()
    assert len(everything["items"]) == 5
    assert everything["next_cursor"] is None
    ids = [item["id"] for item in everything["items"]]
    assert ids == sorted(ids, reverse=True)

    pages, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/me/ledger", params=params, headers=player.headers)
        assert response.status_code == 200
        page = response.json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    me = (await client.get("/api/v1/me", headers=player.headers)).json()
    assert sum(item["amount"] for item in everything["items"]) == me["level"]["xp"] == 40


async def test_bad_ledger_queries_are_422_naming_the_parameter(client, player, problem, subtests):
    def cursor(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    cases = {
        "garbage cursor": ({"cursor": "not-a-cursor!"}, "cursor"),
        "cursor of another kind": ({"cursor": cursor("v1:some-team")}, "cursor"),
        "cursor of another version": ({"cursor": cursor("v2:10")}, "cursor"),
        "negative cursor": ({"cursor": cursor("v1:-1")}, "cursor"),
        "limit 0": ({"limit": 0}, "limit"),
        "limit 201": ({"limit": 201}, "limit"),
        "limit not a number": ({"limit": "ten"}, "limit"),
        "unknown parameter": ({"offset": 10}, "offset"),
    }
    for name, (params, field) in cases.items():
        with subtests.test(name):
            response = await client.get("/api/v1/me/ledger", params=params, headers=player.headers)
            problem(response, 422, field)


async def test_me_is_for_people_not_api_keys(client, service_account, problem):
    key = await service_account(["metrics:write", "metrics:read"])

    for path in ("/api/v1/me", "/api/v1/me/ledger", "/api/v1/users/root"):
        problem(await client.get(path, headers=key.headers), 403)
        problem(await client.get(path), 401)


async def test_a_public_profile_shows_progress_but_no_email(client, register, ingest, ago, problem):
    alice, bob = await register("alice"), await register("bob")
    event = {"id": "a1", "metric": "tickets_closed", "value": 2, "occurred_at": ago()}
    assert (await ingest(alice.headers, [event])).status_code == 202
    # Each ledger is its owner's own.
    assert len((await client.get("/api/v1/me/ledger", headers=alice.headers)).json()["items"]) == 1
    assert (await client.get("/api/v1/me/ledger", headers=bob.headers)).json() == {
        "items": [],
        "next_cursor": None,
    }

    response = await client.get("/api/v1/users/alice", headers=bob.headers)

    assert response.status_code == 200
    profile = response.json()
    assert set(profile) == {"handle", "display_name", "avatar_url", "level", "badges", "streaks", "teams"}
    assert "alice@example.com" not in response.text
    assert profile["handle"] == "alice"
    assert profile["display_name"] == "Alice"
    assert set(profile["level"]) == LEVEL_KEYS
    assert profile["level"]["xp"] == 16
    assert profile["teams"] == []
    assert [streak["streak_id"] for streak in profile["streaks"]] == ["shipping", "reviewing"]
    body = problem(await client.get("/api/v1/users/nobody", headers=bob.headers), 404)
    assert "nobody" in body["detail"]
