"""Rank-change notifications on real Redis boards: scoring that lifts a player into a better bracket (top
10, 3, 1) of the weekly or all-time XP board stores a ``rank_changed`` notification and sends the event on
their topic; a player whose rank does not improve, or who was told of that bracket already this period,
hears nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import MetricEvent
from persistence.leaderboards import BoardChange, Calendar, Leaderboards, Period, PeriodSpan
from persistence.live_outbox import Outbox
from persistence.scoring import Scorer, Submission
from protocol import EVENT_DATA
from server.hub.documents import DocumentStore
from server.hub.memory import MemoryStreams
from server.hub.publish import Publisher, decode_change
from server.hub.redis import RedisStreams
from server.services.boards.live import LiveBoards
from server.services.boards.rank_notices import RankNotifier, bracket, rank_notices
from server.services.people.notifications import NotificationsService
from server.services.scoring.rules import RulesService
from server.services.topics.outbox_relay import OutboxRelay
from tasks.scoring_step import ScoringStep
from tests.live.conftest import NOW, World


@pytest.fixture
async def boards(
    redis_server: str, redis_prefix: str, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[LiveBoards, MemoryStreams]]:
    client = aioredis.from_url(redis_server)
    leaderboards = Leaderboards(client, prefix=redis_prefix, clock=lambda: NOW)
    streams = MemoryStreams()
    ranks = RankNotifier(sessions, Publisher(streams), leaderboards.span, clock=lambda: NOW)
    live = LiveBoards(
        leaderboards, DocumentStore(RedisStreams(client, prefix=redis_prefix)), sessions, ranks=ranks
    )
    yield live, streams
    await live.aclose()
    await client.aclose()


def tickets(event_id: str, user_id: str, count: int) -> Submission:
    """``count`` tickets closed an hour before NOW: 8 XP each."""
    return Submission(
        MetricEvent(event_id, user_id, "tickets_closed", count, NOW - timedelta(hours=1)), "service:test"
    )


async def rank_events(streams: MemoryStreams, user_id: str) -> list[dict[str, Any]]:
    head = await streams.head(f"user:{user_id}")
    deltas = await streams.since(f"user:{user_id}", head.epoch, 0) or []
    found = []
    for delta in deltas:
        ops, events = decode_change(delta.payload)
        found += [event["data"] for event in events if event["name"] == "rank_changed"]
        if any(event["name"] == "rank_changed" for event in events):
            assert ops == []  # the user document holds no ranks
    return found


async def stored(sessions: async_sessionmaker[AsyncSession], user_id: str) -> list[dict[str, Any]]:
    notes = await NotificationsService(sessions).recent(user_id, unread_only=False, limit=50)
    return [note.data for note in reversed(notes) if note.kind == "rank_changed"]


async def test_overtaking_someone_notifies_the_climber_only(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    boards: tuple[LiveBoards, MemoryStreams],
) -> None:
    live, streams = boards
    step = ScoringStep(Scorer(sessions), rules, OutboxRelay(Outbox(sessions), streams), live)
    ana, ben = await world.add_user("ana"), await world.add_user("ben")

    await step.run([tickets("a1", ana, 5)], NOW)  # ana 40: first on an empty board
    first = await stored(sessions, ana)
    assert [(n["period"], n["rank"], n["top"]) for n in first] == [("weekly", 1, 1), ("all_time", 1, 1)]
    assert "previous_rank" not in first[0]
    await step.run([tickets("b1", ben, 3)], NOW)  # ben 24: second
    assert [(n["period"], n["rank"], n["top"]) for n in await stored(sessions, ben)] == [
        ("weekly", 2, 3),
        ("all_time", 2, 3),
    ]

    await step.run([tickets("b2", ben, 5)], NOW)  # ben 64: overtakes ana
    told = await stored(sessions, ben)
    assert told[2:] == [
        {"board": "xp", "period": "weekly", "rank": 1, "previous_rank": 2, "score": 64, "top": 1},
        {"board": "xp", "period": "all_time", "rank": 1, "previous_rank": 2, "score": 64, "top": 1},
    ]
    events = await rank_events(streams, ben)
    assert events == told  # sent live as well, with the same data
    for data in events:
        EVENT_DATA["rank_changed"].model_validate(data)
    assert await stored(sessions, ana) == first  # overtaken: nothing to celebrate

    await step.run([tickets("b3", ben, 1)], NOW)  # still first: no change of bracket
    await step.run([tickets("a2", ana, 5)], NOW)  # ana 80 > 72, first again: told of first already
    assert await stored(sessions, ben) == told
    assert await stored(sessions, ana) == first
    assert len(await rank_events(streams, ana)) == 2


def test_only_a_better_bracket_of_the_current_weekly_and_all_time_xp_boards_is_told() -> None:
    calendar = Calendar("UTC", "monday")

    def change(
        period: Period, rank: int, previous_rank: int | None, *, board: str = "xp", at: datetime = NOW
    ) -> BoardChange:
        return BoardChange(
            board=board,
            scope="user",
            span=calendar.span(period, at),
            member="ana",
            previous=None,
            score=10,
            rank=rank,
            position=rank,
            ranked=20,
            previous_rank=previous_rank,
        )

    def current(period: Period) -> PeriodSpan:
        return calendar.span(period, NOW)

    assert [bracket(r) for r in (1, 2, 3, 4, 10, 11, None)] == [1, 3, 3, 10, 10, None, None]
    due = rank_notices(
        [
            change("weekly", 9, 12),  # into the top 10
            change("all_time", 3, 5),  # into the top 3
            change("monthly", 1, 4),  # not a told period
            change("daily", 1, 4),
            change("weekly", 2, 3, board="reviews_done"),  # not the XP board
            change("weekly", 5, 6),  # a better rank, the same bracket
            change("weekly", 11, 30),  # not in the top 10
            change("weekly", 1, 2, at=NOW - timedelta(days=7)),  # last week's board (a late award)
        ],
        current,
    )
    assert [(n.data["period"], n.data["rank"], n.top) for n in due] == [("weekly", 9, 10), ("all_time", 3, 3)]
