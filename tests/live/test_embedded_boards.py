"""Leaderboards live in embedded mode (`EmbeddedBoards`, no Redis), on SQLite and PostgreSQL: a scored
batch that reorders a subscribed board reaches it as one coalesced delta, a mirror that follows the
deltas ends equal to a fresh snapshot (the embedded computation), and topics nobody subscribed to are
never published."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import MetricEvent
from persistence.leaderboards import PERIODS, cast_period
from persistence.live_outbox import Outbox
from persistence.scoring import Scorer, Submission
from protocol import Delta, MoveOp, Outcome, SetOp, TopicMirror, leaderboard_topic
from server.hub.documents import MemoryDocuments
from server.hub.memory import MemoryBus, MemoryStreams
from server.hub.publish import decode_change
from server.hub.streams import Delta as StreamDelta
from server.services.boards.embedded import EmbeddedBoards
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from server.services.topics.outbox_relay import OutboxRelay
from tasks.scoring_step import ScoringStep
from tests.live.conftest import NOW, Clock, World

TOPIC = "leaderboard:xp:weekly"
PUSH_MS = 100
WHEN = "2026-11-20T10:00:00+00:00"  # in NOW's day, week and month


@dataclass
class Live:
    boards: EmbeddedBoards
    step: ScoringStep
    streams: MemoryStreams
    directory: TopicDirectory
    sessions: async_sessionmaker[AsyncSession]

    async def score(self, *events: tuple[str, str, str, float]) -> None:
        """Score ``(event id, user id, metric, value)`` events (at WHEN) as one batch, received at NOW."""
        submissions = [
            Submission(MetricEvent(event_id, user_id, metric, value, datetime.fromisoformat(WHEN)), "test")
            for event_id, user_id, metric, value in events
        ]
        result = await self.step.run(submissions, now=NOW)
        assert all(status.status == "accepted" for status in result.statuses)

    async def subscribe(self, topic: str) -> Watcher:
        """What the hub does on ``subscribe``: start receiving the topic's deltas, then read its snapshot."""
        watcher = Watcher(topic, self.streams)
        await watcher.bus.start()
        await watcher.bus.subscribe(topic)
        document, position = await self.directory.snapshot(topic, lambda: self.streams.head(topic))
        watcher.mirror.apply_snapshot(position.epoch, position.offset, document)
        return watcher

    async def fresh(self, topic: str) -> tuple[dict[str, Any], int]:
        """A new subscriber's snapshot and offset (asserting it is the embedded computation itself)."""
        document, position = await self.directory.snapshot(topic, lambda: self.streams.head(topic))
        _, board, period = topic.split(":")
        assert document == await self.directory.compute_board(board, cast_period(period))
        return document, position.offset


@dataclass
class Watcher:
    """A screen on one topic: its deltas arrive on a bus of their own and are applied to a mirror."""

    topic: str
    streams: MemoryStreams
    mirror: TopicMirror = field(init=False)
    bus: MemoryBus = field(init=False)
    arrived: asyncio.Queue[StreamDelta] = field(default_factory=asyncio.Queue)
    applied: list[Delta] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mirror = TopicMirror(self.topic)
        self.bus = MemoryBus(self.streams, self)

    def on_delta(self, delta: StreamDelta) -> None:
        if delta.topic == self.topic:
            self.arrived.put_nowait(delta)

    def on_reset(self) -> None:
        raise AssertionError("an embedded bus never resets")

    async def next(self, timeout: float = 10) -> Delta:
        """Wait for the next delta after the mirror's offset and apply it (as the hub does, skipping those
        the snapshot already holds)."""
        async with asyncio.timeout(timeout):
            raw = await self.arrived.get()
            while raw.offset <= (self.mirror.offset or 0):
                raw = await self.arrived.get()
        ops, events = decode_change(raw.payload)
        assert events == []
        delta = Delta(topic=raw.topic, epoch=raw.epoch, offset=raw.offset, ops=ops, at_ms=raw.at_ms)
        assert self.mirror.apply_delta(delta) is Outcome.APPLIED
        self.applied.append(delta)
        return delta

    async def until(self, done: Any, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not done(self.document):
                await self.next()

    @property
    def document(self) -> dict[str, Any]:
        assert self.mirror.document is not None
        return self.mirror.document

    def members(self) -> list[str]:
        return [row["member"] for row in self.document["rows"]]


@pytest.fixture
async def live(
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    directory: TopicDirectory,
    streams: MemoryStreams,
) -> AsyncIterator[Live]:
    boards = EmbeddedBoards(directory, MemoryDocuments(streams), push_ms=PUSH_MS)
    # What subscribers read: a directory taking its board snapshots from the embedded boards (which
    # compute theirs with the plain one), as the app wires them.
    served = TopicDirectory(sessions, rules, clock=directory.clock, embedded_boards=boards)
    step = ScoringStep(Scorer(sessions), rules, OutboxRelay(Outbox(sessions), streams), boards)
    yield Live(boards, step, streams, served, sessions)
    await boards.aclose()


async def test_an_overtake_reaches_a_subscribed_board_as_row_ops_matching_a_fresh_snapshot(
    live: Live, world: World
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await live.score(("a-1", ana, "prs_merged", 2))  # 50 XP
    screen = await live.subscribe(TOPIC)
    assert screen.members() == [ana]
    await live.score(("b-1", ben, "prs_merged", 4))  # 100 XP: Ben overtakes Ana
    delta = await screen.next()
    assert screen.members() == [ben, ana]
    assert [(row["display_name"], row["score"], row["rank"]) for row in screen.document["rows"]] == [
        ("Ben", 100, 1),
        ("Ana", 50, 2),
    ]
    assert screen.document["ranked"] == 2
    # Row ops (§11.6): Ben appended, then moved to the top; never the list or the document replaced.
    assert any(isinstance(op, MoveOp) for op in delta.ops)
    assert not any(isinstance(op, SetOp) and op.path in ((), ("rows",)) for op in delta.ops)
    # A new subscriber gets the document the mirror holds, at its offset (§12: snapshot = state at N).
    assert await live.fresh(TOPIC) == (screen.document, screen.mirror.offset)
    # A tie: competition ranks and the member order of the snapshot computation.
    await live.score(("a-2", ana, "prs_merged", 2))
    await screen.next()
    assert await live.fresh(TOPIC) == (screen.document, screen.mirror.offset)
    assert [row["rank"] for row in screen.document["rows"]] == [1, 1]
    assert screen.members() == sorted([ana, ben])


async def test_a_batch_of_many_users_is_one_delta_and_a_burst_few(live: Live, world: World) -> None:
    players = [await world.add_user(f"crowd-{i}") for i in range(6)]
    screen = await live.subscribe(TOPIC)
    offset = screen.mirror.offset
    assert screen.document["rows"] == []
    await live.score(*((f"one-{i}", player, "prs_merged", i + 1) for i, player in enumerate(players)))
    await screen.next()
    assert set(screen.members()) == set(players)
    assert await live.fresh(TOPIC) == (screen.document, screen.mirror.offset)
    # A burst of batches, each changing the board, within a few intervals.
    started = time.monotonic()
    for round_ in range(4):
        await live.score(*((f"burst-{round_}-{i}", p, "prs_merged", 1) for i, p in enumerate(players)))
    scored = time.monotonic() - started
    final = await live.directory.compute_board("xp", "weekly")
    await screen.until(lambda document: document == final)
    await live.boards.aclose()  # pushes whatever is still pending: nothing, the board is shown
    assert (await live.streams.head(TOPIC)).offset == screen.mirror.offset
    burst = len(screen.applied) - 1
    assert 1 <= burst <= scored / (PUSH_MS / 1000) + 2, (burst, scored)
    assert screen.mirror.offset == offset + 1 + burst
    assert await live.fresh(TOPIC) == (screen.document, screen.mirror.offset)


async def test_only_subscribed_topics_are_published(live: Live, world: World) -> None:
    ana = await world.add_user("ana")
    await live.score(("a-1", ana, "prs_merged", 1))
    await live.boards.aclose()
    for board in ("xp", "prs_merged"):
        for period in PERIODS:
            assert (await live.streams.head(leaderboard_topic(board, period))).offset == 0
    # Subscribing to one topic publishes its first document (a delta setting it all) and watches it;
    # the others stay silent.
    screen = await live.subscribe("leaderboard:prs_merged:monthly")
    assert screen.members() == [ana]
    await live.score(("a-2", ana, "prs_merged", 2))
    await screen.next()
    assert screen.document["rows"][0]["score"] == 3
    await live.boards.aclose()
    for board in ("xp", "prs_merged"):
        for period in PERIODS:
            topic = leaderboard_topic(board, period)
            if topic != screen.topic:
                assert (await live.streams.head(topic)).offset == 0, topic
    assert (await live.streams.head(screen.topic)).offset == screen.mirror.offset == 2


async def test_a_new_period_starts_the_board_again(live: Live, world: World, clock: Clock) -> None:
    ana = await world.add_user("ana")
    await live.score(("a-1", ana, "prs_merged", 1))
    screen = await live.subscribe("leaderboard:xp:daily")
    assert screen.members() == [ana]
    clock.now = NOW + timedelta(days=1)
    # A late event, in the day the topic no longer shows: nothing to push.
    await live.score(("a-2", ana, "prs_merged", 1))
    await live.boards.aclose()
    assert (await live.streams.head(screen.topic)).offset == screen.mirror.offset
    # The next subscriber sees the new day (empty), published as a delta to the screens watching.
    document, offset = await live.fresh(screen.topic)
    assert document["rows"] == []
    await screen.next()
    assert (screen.document, screen.mirror.offset) == (document, offset)
