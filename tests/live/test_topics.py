"""Topic documents (PROTOCOL.md §9), who may read them (§8), and the snapshot's consistency contract."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine
from game.periods import period_bounds
from persistence.models import UserStateRow
from protocol import ErrorCode, apply_ops, diff_ops, parse_op
from server.hub.memory import MemoryStreams
from server.hub.streams import Missing, Position
from server.services.topics.directory import TopicDirectory
from server.services.topics.documents import Score, leaderboard_document, ms
from server.services.topics.refused import TopicRefused
from tests.live.conftest import NOW, Clock, World

USER_FIELDS = {
    "user_id",
    "handle",
    "display_name",
    "xp",
    "level",
    "level_xp",
    "next_level_xp",
    "progress",
    "rule_version",
    "badges",
    "streaks",
    "missions",
}
BADGE_FIELDS = {"badge_id", "name", "tier", "period", "secret", "earned_at_ms", "explanation", "summary"}
MISSION_FIELDS = {"mission_id", "name", "period", "progress", "goal", "completed", "reward_xp"}


async def snap(directory: TopicDirectory, topic: str) -> dict[str, Any]:
    streams = MemoryStreams()
    document, position = await directory.snapshot(topic, lambda: streams.head(topic))
    assert position.offset <= 1  # teams and the feed: their stored document's first delta
    return document


async def no_head() -> Position:
    raise AssertionError("the head of a refused topic was read")


async def refused(code: ErrorCode, call: Any) -> str:
    with pytest.raises(TopicRefused) as caught:
        await call
    assert caught.value.code == code
    return caught.value.message


# ------------------------------------------------------------------------------------------- user


async def test_the_user_document(
    world: World, directory: TopicDirectory, engine: Engine, streams: MemoryStreams
) -> None:
    ana = await world.add_user("ana")
    result = await world.score(
        ana,
        ("r1", "reviews_done", 12, "2026-11-20T10:00:00+00:00"),
        ("c1", "commits", 1, "2026-11-19T09:00:00+00:00"),
    )
    state = result.outcomes[ana].state
    await streams.publish(f"user:{ana}", b"-")  # the position is whatever the stream says
    document, position = await directory.snapshot(f"user:{ana}", lambda: streams.head(f"user:{ana}"))
    assert position == await streams.head(f"user:{ana}")
    assert position.offset == 1

    assert set(document) == USER_FIELDS
    progress = engine.progress(state)
    assert document["user_id"] == ana
    assert (document["handle"], document["display_name"]) == ("ana", "Ana")
    assert (
        document["xp"] == state.xp == 80 + 50 + 30 + 20 + 2
    )  # capped reviews, 2 badges, a mission, a commit
    assert (document["level"], document["level_xp"], document["next_level_xp"]) == (
        progress.level,
        progress.level_xp,
        progress.next_level_xp,
    )
    assert document["progress"] == round(progress.fraction, 4)
    assert document["rule_version"] == 1

    badges = document["badges"]
    assert set(badges) == {"reviewer:bronze", "review-marathon@2026-11-20", "first-commit"}
    assert all(set(badge) == BADGE_FIELDS for badge in badges.values())
    assert badges["reviewer:bronze"] | {"explanation": ""} == {
        "badge_id": "reviewer",
        "name": "Second pair of eyes",
        "tier": "bronze",
        "period": None,
        "secret": False,
        "earned_at_ms": ms(NOW),
        "explanation": "",
        "summary": "Badge: Second pair of eyes (bronze)",
    }
    assert "10" in badges["reviewer:bronze"]["explanation"]
    assert badges["review-marathon@2026-11-20"]["period"] == "2026-11-20"
    assert badges["first-commit"]["tier"] is None

    assert document["streaks"] == {
        "shipping": {"name": "Shipping streak", "current": 1, "best": 1, "freezes": 2},
        "reviewing": {"name": "Review streak", "current": 1, "best": 1, "freezes": 2},
    }
    missions = document["missions"]
    assert all(set(mission) == MISSION_FIELDS for mission in missions.values())
    assert missions == {
        "daily-reviews@2026-11-20": {
            "mission_id": "daily-reviews",
            "name": "Review three pull requests today",
            "period": "2026-11-20",
            "progress": 12,
            "goal": 3,
            "completed": True,
            "reward_xp": 20,
        },
        "weekly-reviews@week of 2026-11-16": {
            "mission_id": "weekly-reviews",
            "name": "Fifteen reviews this week",
            "period": "week of 2026-11-16",
            "progress": 12,
            "goal": 15,
            "completed": False,
            "reward_xp": 100,
        },
        "weekly-shipping@week of 2026-11-16": {
            "mission_id": "weekly-shipping",
            "name": "Merge five pull requests this week",
            "period": "week of 2026-11-16",
            "progress": 0,
            "goal": 5,
            "completed": False,
            "reward_xp": 75,
        },
        "docs-sprint@window": {
            "mission_id": "docs-sprint",
            "name": "Write ten pages during documentation week",
            "period": "window",
            "progress": 0,
            "goal": 10,
            "completed": False,
            "reward_xp": 150,
        },
    }


async def test_a_user_never_scored(world: World, directory: TopicDirectory) -> None:
    ben = await world.add_user("ben")
    document = await snap(directory, f"user:{ben}")
    assert (document["xp"], document["level"], document["level_xp"], document["progress"]) == (0, 1, 0, 0)
    assert document["badges"] == {}
    assert {s["current"] for s in document["streaks"].values()} == {0}
    assert {m["progress"] for m in document["missions"].values()} == {0}
    # And the next snapshot says the same (on PostgreSQL the first one made the user an empty state row).
    assert await snap(directory, f"user:{ben}") == document


async def test_streaks_lapse_and_missions_move_on_with_time(
    world: World, directory: TopicDirectory, clock: Clock
) -> None:
    ana = await world.add_user("ana")
    await world.score(ana, ("r1", "reviews_done", 4, "2026-11-20T10:00:00+00:00"))
    clock.now = datetime(2026, 11, 23, 12, tzinfo=UTC)  # Monday: two missed days, within the freezes
    document = await snap(directory, f"user:{ana}")
    assert document["streaks"]["reviewing"] | {"name": ""} == {
        "name": "",
        "current": 1,
        "best": 1,
        "freezes": 2,
    }
    # The past periods' missions are gone (and the documentation week's window has closed).
    assert set(document["missions"]) == {
        "daily-reviews@2026-11-23",
        "weekly-reviews@week of 2026-11-23",
        "weekly-shipping@week of 2026-11-23",
    }
    assert {m["progress"] for m in document["missions"].values()} == {0}
    clock.now += timedelta(days=1)  # three missed days: the streak has lapsed, its best stays
    document = await snap(directory, f"user:{ana}")
    assert (document["streaks"]["reviewing"]["current"], document["streaks"]["reviewing"]["best"]) == (0, 1)


async def test_missions_follow_the_users_timezone(world: World, directory: TopicDirectory) -> None:
    kiri = await world.add_user("kiri", timezone="Pacific/Kiritimati")  # UTC+14: already Saturday
    await world.score(kiri, ("r1", "reviews_done", 2, "2026-11-20T12:00:00+00:00"))
    missions = (await snap(directory, f"user:{kiri}"))["missions"]
    assert missions["daily-reviews@2026-11-21"]["progress"] == 2
    assert missions["weekly-reviews@week of 2026-11-16"]["progress"] == 2


# ------------------------------------------------------------------------------------------- team


async def test_the_team_document(world: World, directory: TopicDirectory) -> None:
    ana, ben, cy, dan = [await world.add_user(h) for h in ("ana", "ben", "cy", "dan")]
    joined = datetime(2026, 10, 1, 9, 30, 0, 123000, tzinfo=UTC)
    await world.add_team("platform", {ana: joined, ben: joined, dan: joined}, former=(cy,))
    await world.score(ana, ("a1", "prs_merged", 2, "2026-11-20T10:00:00+00:00"))  # 50 XP this week
    last_week = datetime(2026, 11, 13, 12, tzinfo=UTC)
    await world.score(ben, ("b1", "prs_merged", 4, "2026-11-13T10:00:00+00:00"), now=last_week)
    await world.score(ben, ("b2", "tickets_closed", 1, "2026-11-19T10:00:00+00:00"))  # 8 XP this week
    await world.score(cy, ("c1", "prs_merged", 1, "2026-11-20T10:00:00+00:00"))

    document = await snap(directory, "team:platform")
    assert document == {
        "slug": "platform",
        "name": "Platform",
        "description": "The platform team.",
        "archived": False,
        "members": {
            ana: {
                "handle": "ana",
                "display_name": "Ana",
                "level": 1,
                "xp": 50,
                "weekly_xp": 50,
                "joined_at_ms": ms(joined),
            },
            ben: {
                "handle": "ben",
                "display_name": "Ben",
                "level": 2,
                "xp": 108,
                "weekly_xp": 8,
                "joined_at_ms": ms(joined),
            },
            dan: {
                "handle": "dan",
                "display_name": "Dan",
                "level": 1,
                "xp": 0,
                "weekly_xp": 0,
                "joined_at_ms": ms(joined),
            },
        },
        "totals": {"members": 3, "xp": 158, "weekly_xp": 58},
    }
    assert ms(joined) == 1790847000123


async def test_an_archived_team_without_members(world: World, directory: TopicDirectory) -> None:
    await world.add_team("old-guard", {}, archived=True)
    document = await snap(directory, "team:old-guard")
    assert document["archived"] is True
    assert (document["members"], document["totals"]) == ({}, {"members": 0, "xp": 0, "weekly_xp": 0})


# ------------------------------------------------------------------------------------------- leaderboards


def member(n: int) -> str:
    return str(uuid.UUID(int=n))


async def test_leaderboard_ranks_ties_and_order(world: World, directory: TopicDirectory) -> None:
    # Ids chosen so that the tie is broken by member id, not by insertion or name.
    a = await world.add_user("ann", user_id=member(5))
    b = await world.add_user("bob", user_id=member(9))
    c = await world.add_user("cat", user_id=member(7))
    d = await world.add_user("dee", user_id=member(1))
    e = await world.add_user("eve", user_id=member(2), disabled=True)
    for user, prs in ((a, 4), (b, 2), (c, 2), (d, 1), (e, 6)):
        await world.score(user, (f"{user}-1", "prs_merged", prs, "2026-11-20T10:00:00+00:00"))
    document = await snap(directory, "leaderboard:xp:weekly")
    assert document == {
        "board": "xp",
        "period": "weekly",
        "period_start_ms": ms(datetime(2026, 11, 16, tzinfo=UTC)),
        "period_end_ms": ms(datetime(2026, 11, 23, tzinfo=UTC)),
        "size": 100,
        "ranked": 4,  # the disabled user is not ranked
        "rows": [
            {"member": a, "display_name": "Ann", "score": 100, "rank": 1},
            {"member": c, "display_name": "Cat", "score": 50, "rank": 2},
            {"member": b, "display_name": "Bob", "score": 50, "rank": 2},
            {"member": d, "display_name": "Dee", "score": 25, "rank": 4},
        ],
    }


async def test_leaderboard_periods_and_their_boundaries(world: World, directory: TopicDirectory) -> None:
    awarded = {
        "day-start": datetime(2026, 11, 20, tzinfo=UTC),
        "day-before": datetime(2026, 11, 20, tzinfo=UTC) - timedelta(microseconds=1),
        "week-start": datetime(2026, 11, 16, tzinfo=UTC),
        "week-before": datetime(2026, 11, 16, tzinfo=UTC) - timedelta(microseconds=1),
        "month-start": datetime(2026, 11, 1, tzinfo=UTC),
        "month-before": datetime(2026, 11, 1, tzinfo=UTC) - timedelta(microseconds=1),
        "tomorrow": datetime(2026, 11, 21, tzinfo=UTC),  # the end of today's period is exclusive
    }
    ids = {}
    for handle, when in awarded.items():
        ids[handle] = await world.add_user(handle)
        await world.score(ids[handle], (handle, "prs_merged", 1, "2026-10-01T10:00:00+00:00"), now=when)

    async def members(period: str) -> set[str]:
        document = await snap(directory, f"leaderboard:xp:{period}")
        assert document["ranked"] == len(document["rows"])
        return {handle for handle, user in ids.items() if user in {r["member"] for r in document["rows"]}}

    assert await members("daily") == {"day-start"}
    assert await members("weekly") == {"day-start", "day-before", "week-start", "tomorrow"}
    assert await members("monthly") == set(awarded) - {"month-before"}
    assert await members("all_time") == set(awarded)
    daily = await snap(directory, "leaderboard:xp:daily")
    assert (daily["period_start_ms"], daily["period_end_ms"]) == (
        ms(datetime(2026, 11, 20, tzinfo=UTC)),
        ms(datetime(2026, 11, 21, tzinfo=UTC)),
    )
    monthly = await snap(directory, "leaderboard:xp:monthly")
    assert (monthly["period_start_ms"], monthly["period_end_ms"]) == (
        ms(datetime(2026, 11, 1, tzinfo=UTC)),
        ms(datetime(2026, 12, 1, tzinfo=UTC)),
    )
    forever = await snap(directory, "leaderboard:xp:all_time")
    assert (forever["period_start_ms"], forever["period_end_ms"]) == (0, None)


async def test_metric_leaderboards_count_when_the_work_happened(
    world: World, directory: TopicDirectory
) -> None:
    x = await world.add_user("xan", user_id=member(1))
    y = await world.add_user("yui", user_id=member(2))
    z = await world.add_user("zed", user_id=member(3))
    await world.score(
        x,
        ("x1", "docs_written", 0.1, "2026-11-17T10:00:00+00:00"),
        ("x2", "docs_written", 0.2, "2026-11-18T10:00:00+00:00"),
    )
    await world.score(y, ("y1", "docs_written", 0.3, "2026-11-19T10:00:00+00:00"))
    # Scored this week, but the work happened last week: not on this week's board.
    await world.score(
        z,
        ("z1", "docs_written", 2, "2026-11-15T23:00:00+00:00"),
        ("z2", "commits", 3, "2026-11-19T10:00:00+00:00"),
    )
    weekly = await snap(directory, "leaderboard:docs_written:weekly")
    assert weekly["ranked"] == 2
    assert weekly["rows"] == [
        {"member": x, "display_name": "Xan", "score": 0.3, "rank": 1},  # 0.1 + 0.2 ties with 0.3
        {"member": y, "display_name": "Yui", "score": 0.3, "rank": 1},
    ]
    forever = await snap(directory, "leaderboard:docs_written:all_time")
    assert [(r["member"], r["score"], r["rank"]) for r in forever["rows"]] == [
        (z, 2, 1),
        (x, 0.3, 2),
        (y, 0.3, 2),
    ]
    assert isinstance(forever["rows"][0]["score"], int)  # whole totals are integers on the wire


def test_leaderboard_document_ranks_and_size() -> None:
    scores = [Score(member(i), f"P{i}", s) for i, s in enumerate([5, 10, 8, 8, 1, 8, 5], start=1)]
    document = leaderboard_document("xp", "all_time", (None, None), ranked=9, scores=scores)
    assert [(r["member"], r["rank"]) for r in document["rows"]] == [
        (member(2), 1),
        (member(3), 2),
        (member(4), 2),
        (member(6), 2),
        (member(1), 5),
        (member(7), 5),
        (member(5), 7),
    ]
    top = leaderboard_document("xp", "all_time", (None, None), ranked=9, scores=scores, size=3)
    assert (top["size"], top["ranked"], len(top["rows"])) == (3, 9, 3)


@pytest.mark.parametrize(
    ("period", "now", "week_starts", "start", "end"),
    [
        (
            "daily",
            datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
            "monday",
            datetime(2026, 12, 31),
            datetime(2027, 1, 1),
        ),
        (
            "weekly",
            datetime(2026, 11, 16, tzinfo=UTC),
            "monday",
            datetime(2026, 11, 16),
            datetime(2026, 11, 23),
        ),
        (
            "weekly",
            datetime(2026, 11, 22, 23, tzinfo=UTC),
            "monday",
            datetime(2026, 11, 16),
            datetime(2026, 11, 23),
        ),
        (
            "weekly",
            datetime(2026, 11, 21, tzinfo=UTC),
            "sunday",
            datetime(2026, 11, 15),
            datetime(2026, 11, 22),
        ),
        (
            "weekly",
            datetime(2026, 11, 22, tzinfo=UTC),
            "sunday",
            datetime(2026, 11, 22),
            datetime(2026, 11, 29),
        ),
        (
            "monthly",
            datetime(2026, 12, 15, tzinfo=UTC),
            "monday",
            datetime(2026, 12, 1),
            datetime(2027, 1, 1),
        ),
        # UTC periods, whatever the zone of the time given
        (
            "daily",
            datetime.fromisoformat("2026-11-21T01:00:00+02:00"),
            "monday",
            datetime(2026, 11, 20),
            datetime(2026, 11, 21),
        ),
    ],
)
def test_period_bounds(period: Any, now: datetime, week_starts: str, start: datetime, end: datetime) -> None:
    assert period_bounds(period, now, week_starts) == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))
    assert period_bounds("all_time", now, week_starts) == (None, None)


# ------------------------------------------------------------------------------------------- authorize


async def test_who_may_read_what(world: World, directory: TopicDirectory) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("platform", {ana: NOW})
    await world.add_team("old-guard", {}, archived=True)
    for topic in (
        f"user:{ana}",
        "team:platform",
        "team:old-guard",
        "leaderboard:xp:daily",
        "leaderboard:reviews_done:all_time",
    ):
        await directory.authorize(ana, topic)
    assert await refused(ErrorCode.FORBIDDEN_TOPIC, directory.authorize(ana, f"user:{ben}")) == (
        "user topics are private"
    )
    # Anyone else's user topic is refused alike, whether or not the id is an account's: the answer
    # must not tell which ids are (PROTOCOL.md §8).
    for topic in (
        f"user:{uuid.uuid4()}",
        f"user:{ana.replace('-', '')}",  # only the canonical spelling of an id names a user
        "user:ana",
    ):
        assert await refused(ErrorCode.FORBIDDEN_TOPIC, directory.authorize(ana, topic)) == (
            "user topics are private"
        )
    for topic in ("team:nobody", "leaderboard:karma:weekly", "challenge:summer"):
        await refused(ErrorCode.UNKNOWN_TOPIC, directory.authorize(ana, topic))
        await refused(ErrorCode.UNKNOWN_TOPIC, directory.snapshot(topic, no_head))
    await refused(ErrorCode.UNKNOWN_TOPIC, directory.snapshot(f"user:{uuid.uuid4()}", no_head))
    with pytest.raises(ValueError, match="presence"):
        await directory.authorize(ana, "presence:global")
    with pytest.raises(ValueError, match="presence"):
        await directory.snapshot("presence:team:platform", no_head)


# ------------------------------------------------------------------------------------------- consistency


async def writer_blocked(database_url: str, sessions: async_sessionmaker[AsyncSession], user_id: str) -> bool:
    """Whether a scoring writer of the user would have to wait right now, asked without waiting: the
    writer's steps (make sure the state row exists, lock it FOR UPDATE; SQLite: BEGIN IMMEDIATE)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        async with aiosqlite.connect(url.database, timeout=0, isolation_level=None) as db:
            try:
                await db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if "locked" not in str(error):
                    raise
                return True
            await db.execute("ROLLBACK")
            return False
    async with sessions() as session:
        # A wait for a lock fails at once instead (an insert waits for an uncommitted row of the same key).
        await session.execute(text("SET LOCAL lock_timeout = '1ms'"))
        key = uuid.UUID(user_id)
        try:
            await session.execute(
                pg_insert(UserStateRow)
                .values(user_id=key, rule_version=1, state={})
                .on_conflict_do_nothing(index_elements=["user_id"])
            )
            await session.execute(
                select(UserStateRow).where(UserStateRow.user_id == key).with_for_update(nowait=True)
            )
        except DBAPIError:
            return True
        finally:
            await session.rollback()  # the probe changes nothing
        return False


@pytest.mark.parametrize("scored", [True, False], ids=["scored", "never-scored"])
async def test_a_user_snapshot_asks_the_streams_without_holding_a_lock(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    world: World,
    directory: TopicDirectory,
    streams: MemoryStreams,
    monkeypatch: pytest.MonkeyPatch,
    scored: bool,
) -> None:
    """The state and its live version are read in one transaction, closed before the streams are asked
    where that version stands: no writer ever waits on a snapshot's round trip to Redis."""
    ana = await world.add_user("ana")
    if scored:
        await world.score(ana, ("r1", "reviews_done", 2, "2026-11-20T10:00:00+00:00"))
    topic = f"user:{ana}"
    seen: list[bool] = []
    position_at = streams.position_at

    async def asked(topic: str, version: int) -> Position | Missing | None:
        seen.append(await writer_blocked(database_url, sessions, ana))
        return await position_at(topic, version)

    monkeypatch.setattr(streams, "position_at", asked)
    await directory.snapshot(topic, no_head)
    assert seen == [False]


async def test_documents_diff_into_each_other(world: World, directory: TopicDirectory) -> None:
    """Two snapshots a scoring apart: the diff of the first turns it into the second."""
    ana = await world.add_user("ana")
    before = await snap(directory, f"user:{ana}")
    await world.score(ana, ("r1", "reviews_done", 12, "2026-11-20T10:00:00+00:00"))
    after = await snap(directory, f"user:{ana}")
    ops = diff_ops(before, after)
    assert apply_ops(before, [parse_op(op) for op in ops]) == after
    assert ["set", ["xp"], after["xp"]] in ops
