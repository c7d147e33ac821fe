"""Redis leaderboards on a real Redis: ranks, the tie-break, periods, teams, reads, and rebuild == live.

Times are in 2030 and later, so that the keys' expiries (EXPIREAT, real time) are all in the future.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import create_engine, session_factory
from persistence.leaderboards import Award, Leaderboards, Period, RebuildProgress, TeamHistory
from persistence.leaderboards.scripts import Script
from persistence.models import LedgerEntry, MetricEventRow, Team, TeamMembership, User

T0 = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)  # a Monday


def at(seconds: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_server)
    yield client
    await client.aclose()


@pytest.fixture
def boards(redis: aioredis.Redis, redis_prefix: str) -> Leaderboards:
    return Leaderboards(redis, prefix=redis_prefix, clock=lambda: T0)


def table(page: Any) -> list[tuple[str, int | float, int]]:
    return [(row.member, row.score, row.rank) for row in page.rows]


# ----------------------------------------------------------------------------------- ranks and ties


async def test_ties_share_a_rank_and_the_earlier_achiever_comes_first(boards: Leaderboards) -> None:
    await boards.record(
        [
            Award("ana", "xp", 50, at(5)),
            Award("ben", "xp", 20, at(0)),
            Award("ben", "xp", 30, at(1)),  # ben reaches 50 at +1 s, before ana (+5 s)
            Award("cleo", "xp", 70, at(9)),
            Award("dan", "xp", 30, at(0)),
            Award("eve", "xp", 30, at(0)),  # same millisecond as dan: member id order
        ]
    )
    page = await boards.top("xp", "weekly")
    assert table(page) == [
        ("cleo", 70, 1),
        ("ben", 50, 2),
        ("ana", 50, 2),
        ("dan", 30, 4),
        ("eve", 30, 4),
    ]
    assert [row.position for row in page.rows] == [1, 2, 3, 4, 5]
    assert page.rows[1].achieved_ms == page.rows[2].achieved_ms - 4000
    assert page.ranked == 5


async def test_the_tie_break_does_not_depend_on_recording_order(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    awards = [
        Award("ana", "xp", 40, at(10)),
        Award("ana", "xp", 10, at(2)),  # late: ana still reached 50 at +10 s
        Award("ben", "xp", 50, at(5)),
    ]
    forward = Leaderboards(redis, prefix=redis_prefix + "a:", clock=lambda: T0)
    backward = Leaderboards(redis, prefix=redis_prefix + "b:", clock=lambda: T0)
    for award in awards:
        await forward.record([award])
    await backward.record(list(reversed(awards)))
    for lb in (forward, backward):
        page = await lb.top("xp", "all_time")
        assert table(page) == [("ben", 50, 1), ("ana", 50, 1)]
        assert page.rows[1].achieved_ms == page.rows[0].achieved_ms + 5000


async def test_record_returns_each_member_s_rank_before_the_batch(boards: Leaderboards) -> None:
    changes = await boards.record([Award("ana", "xp", 50, at(0)), Award("ben", "xp", 40, at(1))])
    daily = {c.member: c for c in changes if c.span.period == "daily" and c.scope == "user"}
    assert (daily["ana"].previous_rank, daily["ana"].rank) == (None, 1)  # not on the board before
    # One batch: cy passes both and ben passes ana; the ranks before are the board before any of it.
    changes = await boards.record(
        [Award("cy", "xp", 5, at(2)), Award("ben", "xp", 20, at(3)), Award("cy", "xp", 95, at(4))]
    )
    daily = {c.member: c for c in changes if c.span.period == "daily" and c.scope == "user"}
    assert (daily["ben"].previous, daily["ben"].previous_rank, daily["ben"].rank) == (40, 2, 2)
    assert (daily["cy"].previous_rank, daily["cy"].rank) == (None, 1)
    assert "ana" not in daily


async def test_a_member_overtaken_by_a_later_gain_moves_down(boards: Leaderboards) -> None:
    await boards.record([Award("ana", "xp", 50, at(0)), Award("ben", "xp", 40, at(1))])
    await boards.record([Award("ben", "xp", 10, at(2))])  # ties ana, later: behind her
    assert table(await boards.top("xp", "daily")) == [("ana", 50, 1), ("ben", 50, 1)]
    await boards.record([Award("ben", "xp", 1, at(3))])
    assert table(await boards.top("xp", "daily")) == [("ben", 51, 1), ("ana", 50, 2)]


async def test_pages_carry_competition_ranks_across_their_edges(boards: Leaderboards) -> None:
    scores = {"u1": 90, "u2": 80, "u3": 80, "u4": 80, "u5": 50, "u6": 50, "u7": 10}
    await boards.record([Award(user, "xp", score, at(i)) for i, (user, score) in enumerate(scores.items())])
    first = await boards.top("xp", "monthly", limit=3)
    second = await boards.top("xp", "monthly", offset=3, limit=3)
    third = await boards.top("xp", "monthly", offset=6, limit=3)
    assert table(first) == [("u1", 90, 1), ("u2", 80, 2), ("u3", 80, 2)]
    assert table(second) == [("u4", 80, 2), ("u5", 50, 5), ("u6", 50, 5)]
    assert table(third) == [("u7", 10, 7)]
    assert [row.position for row in second.rows] == [4, 5, 6]
    beyond = await boards.top("xp", "monthly", offset=7)
    assert beyond.rows == []
    assert beyond.ranked == 7
    assert (await boards.top("xp", "monthly", limit=0)).rows == []
    assert table(await boards.top("xp", "monthly")) == table(first) + table(second) + table(third)
    with pytest.raises(ValueError, match="negative"):
        await boards.top("xp", "monthly", offset=-1)


async def test_rank_gives_the_gap_to_the_next_better_score(boards: Leaderboards) -> None:
    await boards.record(
        [
            Award("ana", "xp", 100, at(0)),
            Award("ben", "xp", 100, at(1)),
            Award("cleo", "xp", 70, at(0)),
            Award("dan", "xp", 70, at(1)),
            Award("eve", "xp", 15, at(0)),
        ]
    )
    ana = await boards.rank("xp", "all_time", "ana")
    ben = await boards.rank("xp", "all_time", "ben")
    dan = await boards.rank("xp", "all_time", "dan")
    eve = await boards.rank("xp", "all_time", "eve")
    assert ana is not None
    assert ben is not None
    assert dan is not None
    assert eve is not None
    assert (ana.rank, ana.position, ana.gap) == (1, 1, None)
    assert (ben.rank, ben.position, ben.gap) == (1, 2, None)  # tied with the top: no better rank
    assert (dan.score, dan.rank, dan.position, dan.gap, dan.ranked) == (70, 3, 4, 30, 5)
    assert (eve.rank, eve.gap) == (5, 55)  # to the next better *score* (70), not the next row
    assert await boards.rank("xp", "all_time", "nobody") is None
    assert await boards.rank("xp", "daily", "ana", at=at(86400)) is None  # another day


async def test_around_me_is_clipped_at_the_top_and_the_bottom(boards: Leaderboards) -> None:
    users = [f"u{i}" for i in range(1, 7)]
    await boards.record([Award(user, "xp", 100 - 10 * i, at(0)) for i, user in enumerate(users)])
    top = await boards.around("xp", "weekly", "u1", 2)
    assert [row.member for row in top.rows] == ["u1", "u2", "u3"]
    assert [row.rank for row in top.rows] == [1, 2, 3]
    second = await boards.around("xp", "weekly", "u2", 2)
    assert [row.member for row in second.rows] == ["u1", "u2", "u3", "u4"]
    middle = await boards.around("xp", "weekly", "u4", 2)
    assert [row.position for row in middle.rows] == [2, 3, 4, 5, 6]
    bottom = await boards.around("xp", "weekly", "u6", 2)
    assert [(row.member, row.rank) for row in bottom.rows] == [("u4", 4), ("u5", 5), ("u6", 6)]
    alone = await boards.around("xp", "weekly", "u3", 0)
    assert table(alone) == [("u3", 80, 3)]
    absent = await boards.around("xp", "weekly", "nobody", 2)
    assert absent.rows == []
    assert absent.ranked == 6


async def test_around_me_among_ties_shows_their_shared_rank(boards: Leaderboards) -> None:
    await boards.record([Award(f"u{i}", "xp", 10, at(i)) for i in range(5)])
    page = await boards.around("xp", "all_time", "u3", 1)
    assert table(page) == [("u2", 10, 1), ("u3", 10, 1), ("u4", 10, 1)]


# -------------------------------------------------------------------------------- values and input


async def test_metric_values_are_summed_exactly_in_thousandths(boards: Leaderboards) -> None:
    await boards.record(
        [
            Award("ana", "reviews_done", 0.1, at(0)),
            Award("ana", "reviews_done", 0.2, at(0)),
            Award("ben", "reviews_done", 0.3, at(0)),
            Award("cleo", "reviews_done", 0.25, at(0)),
            Award("cleo", "reviews_done", 0.0004, at(9)),  # 0 thousandths: changes nothing
        ]
    )
    page = await boards.top("reviews_done", "daily")
    assert table(page) == [("ana", 0.3, 1), ("ben", 0.3, 1), ("cleo", 0.25, 3)]
    cleo = await boards.rank("reviews_done", "daily", "cleo")
    assert cleo is not None
    assert cleo.gap == 0.05
    assert cleo.achieved_ms == page.rows[0].achieved_ms
    await boards.record([Award("ben", "reviews_done", 2, at(1))])
    assert (await boards.top("reviews_done", "daily")).rows[0].score == 2.3


async def test_bad_awards_are_refused_before_anything_is_written(
    boards: Leaderboards, redis: aioredis.Redis, redis_prefix: str
) -> None:
    good = Award("ana", "xp", 5, at(0))
    with pytest.raises(ValueError, match="whole"):
        await boards.record([good, Award("ana", "xp", 1.5, at(0))])
    with pytest.raises(ValueError, match="timezone"):
        await boards.record([good, Award("ana", "xp", 1, datetime(2030, 1, 1))])
    with pytest.raises(ValueError, match="board"):
        await boards.record([good, Award("ana", "XP:all", 1, at(0))])
    with pytest.raises(ValueError, match="range"):
        await boards.record([good, Award("ana", "xp", 2**53, at(0))])
    assert [key async for key in redis.scan_iter(match=f"{redis_prefix}*")] == []
    assert await boards.record([]) == []
    assert await boards.record([Award("ana", "steps", 0.0001, at(0))]) == []


async def test_record_returns_every_touched_member_with_its_rank(boards: Leaderboards) -> None:
    await boards.record([Award("ana", "xp", 30, at(0), ("red",)), Award("ben", "xp", 20, at(0), ("blue",))])
    changes = await boards.record([Award("ben", "xp", 20, at(5), ("blue",))])
    assert {(c.scope, c.span.period) for c in changes} == {
        (scope, period)
        for scope in ("user", "team", "team_avg")
        for period in ("all_time", "daily", "weekly", "monthly")
    }
    daily = {c.scope: c for c in changes if c.span.period == "daily"}
    assert (daily["user"].member, daily["user"].previous, daily["user"].score) == ("ben", 20, 40)
    assert (daily["user"].rank, daily["user"].position, daily["user"].ranked) == (1, 1, 2)
    assert (daily["team"].member, daily["team"].previous, daily["team"].score) == ("blue", 20, 40)
    assert daily["team_avg"].score == 40
    assert daily["user"].span == boards.span("daily", at(5))
    fresh = await boards.record([Award("cleo", "xp", 1, at(6))])
    assert {(c.member, c.previous, c.rank, c.ranked) for c in fresh} == {("cleo", None, 3, 3)}


async def test_a_client_that_decodes_responses_works_too(redis_server: str, redis_prefix: str) -> None:
    client = aioredis.from_url(redis_server, decode_responses=True)
    try:
        lb = Leaderboards(client, prefix=redis_prefix, clock=lambda: T0)
        changes = await lb.record([Award("ana", "xp", 3, at(0), ("red",)), Award("ben", "xp", 2, at(0))])
        assert {c.member for c in changes} == {"ana", "ben", "red"}
        assert table(await lb.top("xp", "daily")) == [("ana", 3, 1), ("ben", 2, 2)]
        assert table(await lb.around("xp", "daily", "ben", 1)) == [("ana", 3, 1), ("ben", 2, 2)]
        ben = await lb.rank("xp", "daily", "ben")
        assert ben is not None
        assert ben.gap == 1
    finally:
        await client.aclose()


# ------------------------------------------------------------------------------------------ periods


async def test_periods_roll_over_at_the_timezone_midnight(redis: aioredis.Redis, redis_prefix: str) -> None:
    # 2030-12-01 is a Sunday: local midnight in New York (05:00 UTC) starts a new day, week and month.
    lb = Leaderboards(redis, prefix=redis_prefix, timezone="America/New_York", week_starts="sunday")
    before = datetime(2030, 12, 1, 4, 59, 59, 999000, tzinfo=UTC)
    midnight = datetime(2030, 12, 1, 5, 0, tzinfo=UTC)
    await lb.record([Award("ana", "xp", 10, before), Award("ben", "xp", 7, midnight)])
    spans: list[tuple[Period, str, str]] = [
        ("daily", "2030-11-30", "2030-12-01"),
        ("weekly", "2030-11-24", "2030-12-01"),
        ("monthly", "2030-11", "2030-12"),
    ]
    for period, old, new in spans:
        assert table(await lb.top("xp", period, at=before)) == [("ana", 10, 1)]
        assert table(await lb.top("xp", period, at=midnight)) == [("ben", 7, 1)]
        assert lb.span(period, before).label == old
        assert lb.span(period, midnight).label == new
        assert lb.span(period, midnight).start == midnight
        assert lb.span(period, before).end == midnight
    assert table(await lb.top("xp", "all_time")) == [("ana", 10, 1), ("ben", 7, 2)]
    # UTC midnight is nothing special there.
    assert lb.span("daily", datetime(2030, 12, 2, 0, 0, tzinfo=UTC)).label == "2030-12-01"
    assert lb.key("xp", "user", "weekly", midnight) == f"{redis_prefix}lb:xp:u:w:2030-12-01"


def test_weeks_start_on_monday_by_default_and_spans_follow_dst(redis: aioredis.Redis) -> None:
    lb = Leaderboards(redis, timezone="Europe/Paris")
    sunday_night = datetime(2030, 3, 31, 21, 59, tzinfo=UTC)  # 23:59 in Paris, summer time since 02:00
    week = lb.span("weekly", sunday_night)
    assert week.label == "2030-03-25"
    assert week.start == datetime(2030, 3, 24, 23, 0, tzinfo=UTC)
    assert week.end == datetime(2030, 3, 31, 22, 0, tzinfo=UTC)  # 167 hours: the clocks went forward
    assert lb.span("weekly", week.end).label == "2030-04-01"
    assert lb.span("all_time").key == "all"
    with pytest.raises(ValueError, match="period"):
        lb.span("yearly")  # type: ignore[arg-type]


async def test_past_periods_expire_after_the_retention(redis: aioredis.Redis, redis_prefix: str) -> None:
    lb = Leaderboards(redis, prefix=redis_prefix, timezone="Europe/Paris", retention_days=10)
    await lb.record([Award("ana", "xp", 5, at(0), ("red",))], now=at(0))
    day = lb.span("daily", at(0))
    assert day.end is not None
    expected = int((day.end + timedelta(days=10)).timestamp())
    for kind in ("u", "ut", "t", "ta", "tt", "tn", "tm"):
        assert await redis.expiretime(f"{redis_prefix}lb:xp:{kind}:d:2030-03-04") == expected
    month = lb.span("monthly", at(0))
    assert month.end is not None
    assert await redis.expiretime(lb.key("xp", "team", "monthly", at(0))) == int(
        (month.end + timedelta(days=10)).timestamp()
    )
    assert await redis.expiretime(lb.key("xp", "user", "all_time")) == -1
    # Late awards count for the periods still kept: 2030-02-20's day ended more than 10 days ago, its
    # week (from Monday 02-18) did not; 2030-02-16's week did too; February ended on 03-01.
    late = at(-12 * 86400)
    changes = await lb.record([Award("ben", "xp", 3, late)], now=at(0))
    assert {c.span.period for c in changes} == {"all_time", "weekly", "monthly"}
    assert await redis.exists(lb.key("xp", "user", "daily", late)) == 0
    later = await lb.record([Award("cleo", "xp", 2, at(-16 * 86400))], now=at(0))
    assert {c.span.period for c in later} == {"all_time", "monthly"}
    assert table(await lb.top("xp", "monthly", at=late)) == [("ben", 3, 1), ("cleo", 2, 2)]
    assert table(await lb.top("xp", "all_time")) == [("ana", 5, 1), ("ben", 3, 2), ("cleo", 2, 3)]


# -------------------------------------------------------------------------------------------- teams


async def test_team_boards_sum_and_average_their_contributors(boards: Leaderboards) -> None:
    await boards.record(
        [
            Award("ana", "xp", 30, at(0), ("red",)),
            Award("ana", "xp", 30, at(1), ("red",)),  # one contributor, twice
            Award("ben", "xp", 40, at(2), ("red", "blue")),  # counts for both teams
            Award("cleo", "xp", 50, at(3), ("blue",)),
            Award("dan", "xp", 35, at(4), ("green",)),
            Award("eve", "xp", 20, at(0)),  # no team
        ]
    )
    assert table(await boards.top("xp", "weekly", scope="team")) == [
        ("red", 100, 1),
        ("blue", 90, 2),
        ("green", 35, 3),
    ]
    averages = await boards.top("xp", "weekly", scope="team_avg")
    assert [(row.member, row.score) for row in averages.rows] == [("red", 50), ("blue", 45), ("green", 35)]
    await boards.record([Award("fay", "xp", 10, at(5), ("red",))])  # a third contributor to red
    red = await boards.rank("xp", "weekly", "red", scope="team_avg")
    assert red is not None
    assert red.score == 110 / 3  # the same correctly rounded quotient
    assert red.rank == 2
    assert red.gap == pytest.approx(45 - 110 / 3)
    blue = await boards.around("xp", "weekly", "blue", 1, scope="team")
    assert table(blue) == [("red", 110, 1), ("blue", 90, 2), ("green", 35, 3)]
    assert (await boards.top("xp", "weekly")).ranked == 6


async def test_equal_team_averages_tie_and_go_to_the_earlier_team(boards: Leaderboards) -> None:
    await boards.record(
        [
            Award("ana", "xp", 10, at(0), ("red",)),
            Award("ben", "xp", 20, at(3), ("red",)),  # red: 30 / 2 = 15, reached at +3 s
            Award("cleo", "xp", 45, at(2), ("blue",)),
            Award("dan", "xp", 0, at(9), ("blue",)),  # 0: neither a contributor nor a later time
        ]
    )
    await boards.record([Award("dan", "xp", -15, at(2), ("blue",)), Award("eve", "xp", 15, at(1), ("blue",))])
    # blue: 45 - 15 + 15 = 45 over 3 contributors = 15, reached at +2 s: ahead of red.
    page = await boards.top("xp", "daily", scope="team_avg")
    assert table(page) == [("blue", 15, 1), ("red", 15, 1)]


# ---------------------------------------------------------------------------------------- rebuild


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


USERS = [uuid.UUID(int=n) for n in (0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6)]
START = datetime(2030, 11, 20, 8, 0, tzinfo=UTC)
MOVE = START + timedelta(days=12, hours=3)  # user 1 leaves red for blue
JOIN = START + timedelta(days=20, minutes=7, seconds=3)  # user 5 joins green: an event happens exactly then
FAR = datetime(2031, 6, 1, tzinfo=UTC)
# (user index, team, joined_at, left_at)
MEMBERSHIPS = [
    (0, "red", datetime(2030, 1, 1, tzinfo=UTC), None),
    (1, "red", datetime(2030, 1, 1, tzinfo=UTC), MOVE),
    (1, "blue", MOVE, None),
    (2, "blue", datetime(2030, 1, 1, tzinfo=UTC), None),
    (3, "red", datetime(2030, 1, 1, tzinfo=UTC), None),
    (3, "green", datetime(2030, 1, 1, tzinfo=UTC), None),
    (5, "green", JOIN, FAR),
]


def teams_at(user: int, moment: datetime) -> tuple[str, ...]:
    """The test's own reading of MEMBERSHIPS (not TeamHistory's): joined_at included, left_at excluded."""
    return tuple(
        sorted(
            team
            for who, team, joined, left in MEMBERSHIPS
            if who == user and joined <= moment and (left is None or moment < left)
        )
    )


def sequence() -> list[tuple[datetime, list[tuple[int, str, float, datetime]]]]:
    """Batches (now, [(user, board, amount, time)]) over six weeks: XP at the batch's time, metric events
    up to three days late, exact ties, an event at a membership's start and one far past retention."""
    rng = random.Random(20301120)
    batches = []
    for i in range(60):
        now = START + timedelta(hours=17 * i, milliseconds=rng.randrange(1000))
        items: list[tuple[int, str, float, datetime]] = []
        for user in rng.sample(range(len(USERS)), 3):
            late = timedelta(seconds=rng.randrange(3 * 86400), milliseconds=rng.randrange(1000))
            metric = rng.choice(["reviews_done", "focus_minutes"])
            items.append((user, metric, rng.choice([1, 2, 3, 0.1, 0.2, 0.3, 12.5, 0.0004]), now - late))
            items.append((user, "xp", rng.randrange(5, 60, 5), now))
        if i % 7 == 3:  # two users tie exactly: same value, same time
            items.extend([(0, "commits", 4, now), (4, "commits", 4, now)])
        batches.append((now, items))
    batches.append((JOIN + timedelta(hours=1), [(5, "reviews_done", 2, JOIN), (5, "xp", 30, JOIN)]))
    batches.append((batches[-2][0], [(2, "reviews_done", 5, START - timedelta(days=150))]))
    batches.sort(key=lambda batch: batch[0])
    return batches


async def write_rows(
    sessions: async_sessionmaker[AsyncSession],
    batches: list[tuple[datetime, list[tuple[int, str, float, datetime]]]],
) -> None:
    teams = {slug: uuid.uuid4() for slug in ("red", "blue", "green", "empty")}
    async with sessions() as session, session.begin():
        for n, user_id in enumerate(USERS):
            session.add(
                User(
                    id=user_id,
                    handle=f"u{n}",
                    email=f"u{n}@example.com",
                    display_name=f"U{n}",
                    password_hash="-",
                )
            )
        for slug, team_id in teams.items():
            session.add(Team(id=team_id, slug=slug, name=slug.title()))
        await session.flush()
        for user, slug, joined, left in MEMBERSHIPS:
            session.add(
                TeamMembership(team_id=teams[slug], user_id=USERS[user], joined_at=joined, left_at=left)
            )
        for b, (now, items) in enumerate(batches):
            for i, (user, board, amount, moment) in enumerate(items):
                if board == "xp":
                    session.add(
                        LedgerEntry(
                            user_id=USERS[user],
                            amount=int(amount),
                            source="metric",
                            rule_id="test",
                            rule_version=1,
                            explanation="test",
                            created_at=moment,
                        )
                    )
                else:
                    session.add(
                        MetricEventRow(
                            id=f"e{b}-{i}",
                            user_id=USERS[user],
                            metric=board,
                            value=amount,
                            occurred_at=moment,
                            received_at=now,
                            source="integration",
                            reported_by="test",
                            rule_version=1,
                        )
                    )
        # A ledger line of 0 XP (a capped award) is on no board.
        session.add(
            LedgerEntry(
                user_id=USERS[4],
                amount=0,
                source="metric",
                rule_id="t",
                rule_version=1,
                explanation="t",
                created_at=START,
            )
        )


async def dump(redis: aioredis.Redis, prefix: str) -> dict[str, tuple[str, Any, int]]:
    """Every leaderboard key under ``prefix``: its type, contents and expiry time."""
    keys: dict[str, tuple[str, Any, int]] = {}
    async for raw in redis.scan_iter(match=f"{prefix}lb:*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "zset":
            contents: Any = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            contents = await redis.hgetall(key)
        else:
            assert kind == "set"
            contents = await redis.smembers(key)
        keys[key.removeprefix(prefix)] = (kind, contents, await redis.expiretime(key))
    return keys


async def test_rebuild_reproduces_the_live_boards(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, redis_prefix: str
) -> None:
    options: dict[str, Any] = {"timezone": "America/New_York", "week_starts": "sunday", "retention_days": 60}
    live = Leaderboards(redis, prefix=redis_prefix + "live:", **options)
    batches = sequence()
    for now, items in batches:
        awards = [
            Award(str(USERS[user]), board, amount, moment, teams_at(user, moment))
            for user, board, amount, moment in items
        ]
        await live.record(awards, now=now)
    await write_rows(sessions, batches)
    end = batches[-1][0]

    rebuilt = Leaderboards(redis, prefix=redis_prefix + "rebuilt:", **options)
    # What the rebuild must replace: a key it will write, and one with no counterpart in the database.
    await rebuilt.record(
        [Award("ghost", "xp", 99, START, ("red",)), Award("ghost", "old_metric", 1, START)], now=end
    )
    progress: list[RebuildProgress] = []
    stats = await rebuilt.rebuild(sessions, now=end, on_progress=progress.append)

    expected = await dump(redis, redis_prefix + "live:")
    got = await dump(redis, redis_prefix + "rebuilt:")
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key] == expected[key], key
    kinds = {key.split(":")[2] for key in expected}
    assert kinds == {"u", "ut", "t", "ta", "tt", "tn", "tm"}
    boards = {key.split(":")[1] for key in expected}
    assert boards == {"xp", "reviews_done", "focus_minutes", "commits"}
    user5 = str(USERS[5]).encode()
    assert expected["lb:reviews_done:tm:d:2030-12-10"][1] >= {b"green " + user5}  # joined at that instant
    assert expected["lb:xp:tn:all"][1] == {b"red": b"3", b"blue": b"2", b"green": b"2"}
    # The event 150 days before the start counts for all time only.
    assert not any(key.endswith(":m:2030-06") for key in expected)

    assert stats.ledger_rows == sum(1 for _, items in batches for item in items if item[1] == "xp")
    assert stats.metric_rows == sum(1 for _, items in batches for item in items if item[1] != "xp")
    assert stats.keys_written == len(expected)
    assert stats.keys_removed == 8  # old_metric's users and times, in four periods
    assert stats.entries > 0
    stages = [p.stage for p in progress]
    assert stages[0] == "reading"
    assert stages[-1] == "done"
    assert {"reading", "writing", "swapping"} <= set(stages)
    last_read = [p for p in progress if p.stage == "reading"][-1]
    assert last_read.done == last_read.total == stats.ledger_rows + stats.metric_rows
    assert [key async for key in redis.scan_iter(match=f"{redis_prefix}rebuilt:lb-rebuild:*")] == []

    # Rebuilding over boards that are already right changes nothing.
    await live.rebuild(sessions, now=end)
    assert await dump(redis, redis_prefix + "live:") == expected


async def test_team_history_counts_a_membership_from_joining_until_leaving(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await write_rows(sessions, [])
    async with sessions() as session:
        history = await TeamHistory.load(session)
        only_one = await TeamHistory.load(session, [str(USERS[1])])
    one = str(USERS[1])
    assert history.teams_at(one, MOVE - timedelta(microseconds=1)) == ("red",)
    assert history.teams_at(one, MOVE) == ("blue",)
    assert history.teams_at(str(USERS[3]), START) == ("green", "red")
    assert history.teams_at(str(USERS[5]), JOIN - timedelta(milliseconds=1)) == ()
    assert history.teams_at(str(USERS[5]), JOIN) == ("green",)
    assert history.teams_at(str(USERS[5]), FAR) == ()
    assert history.teams_at(str(USERS[4]), START) == ()
    assert only_one.teams_at(one, MOVE) == ("blue",)
    assert only_one.teams_at(str(USERS[3]), START) == ()


# ------------------------------------------------------------------------------------------ scripts


async def test_a_write_is_sent_once_and_loads_its_script_when_redis_lacks_it(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    # A script no server has seen yet: the first EVALSHA gets NOSCRIPT, which means it did not run.
    script = Script(f"return redis.call('INCR', KEYS[1]) -- {uuid.uuid4().hex}")
    key = f"{redis_prefix}counter"
    assert await script.write_once(redis, [key], []) == 1
    assert await script.write_once(redis, [key], []) == 2
    failing = Script(f"return redis.error_reply('nope') -- {uuid.uuid4().hex}")
    with pytest.raises(ResponseError, match="nope"):
        await failing.write_once(redis, [key], [])
    assert await script.write_once(redis, [key], []) == 3  # the pool's connections still work
    fresh = Script(f"return 7 -- {uuid.uuid4().hex}")
    assert await fresh.read(redis, [], []) == 7
