"""The users' live changes go out after the commit, through the live outbox: no call to the streams while a
scoring transaction is open, concurrent scorers of one user (and of one team's members) append each version
once and in order, and a change whose post-commit publish failed (a process cut off or killed between its
commit and its publish) reaches the screens through another relay's sweep, once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any, ClassVar

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from game import MetricEvent
from persistence.db import create_engine
from persistence.live_outbox import Outbox, OutboxEntry
from persistence.scoring import Scorer, Submission
from protocol import Outcome as MirrorOutcome
from protocol import TopicMirror
from server.hub.memory import MemoryStreams
from server.hub.publish import Publisher
from server.hub.redis import RedisStreams
from server.hub.streams import Delta, Missing, Position, Seen, Streams, Versioned
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from server.services.topics.outbox_relay import OutboxRelay
from tasks.scoring_step import ScoringStep
from tests.live.conftest import NOW, World
from tests.live.test_challenge_lifecycle import delivered

Sessions = async_sessionmaker[AsyncSession]


def review(event_id: str, user_id: str, value: float = 1) -> Submission:
    return Submission(MetricEvent(event_id, user_id, "reviews_done", value, NOW - timedelta(hours=1)), "test")


class Tracked(Session):
    """A session class that knows which of its sessions have a database transaction open (from BEGIN to its
    end: commit, rollback or close)."""

    open: ClassVar[set[int]] = set()


@sa_event.listens_for(Tracked, "after_begin")
def _began(session: Session, transaction: Any, connection: Any) -> None:
    Tracked.open.add(id(session))


@sa_event.listens_for(Tracked, "after_transaction_end")
def _ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        Tracked.open.discard(id(session))


class WatchedStreams(MemoryStreams):
    """In-memory streams that note every call made while a `Tracked` transaction is open."""

    def __init__(self) -> None:
        super().__init__()
        self.inside: list[str] = []
        self.calls = 0

    def _note(self, name: str) -> None:
        self.calls += 1
        if Tracked.open:
            self.inside.append(name)

    async def publish(self, topic: str, payload: bytes) -> Delta:
        self._note(f"publish {topic}")
        return await super().publish(topic, payload)

    async def publish_versions(self, items: Sequence[Versioned]) -> list[Delta | Seen | Missing]:
        self._note("publish_versions")
        return await super().publish_versions(items)

    async def position_at(self, topic: str, version: int) -> Position | Missing | None:
        self._note(f"position_at {topic}")
        return await super().position_at(topic, version)

    async def head(self, topic: str) -> Position:
        self._note(f"head {topic}")
        return await super().head(topic)


@pytest.fixture
async def tracked(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    yield async_sessionmaker(engine, expire_on_commit=False, sync_session_class=Tracked)
    await engine.dispose()


async def test_no_stream_call_while_the_scoring_transaction_is_open(
    world: World, tracked: Sessions, rules: RulesService
) -> None:
    """XP alone (no team, nothing notable after the first batch): the user's delta is the only live
    change, and it goes out once the transaction has ended."""
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    streams = WatchedStreams()
    relay = OutboxRelay(Outbox(tracked), streams)
    directory = TopicDirectory(tracked, rules, clock=lambda: NOW, relay=relay)
    step = ScoringStep(Scorer(tracked), rules, Publisher(streams), relay=relay)
    await step.run([review("r0", ana), review("r1", ben)], NOW)  # badges: the feed, published inside
    mirrors = {user: await mirror(directory, f"user:{user}") for user in (ana, ben)}
    streams.inside.clear()
    calls = streams.calls

    await step.run([review("r2", ana), review("r3", ben)], NOW)
    assert streams.calls > calls  # the deltas went out...
    assert streams.inside == []  # ...none of them while the transaction was open
    for user in (ana, ben):
        await converged(directory, streams, mirrors[user])
    assert await Outbox(tracked).count() == 0


async def test_a_failed_scoring_transaction_publishes_nothing_and_leaves_no_entry(
    world: World, tracked: Sessions, rules: RulesService
) -> None:
    ana = await world.add_user("ana")
    streams = MemoryStreams()
    relay = OutboxRelay(Outbox(tracked), streams)
    directory = TopicDirectory(tracked, rules, clock=lambda: NOW, relay=relay)
    await ScoringStep(Scorer(tracked), rules, Publisher(streams), relay=relay).run([review("r0", ana)], NOW)
    screen = await mirror(directory, f"user:{ana}")
    before = screen.document

    @sa_event.listens_for(Tracked, "before_commit")
    def fail(session: Session) -> None:
        raise RuntimeError("the database went away at commit")

    try:
        with pytest.raises(RuntimeError, match="went away"):
            await ScoringStep(Scorer(tracked), rules, Publisher(streams), relay=relay).run(
                [review("r1", ana, 5)], NOW
            )
    finally:
        sa_event.remove(Tracked, "before_commit", fail)
    assert await Outbox(tracked).count() == 0
    assert screen.epoch is not None
    assert screen.offset is not None
    assert await streams.since(f"user:{ana}", screen.epoch, screen.offset) == []
    await converged(directory, streams, screen)
    assert screen.document == before


class SlowRelay(OutboxRelay):
    """A relay whose post-commit publish comes a random while after the commit: processes that committed in
    one order publish in another."""

    async def publish(self, entries: Sequence[OutboxEntry]) -> None:
        await asyncio.sleep(random.uniform(0, 0.05))
        await super().publish(entries)


@pytest.fixture(params=["memory", "redis"])
def _redis(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_server"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def shared_streams(_redis: tuple[str, str] | None) -> AsyncIterator[Streams]:
    """The streams every process of the test shares: in memory, or on Redis."""
    if _redis is None:
        yield MemoryStreams()
        return
    url, prefix = _redis
    client = aioredis.from_url(url)
    yield RedisStreams(client, prefix=prefix)
    await client.aclose()


# PostgreSQL only: SQLite runs one write transaction at a time, so there is no overlap to test.
@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_scorers_append_each_version_once_in_order(
    world: World, sessions: Sessions, rules: RulesService, shared_streams: Streams
) -> None:
    ana, ben, cy = await world.add_user("ana"), await world.add_user("ben"), await world.add_user("cy")
    await world.add_team("platform", {ana: NOW, ben: NOW, cy: NOW})
    outbox = Outbox(sessions)
    directory = TopicDirectory(sessions, rules, clock=lambda: NOW, relay=OutboxRelay(outbox, shared_streams))
    topics = [f"user:{user}" for user in (ana, ben, cy)]
    screens = {topic: await mirror(directory, topic) for topic in topics}
    team = await mirror(directory, "team:platform", shared_streams)
    # Four processes, each with its relay, scoring the same users at once, batch after batch.
    steps = [
        ScoringStep(
            Scorer(sessions), rules, Publisher(shared_streams), relay=SlowRelay(outbox, shared_streams)
        )
        for _ in range(4)
    ]

    async def process(n: int, step: ScoringStep) -> None:
        for i in range(5):
            batch = [review(f"p{n}-{i}-ana", ana)]
            batch.append(review(f"p{n}-{i}-{'ben' if (n + i) % 2 else 'cy'}", ben if (n + i) % 2 else cy))
            await step.run(batch, NOW)

    await asyncio.gather(*(process(n, step) for n, step in enumerate(steps)))
    expected = {topics[0]: 20, topics[1]: 10, topics[2]: 10}  # one change per batch of the user
    for topic, screen in screens.items():
        assert screen.epoch is not None
        assert screen.offset is not None
        deltas = await shared_streams.since(topic, screen.epoch, screen.offset)
        assert deltas is not None
        assert len(deltas) == expected[topic]  # every version once, no gap, nothing doubled
        for delta in deltas:
            assert screen.apply_delta(delivered(delta)[0]) is MirrorOutcome.APPLIED
        document, position = await directory.snapshot(topic, no_head)
        assert (screen.document, screen.offset) == (document, position.offset)
        xp = [
            event["data"]["xp"] for d in deltas for event in delivered(d)[1] if event["name"] == "xp_awarded"
        ]
        assert xp == sorted(xp)  # in the order the states changed: the running total only grows
    await converged(directory, shared_streams, team)
    assert await outbox.count() == 0


async def test_a_change_whose_publish_failed_reaches_the_screens_through_the_sweep(
    world: World, sessions: Sessions, rules: RulesService, shared_streams: Streams
) -> None:
    """The scoring process is cut off from the streams (or killed) right after its commit: its entries stay
    in the outbox, and another process's running relay publishes them after the grace, once."""
    ana = await world.add_user("ana")
    topic = f"user:{ana}"
    outbox = Outbox(sessions)
    sweeper = OutboxRelay(outbox, shared_streams, grace_seconds=0.2, interval_seconds=0.05)
    directory = TopicDirectory(sessions, rules, clock=lambda: NOW, relay=OutboxRelay(outbox, shared_streams))
    screen = await mirror(directory, topic)
    cut_off = CutOffRelay(outbox, shared_streams)
    step = ScoringStep(Scorer(sessions), rules, Publisher(shared_streams), relay=cut_off)

    await step.run([review("r1", ana, 2)], NOW)  # committed; its publish fails, the step carries on
    assert cut_off.failed == 1
    assert await outbox.count() == 1
    assert screen.epoch is not None
    assert screen.offset is not None
    assert await shared_streams.since(topic, screen.epoch, screen.offset) == []
    sweeper.start()
    try:
        await until_empty(outbox)
        await step.run([review("r2", ana, 1)], NOW)  # the next change follows it (published at once)
        assert await outbox.count() == 0
    finally:
        await sweeper.aclose()
    deltas = await shared_streams.since(topic, screen.epoch, screen.offset)
    assert deltas is not None
    assert len(deltas) == 2
    for delta in deltas:
        assert screen.apply_delta(delivered(delta)[0]) is MirrorOutcome.APPLIED
    document, position = await directory.snapshot(topic, no_head)
    assert (screen.document, screen.offset) == (document, position.offset)


async def test_a_snapshot_publishes_what_is_committed_but_not_yet_published(
    world: World, sessions: Sessions, rules: RulesService, shared_streams: Streams
) -> None:
    """A screen that subscribes between another process's commit and its publish gets the committed state,
    at the position of its delta, which that process's late publish then does not append again."""
    ana = await world.add_user("ana")
    topic = f"user:{ana}"
    outbox = Outbox(sessions)
    directory = TopicDirectory(sessions, rules, clock=lambda: NOW, relay=OutboxRelay(outbox, shared_streams))
    early = await mirror(directory, topic)
    held = HeldRelay(outbox, shared_streams)
    step = ScoringStep(Scorer(sessions), rules, Publisher(shared_streams), relay=held)
    await step.run([review("r1", ana, 2)], NOW)
    late = await mirror(directory, topic)  # the entry is committed, not published: the snapshot does it
    assert late.document != early.document
    await OutboxRelay(outbox, shared_streams).publish(held.entries)  # the late publish: Seen
    assert early.epoch is not None
    assert early.offset is not None
    (delta,) = await shared_streams.since(topic, early.epoch, early.offset) or []
    assert early.apply_delta(delivered(delta)[0]) is MirrorOutcome.APPLIED
    assert (early.document, early.offset) == (late.document, late.offset)
    assert await outbox.count() == 0


class CutOffRelay(OutboxRelay):
    """A relay whose first post-commit publish fails: the streams could not be reached from this process
    then (or it was killed between its commit and its publish)."""

    failed = 0

    async def publish(self, entries: Sequence[OutboxEntry]) -> None:
        if not self.failed:
            self.failed += 1
            raise ConnectionError("the streams went away")
        await super().publish(entries)


class HeldRelay(OutboxRelay):
    """A relay that keeps the entries it is given instead of publishing them (a process between its commit
    and its publish)."""

    entries: Sequence[OutboxEntry] = ()

    async def publish(self, entries: Sequence[OutboxEntry]) -> None:
        self.entries = entries


async def no_head() -> Position:
    raise AssertionError("a user snapshot asks the relay's streams, not the head")


async def until_empty(outbox: Outbox, timeout: float = 10) -> None:
    """Until a relay has published and deleted every entry of the outbox."""
    async with asyncio.timeout(timeout):
        while await outbox.count():
            await asyncio.sleep(0.02)


async def mirror(directory: TopicDirectory, topic: str, streams: Streams | None = None) -> TopicMirror:
    """A screen subscribed to ``topic`` now (``streams``: for topics whose snapshot reads the head)."""

    async def head() -> Position:
        assert streams is not None
        return await streams.head(topic)

    document, position = await directory.snapshot(topic, head if streams is not None else no_head)
    screen = TopicMirror(topic)
    screen.apply_snapshot(position.epoch, position.offset, document)
    return screen


async def converged(directory: TopicDirectory, streams: Streams, screen: TopicMirror) -> None:
    """Apply what the stream has after the screen's position, then check it shows the fresh snapshot."""
    assert screen.epoch is not None
    assert screen.offset is not None
    deltas = await streams.since(screen.topic, screen.epoch, screen.offset)
    assert deltas is not None
    for delta in deltas:
        assert screen.apply_delta(delivered(delta)[0]) is MirrorOutcome.APPLIED

    async def head() -> Position:
        return await streams.head(screen.topic)

    document, position = await directory.snapshot(screen.topic, head)
    assert (screen.document, screen.epoch, screen.offset) == (document, position.epoch, position.offset)
