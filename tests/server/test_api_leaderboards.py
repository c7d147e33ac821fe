"""/leaderboards: pages of a board, the rows around a user, team standings; always the live topics' numbers.

Embedded (SQLite and PostgreSQL, no Redis) the topics' documents are computed from the database; on Redis
they are the Redis boards' rows: the endpoint must agree with the topic either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

from game import MetricEvent
from persistence.scoring import Submission
from server.app import create_app
from server.auth import passwords
from server.config import Settings
from tasks.scoring_step import ScoringStep

# Commits (2 XP each) per player: ana and ben tie, eve has none.
COMMITS = {"ana": 5, "ben": 5, "chloe": 9, "dan": 1, "fay": 3, "gus": 7}
ROW_KEYS = {"rank", "member", "handle", "display_name", "score"}


async def topic_document(app: Starlette, topic: str) -> dict[str, Any]:
    """The topic's document, as a subscriber's snapshot gets it once the changes made so far are pushed
    (team documents follow their changes coalesced)."""
    live = app.state.services.live
    await live.documents.settled()
    document, _ = await live.directory.snapshot(topic, lambda: live.backend.streams.head(topic))
    return dict(document)


def ms(text: str | None) -> int | None:
    if text is None:
        return None
    return (datetime.fromisoformat(text) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def in_order(handles: list[str]) -> bool:
    """The players by XP, best first (ana and ben tie: in either order)."""
    return (
        handles[:2] == ["chloe", "gus"]
        and set(handles[2:4]) == {"ana", "ben"}
        and handles[4:] == ["fay", "dan"]
    )


def same_as_topic(board: dict[str, Any], document: dict[str, Any]) -> None:
    """The endpoint's whole board (one page) is the topic's document: members, ranks, scores, period."""
    assert board["ranked"] == document["ranked"]
    assert (ms(board["period_start"]) or 0) == document["period_start_ms"]
    assert ms(board["period_end"]) == document["period_end_ms"]
    shown = [(r["member"], r["rank"], r["score"], r["display_name"]) for r in board["rows"]]
    topic = [(r["member"], r["rank"], r["score"], r["display_name"]) for r in document["rows"]]
    assert shown == topic


@pytest.fixture
async def players(register, service_account, ingest, ago) -> dict[str, Any]:
    """Six ranked players (ana and ben tied), eve unranked; handle -> Caller."""
    callers = {handle: await register(handle) for handle in [*COMMITS, "eve"]}
    key = await service_account(["metrics:write"])
    events = [
        {"id": f"c-{handle}", "user": handle, "metric": "commits", "value": n, "occurred_at": ago(minutes=5)}
        for handle, n in COMMITS.items()
    ]
    assert (await ingest(key.headers, events)).json()["accepted"] == len(events)
    return callers


@pytest.mark.parametrize("period", ["daily", "weekly", "monthly", "all_time"])
async def test_a_board_is_the_topics_document(app, client, players, period):
    ana = players["ana"]

    response = await client.get(f"/api/v1/leaderboards/xp/{period}?limit=100", headers=ana.headers)

    assert response.status_code == 200
    board = response.json()
    assert set(board) == {"board", "period", "period_start", "period_end", "ranked", "rows", "me"}
    assert (board["board"], board["period"], board["me"]) == ("xp", period, None)
    assert board["ranked"] == len(COMMITS)
    assert all(set(row) == ROW_KEYS for row in board["rows"])
    same_as_topic(board, await topic_document(app, f"leaderboard:xp:{period}"))
    handles = [row["handle"] for row in board["rows"]]
    assert in_order(handles)
    ranks = {row["handle"]: row["rank"] for row in board["rows"]}
    assert ranks == {"chloe": 1, "gus": 2, "ana": 3, "ben": 3, "fay": 5, "dan": 6}  # ana and ben share 3
    assert ranks["ana"] == ranks["ben"]


async def test_a_metric_board_in_its_unit(app, client, players):
    board = (await client.get("/api/v1/leaderboards/commits/all_time", headers=players["eve"].headers)).json()

    same_as_topic(board, await topic_document(app, "leaderboard:commits:all_time"))
    assert {row["handle"]: row["score"] for row in board["rows"]} == COMMITS


async def test_pages_of_a_board(app, client, players):
    headers = players["ana"].headers
    whole = (await client.get("/api/v1/leaderboards/xp/weekly", headers=headers)).json()["rows"]

    pages = []
    for offset in range(0, len(COMMITS), 4):
        page = (
            await client.get(f"/api/v1/leaderboards/xp/weekly?offset={offset}&limit=4", headers=headers)
        ).json()
        assert page["ranked"] == len(COMMITS)
        pages.extend(page["rows"])

    assert pages == whole  # the ranks of a later page are the board's, not the page's
    past = (await client.get("/api/v1/leaderboards/xp/weekly?offset=50", headers=headers)).json()
    assert (past["rows"], past["ranked"]) == ([], len(COMMITS))


async def test_the_rows_around_me(app, client, players):
    document = await topic_document(app, "leaderboard:xp:weekly")
    topic_rows = [(r["member"], r["rank"], r["score"]) for r in document["rows"]]
    for handle, caller in players.items():
        if handle == "eve":
            continue
        board = (
            await client.get("/api/v1/leaderboards/xp/weekly?around=me&radius=1", headers=caller.headers)
        ).json()
        me = board["me"]
        assert (me["member"], me["handle"]) == (caller.id, handle)
        index = next(i for i, row in enumerate(topic_rows) if row[0] == caller.id)
        rows = [(r["member"], r["rank"], r["score"]) for r in board["rows"]]
        assert rows == topic_rows[max(0, index - 1) : index + 2]
        assert board["ranked"] == document["ranked"]


async def test_around_someone_else_by_handle(client, players):
    board = (
        await client.get(
            "/api/v1/leaderboards/xp/all_time?around=fay&radius=5", headers=players["eve"].headers
        )
    ).json()

    assert board["me"]["handle"] == "fay"
    assert board["me"]["rank"] == 5
    assert in_order([row["handle"] for row in board["rows"]])


async def test_an_unranked_caller_is_not_on_the_board(client, players):
    board = (
        await client.get("/api/v1/leaderboards/xp/weekly?around=me", headers=players["eve"].headers)
    ).json()

    assert board["me"] is None
    assert board["rows"] == []
    assert board["ranked"] == len(COMMITS)


async def test_bad_boards_periods_and_parameters_are_typed_problems(client, player, problem, subtests):
    headers = player.headers
    with subtests.test("unknown board"):
        body = problem(await client.get("/api/v1/leaderboards/deploys/weekly", headers=headers), 404)
        assert "deploys" in body["detail"]
    with subtests.test("unknown user"):
        response = await client.get("/api/v1/leaderboards/xp/weekly?around=nobody", headers=headers)
        problem(response, 404)
    cases = {
        "period": "/api/v1/leaderboards/xp/yearly",
        "radius": "/api/v1/leaderboards/xp/weekly?around=me&radius=0",
        "radius ": "/api/v1/leaderboards/xp/weekly?around=me&radius=26",
        "limit": "/api/v1/leaderboards/xp/weekly?limit=101",
        "offset": "/api/v1/leaderboards/xp/weekly?offset=-1",
        "offset ": "/api/v1/leaderboards/xp/weekly?around=me&offset=3",
        "radius  ": "/api/v1/leaderboards/xp/weekly?radius=3",
        "size": "/api/v1/leaderboards/xp/weekly?size=3",
    }
    for field, url in cases.items():
        with subtests.test(url):
            problem(await client.get(url, headers=headers), 422, field.strip())
    with subtests.test("team period"):
        problem(await client.get("/api/v1/leaderboards/teams?period=daily", headers=headers), 422, "period")


async def test_boards_are_for_people(client, service_account, problem):
    key = await service_account(["metrics:write"])
    problem(await client.get("/api/v1/leaderboards/xp/weekly", headers=key.headers), 403)
    problem(await client.get("/api/v1/leaderboards/teams", headers=key.headers), 403)
    problem(await client.get("/api/v1/leaderboards/xp/weekly"), 401)


# ------------------------------------------------------------------------------------------------- teams


async def test_team_standings_are_the_team_topics_totals(app, client, admin, players):
    teams = {"alpha": ["ana", "ben"], "bravo": ["chloe", "dan"], "charlie": ["gus", "fay"], "delta": []}
    teams |= {"echo": ["eve"], "old": ["chloe", "gus"]}
    for slug, members in teams.items():
        created = await client.post(
            "/api/v1/teams", json={"slug": slug, "name": slug.title()}, headers=admin.headers
        )
        assert created.status_code == 201, created.text
        for handle in members:
            added = await client.put(f"/api/v1/teams/{slug}/members/{handle}", headers=admin.headers)
            assert added.status_code == 204, added.text
    archived = await client.post("/api/v1/teams/old/archive", headers=admin.headers)
    assert archived.status_code == 200

    for period, total in (("weekly", "weekly_xp"), ("all_time", "xp")):
        response = await client.get(
            f"/api/v1/leaderboards/teams?period={period}", headers=players["eve"].headers
        )
        assert response.status_code == 200
        standings = response.json()
        assert standings["period"] == period
        rows = standings["teams"]
        assert {row["slug"] for row in rows} == {"alpha", "bravo", "charlie", "delta", "echo"}  # not "old"
        for row in rows:
            totals = (await topic_document(app, f"team:{row['slug']}"))["totals"]
            assert (row["members"], row["score"]) == (totals["members"], totals[total])
            assert row["name"] == row["slug"].title()
        scores = [row["score"] for row in rows]
        assert scores == sorted(scores, reverse=True)
        # alpha (5 + 5 commits) and charlie (7 + 3) tie: one rank, listed by slug.
        by_slug = {row["slug"]: row for row in rows}
        assert by_slug["alpha"]["score"] == by_slug["charlie"]["score"] > 0
        assert by_slug["alpha"]["rank"] == by_slug["charlie"]["rank"]
        assert [row["slug"] for row in rows].index("alpha") < [row["slug"] for row in rows].index("charlie")
        assert (by_slug["delta"]["members"], by_slug["delta"]["score"]) == (0, 0)
        assert by_slug["echo"]["score"] == 0
        assert rows[0]["rank"] == 1

    default = (await client.get("/api/v1/leaderboards/teams", headers=admin.headers)).json()
    assert default["period"] == "weekly"


# ------------------------------------------------------------------------------------------------ on Redis


@pytest.fixture
async def redis_app(
    _postgresql_database_url, redis_server, redis_prefix, tmp_path, monkeypatch
) -> AsyncIterator[Starlette]:
    """The API on PostgreSQL and Redis: leaderboard topics are the Redis boards' documents."""
    # The cheapest argon2id, as the API tests' `app` fixture uses.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=_postgresql_database_url,
        redis_url=redis_server,
        redis_prefix=redis_prefix,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_on_redis_the_board_is_the_redis_topics_document(redis_app):
    app = redis_app
    live = app.state.services.live
    assert live.boards is not None
    accounts = app.state.services.accounts
    ids: dict[str, str] = {}
    headers: dict[str, dict[str, str]] = {}
    for handle in [*COMMITS, "eve"]:
        user, tokens = await accounts.register(
            email=f"{handle}@example.com", password="a password", handle=handle, display_name=handle.title()
        )
        ids[handle], headers[handle] = str(user.id), {"Authorization": f"Bearer {tokens.access_token}"}
    # Scored as a worker scores a queued batch: the Redis boards record it after the commit.
    step = ScoringStep(app.state.scorer, app.state.services.rules, live.relay, live.boards)
    at = datetime.now(UTC) - timedelta(minutes=5)
    await step.run(
        [
            Submission(MetricEvent(f"c-{h}", ids[h], "commits", n, at), "service:test")
            for h, n in COMMITS.items()
        ]
    )

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for period in ("weekly", "all_time"):
            topic = f"leaderboard:xp:{period}"
            document = (await live.boards.push(topic)).document  # the topic, up to date
            board = (await client.get(f"/api/v1/leaderboards/xp/{period}", headers=headers["eve"])).json()
            same_as_topic(board, document)
            ranks = {row["handle"]: row["rank"] for row in board["rows"]}
            assert ranks == {"chloe": 1, "gus": 2, "ana": 3, "ben": 3, "fay": 5, "dan": 6}

            around = (
                await client.get(
                    f"/api/v1/leaderboards/xp/{period}?around=ben&radius=2", headers=headers["eve"]
                )
            ).json()
            index = next(i for i, row in enumerate(document["rows"]) if row["member"] == ids["ben"])
            expected = document["rows"][max(0, index - 2) : index + 3]
            assert [(r["member"], r["rank"], r["score"]) for r in around["rows"]] == [
                (r["member"], r["rank"], r["score"]) for r in expected
            ]
            assert around["me"]["rank"] == 3
            mine = (
                await client.get(f"/api/v1/leaderboards/xp/{period}?around=me", headers=headers["eve"])
            ).json()
            assert (mine["me"], mine["rows"], mine["ranked"]) == (None, [], len(COMMITS))

        page = (
            await client.get("/api/v1/leaderboards/xp/weekly?offset=2&limit=2", headers=headers["eve"])
        ).json()
        assert [row["rank"] for row in page["rows"]] == [3, 3]
        unknown = await client.get("/api/v1/leaderboards/deploys/weekly", headers=headers["eve"])
        assert unknown.status_code == 404
