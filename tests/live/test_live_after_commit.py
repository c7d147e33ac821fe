"""The live changes of scoring go out after the commit, through the live outbox: no call to the streams
while a scoring transaction is open, a failed transaction publishes nothing and leaves no entry,
concurrent scorers of one user (and of one team's members) append each user version once and in order and
leave every screen (user, team, feed) equal to a fresh snapshot, and a change whose post-commit publish
failed (a process cut off or killed between its commit and its publish) reaches the screens through
another relay's sweep, once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from game import MetricEvent
from persistence.db import create_engine
from persistence.live_outbox import Outbox, OutboxEntry
from persistence.scoring import Scorer, Submission
from protocol import Outcome as MirrorOutcome
from protocol import TopicMirror
from server.hub.documents import DocumentStore, MemoryDocuments
from server.hub.memory import MemoryStreams
from server.hub.redis import RedisStreams
from server.hub.streams import Delta, Missing, Position, Seen, Streams, Versioned
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from server.services.topics.document_push import Documents
from server.services.topics.live_documents import Changed, LiveDocuments
from server.services.topics.outbox_relay import OutboxRelay
from tasks.scoring_step import ScoringStep
from tests.live.conftest import NOW, World
from tests.live.test_challenge_lifecycle import delivered
from tests.polling import until

Sessions = async_sessionmaker[AsyncSession]


def review(event_id: str, user_id: str, value: float = 1) -> Submission:
    return Submission(MetricEvent(event_id, user_id, "reviews_done", value, NOW - timedelta(hours=1)), "test")


class Tracked(Session):
    """A session class that knows which tasks have a database transaction of it open (from BEGIN to its
    end: commit, rollback or close): the locks a transaction takes are held by the task that runs it."""

    open: ClassVar[dict[int, asyncio.Task[Any] | None]] = {}

    @classmethod
    def in_transaction(cls) -> bool:
        """Whether the running task has a transaction open."""
        return asyncio.current_task() in cls.open.values()


@sa_event.listens_for(Tracked, "after_begin")
def _began(session: Session, transaction: Any, connection: Any) -> None:
    Tracked.open[id(session)] = asyncio.current_task()


@sa_event.listens_for(Tracked, "after_transaction_end")
def _ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        Tracked.open.pop(id(session), None)


class WatchedStreams(MemoryStreams):
    """In-memory streams that note every call made by a task while it has a `Tracked` transaction open."""

    def __init__(self) -> None:
        super().__init__()
        self.inside: list[str] = []
        self.calls = 0

    def _note(self, name: str) -> None:
        self.calls += 1
        if Tracked.in_transaction():
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


@dataclass
class Process:
    """What one scoring process runs: its live documents (teams, feed), its relay and its scoring step, on
    the shared database, streams and document store; and a directory that serves snapshots from them."""

    documents: LiveDocuments
    relay: OutboxRelay
    step: ScoringStep
    directory: TopicDirectory


def process(
    sessions: Sessions,
    rules: RulesService,
    streams: Streams,
    store: Documents,
    relay_class: type[OutboxRelay] = OutboxRelay,
    reconcile_every_s: float = 2.0,
    **relay_options: Any,
) -> Process:
    outbox = Outbox(sessions)
    documents = LiveDocuments(
        store, sessions, rules.engine, push_ms=10, clock=lambda: NOW, reconcile_every_s=reconcile_every_s
    )
    relay = relay_class(outbox, streams, on_changed=documents.changed, **relay_options)
    step = ScoringStep(Scorer(sessions), rules, relay)
    directory = TopicDirectory(sessions, rules, clock=lambda: NOW, relay=relay, documents=documents)
    return Process(documents, relay, step, directory)


async def test_no_stream_call_while_the_scoring_transaction_is_open(
    world: World, tracked: Sessions, rules: RulesService
) -> None:
    """Users in a team, batches with notable moments: every live change (users, team, feed) goes out once
    the transaction has ended, none while it is open."""
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("platform", {ana: NOW, ben: NOW})
    streams = WatchedStreams()
    live = process(tracked, rules, streams, MemoryDocuments(streams))
    topics = [f"user:{ana}", f"user:{ben}", "team:platform", "activity:global"]
    screens = [await mirror(live.directory, topic) for topic in topics]
    async with tracked() as session, session.begin():  # the watch sees a call made inside a transaction
        await session.execute(select(1))
        await streams.head("team:platform")
    assert streams.inside == ["head team:platform"]
    streams.inside.clear()
    calls = streams.calls

    await live.step.run([review("r0", ana, 3), review("r1", ben)], NOW)  # badges: the feed moves too
    await live.step.run([review("r2", ana), review("r3", ben)], NOW)
    await live.documents.settled()
    assert streams.calls > calls  # the changes went out...
    assert streams.inside == []  # ...none of them while a transaction was open
    for screen in screens:
        await converged(live.directory, streams, screen)
    assert screens[3].document is not None
    assert screens[3].document["items"]
    await live.relay.flush()  # published entries are deleted in batches
    assert await Outbox(tracked).count() == 0


async def test_a_failed_scoring_transaction_publishes_nothing_and_leaves_no_entry(
    world: World, tracked: Sessions, rules: RulesService
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: NOW})
    streams = MemoryStreams()
    live = process(tracked, rules, streams, MemoryDocuments(streams))
    await live.step.run([review("r0", ana)], NOW)
    await live.documents.settled()
    await live.relay.flush()
    topics = [f"user:{ana}", "team:platform", "activity:global"]
    screens = [await mirror(live.directory, topic) for topic in topics]
    before = [screen.document for screen in screens]

    @sa_event.listens_for(Tracked, "before_commit")
    def fail(session: Session) -> None:
        raise RuntimeError("the database went away at commit")

    try:
        with pytest.raises(RuntimeError, match="went away"):
            await live.step.run([review("r1", ana, 5)], NOW)  # a level, a badge: every topic would move
    finally:
        sa_event.remove(Tracked, "before_commit", fail)
    await live.documents.settled()
    assert await Outbox(tracked).count() == 0
    for screen in screens:
        assert screen.epoch is not None
        assert screen.offset is not None
        assert await streams.since(screen.topic, screen.epoch, screen.offset) == []
        await converged(live.directory, streams, screen)
    assert [screen.document for screen in screens] == before


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
async def shared(_redis: tuple[str, str] | None) -> AsyncIterator[tuple[Streams, Documents]]:
    """The streams and document store every process of the test shares: in memory, or on Redis."""
    if _redis is None:
        streams = MemoryStreams()
        yield streams, MemoryDocuments(streams)
        return
    url, prefix = _redis
    client = aioredis.from_url(url)
    redis_streams = RedisStreams(client, prefix=prefix)
    yield redis_streams, DocumentStore(redis_streams)
    await client.aclose()


# PostgreSQL only: SQLite runs one write transaction at a time, so there is no overlap to test.
@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_scorers_append_each_version_once_in_order(
    world: World, sessions: Sessions, rules: RulesService, shared: tuple[Streams, Documents]
) -> None:
    streams, store = shared
    ana, ben, cy = await world.add_user("ana"), await world.add_user("ben"), await world.add_user("cy")
    await world.add_team("platform", {ana: NOW, ben: NOW, cy: NOW})
    # Four processes, each with its relay and live documents, scoring the same users at once.
    processes = [process(sessions, rules, streams, store, SlowRelay) for _ in range(4)]
    directory = processes[0].directory
    topics = [f"user:{user}" for user in (ana, ben, cy)]
    screens = {topic: await mirror(directory, topic) for topic in topics}
    others = [await mirror(directory, topic) for topic in ("team:platform", "activity:global")]

    async def scoring(n: int, step: ScoringStep) -> None:
        for i in range(5):
            other = ben if (n + i) % 2 else cy
            await step.run([review(f"p{n}-{i}-a", ana), review(f"p{n}-{i}-o", other, 2)], NOW)

    await asyncio.gather(*(scoring(n, live.step) for n, live in enumerate(processes)))
    for live in processes:
        await live.documents.settled()
    expected = {topics[0]: 20, topics[1]: 10, topics[2]: 10}  # one change per batch of the user
    for topic, screen in screens.items():
        assert screen.epoch is not None
        assert screen.offset is not None
        deltas = await streams.since(topic, screen.epoch, screen.offset)
        assert deltas is not None
        assert len(deltas) == expected[topic]  # every version once, no gap, nothing doubled
        for delta in deltas:
            assert screen.apply_delta(delivered(delta)[0]) is MirrorOutcome.APPLIED
        document, position = await directory.snapshot(topic, no_head)
        assert (screen.document, screen.offset) == (document, position.offset)
        events = [event for delta in deltas for event in delivered(delta)[1]]
        xp = [event["data"]["xp"] for event in events if event["name"] == "xp_awarded"]
        assert xp == sorted(xp)  # in the order the states changed: the running total only grows
    for screen in others:  # coalesced, consistent: the mirror ends equal to a fresh snapshot
        await converged(directory, streams, screen)
        assert screen.document == await processes[0].documents.document(screen.topic)  # and the database
    for live in processes:
        await live.relay.flush()
    assert await Outbox(sessions).count() == 0


async def test_a_change_whose_publish_failed_reaches_the_screens_through_the_sweep(
    world: World, sessions: Sessions, rules: RulesService, shared: tuple[Streams, Documents]
) -> None:
    """The scoring process is cut off from the streams and dies right after its commit: its user entries
    stay in the outbox, and another process's running relay publishes them after the grace, once; the team
    and feed marks died with it, and that process's reconciliation pushes those documents."""
    streams, store = shared
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: NOW})
    cut_off = process(sessions, rules, streams, store, CutOffRelay)
    sweeper = process(
        sessions, rules, streams, store, reconcile_every_s=0.05, grace_seconds=0.2, interval_seconds=0.05
    )
    topics = [f"user:{ana}", "team:platform", "activity:global"]
    screens = [await mirror(sweeper.directory, topic) for topic in topics]

    await cut_off.step.run([review("r1", ana, 3)], NOW)  # committed; its publish fails, the step carries on
    assert isinstance(cut_off.relay, CutOffRelay)
    assert cut_off.relay.failed == 1
    assert await Outbox(sessions).count() == 1  # the user's delta (teams and the feed are recomputed)
    for screen in screens:
        assert screen.epoch is not None
        assert screen.offset is not None
        assert await streams.since(screen.topic, screen.epoch, screen.offset) == []
    sweeper.relay.start()
    sweeper.documents.start()
    try:
        await until_empty(Outbox(sessions))
        for screen in screens[1:]:

            async def shows_the_database(screen: TopicMirror = screen) -> bool:
                await converged(sweeper.directory, streams, screen)
                return screen.document == await sweeper.documents.document(screen.topic)

            await until(shows_the_database, f"{screen.topic} shows the committed change")
        await cut_off.step.run([review("r2", ana, 1)], NOW)  # the next change follows it (published at once)
        await cut_off.documents.settled()
        await cut_off.relay.flush()
        assert await Outbox(sessions).count() == 0
    finally:
        await sweeper.relay.aclose()
        await sweeper.documents.aclose()
    user = screens[0]
    assert user.epoch is not None
    assert user.offset is not None
    deltas = await streams.since(user.topic, user.epoch, user.offset)
    assert deltas is not None
    assert len(deltas) == 2  # the swept change once, then the next
    for screen in screens:  # a user snapshot is read from the database; teams and the feed are kept
        await converged(sweeper.directory, streams, screen)
    for screen in screens[1:]:
        assert screen.document == await sweeper.documents.document(screen.topic)


async def test_a_snapshot_publishes_what_is_committed_but_not_yet_published(
    world: World, sessions: Sessions, rules: RulesService, shared: tuple[Streams, Documents]
) -> None:
    """A screen that subscribes between another process's commit and its publish gets the committed state,
    at the position of its delta, which that process's late publish then does not append again."""
    streams, store = shared
    ana = await world.add_user("ana")
    topic = f"user:{ana}"
    held = process(sessions, rules, streams, store, HeldRelay)
    other = process(sessions, rules, streams, store)
    early = await mirror(other.directory, topic)
    await held.step.run([review("r1", ana, 2)], NOW)
    late = await mirror(other.directory, topic)  # the entry is committed, not published: the snapshot does it
    assert late.document != early.document
    assert isinstance(held.relay, HeldRelay)
    await other.relay.publish(held.relay.entries)  # the late publish: Seen
    await other.documents.settled()
    await other.relay.flush()
    assert early.epoch is not None
    assert early.offset is not None
    (delta,) = await streams.since(topic, early.epoch, early.offset) or []
    assert early.apply_delta(delivered(delta)[0]) is MirrorOutcome.APPLIED
    assert (early.document, early.offset) == (late.document, late.offset)
    assert await Outbox(sessions).count() == 0


class CutOffRelay(OutboxRelay):
    """A relay whose first post-commit publish fails (the streams could not be reached from this process
    then), and whose process then dies before it tells its live documents what changed."""

    failed = 0
    _failing = False

    async def publish(self, entries: Sequence[OutboxEntry]) -> None:
        if self._failing:
            raise ConnectionError("the streams went away")
        await super().publish(entries)

    async def publish_committed(
        self, entries: Sequence[OutboxEntry], changed: Sequence[Changed] = ()
    ) -> None:
        if self.failed:
            await super().publish_committed(entries, changed)
            return
        self.failed += 1
        self._failing = True
        try:
            await super().publish_committed(entries)  # logged and left to a sweep; the marks die with it
        finally:
            self._failing = False


class HeldRelay(OutboxRelay):
    """A relay that keeps the entries it is given instead of publishing them (a process between its commit
    and its publish)."""

    entries: Sequence[OutboxEntry] = ()

    async def publish(self, entries: Sequence[OutboxEntry]) -> None:
        self.entries = entries


async def no_head() -> Position:
    raise AssertionError("these snapshots never read the head")


async def until_empty(outbox: Outbox) -> None:
    """Until a relay has published and deleted every entry of the outbox."""

    async def empty() -> bool:
        return await outbox.count() == 0

    await until(empty, "a relay publishes and deletes every outbox entry")


async def mirror(directory: TopicDirectory, topic: str) -> TopicMirror:
    """A screen subscribed to ``topic`` now."""
    document, position = await directory.snapshot(topic, no_head)
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
    document, position = await directory.snapshot(screen.topic, no_head)
    assert (screen.document, screen.epoch, screen.offset) == (document, position.epoch, position.offset)
