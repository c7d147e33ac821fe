"""The outbox relay, on SQLite and PostgreSQL, with the in-memory streams and with Redis: committed
entries reach the streams once each, in version order, whichever process publishes them and in whatever
order; an early one brings the earlier committed ones with it; what a dead process left behind is swept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence import live_outbox
from persistence.db import begin_write, create_engine, session_factory
from persistence.live_outbox import Outbox, OutboxEntry
from persistence.models import utcnow
from server.hub.memory import MemoryBus, MemoryStreams
from server.hub.redis import RedisStreams
from server.hub.streams import Delta, Streams
from server.services.topics.outbox_relay import OutboxRelay

TOPIC = "user:0b8c0b5e-6f1e-4c1e-9a57-1d3f1b6f0a11"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(params=["memory", "redis"])
def _redis(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """The Redis URL and the test's prefix for the Redis runs (looked up from a plain fixture: async ones
    cannot look up others), so that the memory runs need no Redis."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_server"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def streams(_redis: tuple[str, str] | None) -> AsyncIterator[Streams]:
    if _redis is None:
        yield MemoryStreams()
        return
    url, prefix = _redis
    client = aioredis.from_url(url)
    yield RedisStreams(client, prefix=prefix)
    await client.aclose()


async def commit(
    sessions: async_sessionmaker[AsyncSession], *versions: int, topic: str = TOPIC, at: datetime | None = None
) -> list[OutboxEntry]:
    """What a scoring transaction leaves: one entry per version, committed."""
    async with sessions() as session, session.begin():
        await begin_write(session)
        rows = [(topic, v, f"v{v}".encode()) for v in versions]
        return await live_outbox.add(session, rows, at or utcnow())


async def logged(streams: Streams, topic: str = TOPIC) -> list[bytes]:
    head = await streams.head(topic)
    return [delta.payload for delta in await streams.since(topic, head.epoch, 0) or []]


async def test_entries_reach_the_streams_once_each_in_version_order(sessions, streams):
    outbox = Outbox(sessions)
    relay, other = OutboxRelay(outbox, streams), OutboxRelay(outbox, streams)
    await streams.position_at(TOPIC, 0)  # a screen's snapshot at version 0 is the baseline
    first = await commit(sessions, 1)
    second = await commit(sessions, 2)
    third = await commit(sessions, 3)
    # The process that committed 2 and 3 publishes before the one that committed 1: 1 comes first anyway.
    await other.publish(third + second)
    await relay.publish(first)
    await relay.publish(first + second)  # again (a sweep, a retry): nothing twice
    assert await logged(streams) == [b"v1", b"v2", b"v3"]
    assert await outbox.count() == 3  # published; deleted with the next flush, in one statement
    await relay.flush()
    await other.flush()
    assert await outbox.count() == 0


async def test_an_early_entry_brings_the_committed_ones_before_it(sessions, streams):
    outbox = Outbox(sessions)
    await streams.position_at(TOPIC, 4)
    await commit(sessions, 5, 6)  # committed by a process that died before publishing
    seventh = await commit(sessions, 7)
    relay = OutboxRelay(outbox, streams)
    await relay.publish(seventh)
    assert await logged(streams) == [b"v5", b"v6", b"v7"]
    await relay.flush()
    assert await outbox.count() == 0


async def test_a_version_missing_from_the_outbox_starts_the_topic_over(sessions, streams):
    outbox = Outbox(sessions)
    before = await streams.position_at(TOPIC, 1)
    assert before is not None
    entries = await commit(sessions, 2, 3, 4)
    await outbox.remove([entries[1].id])  # 3 is gone (deleted by hand, a restored backup)
    relay = OutboxRelay(outbox, streams)
    await relay.publish(entries[2:])
    head = await streams.head(TOPIC)
    assert head.epoch != getattr(before, "epoch", None)  # screens reload a snapshot
    assert await logged(streams) == [b"v4"]
    await relay.flush()
    assert await outbox.count() == 0


async def test_the_sweep_publishes_what_a_dead_process_left_behind(sessions):
    streams = MemoryStreams()
    arrived: asyncio.Queue[Delta] = asyncio.Queue()

    class Listener:
        def on_delta(self, delta: Delta) -> None:
            arrived.put_nowait(delta)

        def on_reset(self) -> None:
            pass

    bus = MemoryBus(streams, Listener())
    await bus.start()
    await bus.subscribe(TOPIC)
    await streams.position_at(TOPIC, 0)
    await commit(sessions, 1, 2)  # the committing process died: nobody publishes these
    relay = OutboxRelay(Outbox(sessions), streams, grace_seconds=0.05, interval_seconds=0.05)
    relay.start()
    try:
        got = [await asyncio.wait_for(arrived.get(), 10) for _ in range(2)]
        # Deleted right after they were published (polled: the delete has no event of its own).
        async with asyncio.timeout(10):
            while await Outbox(sessions).count():
                await asyncio.sleep(0.01)
    finally:
        await relay.aclose()
        await bus.aclose()
    assert [delta.payload for delta in got] == [b"v1", b"v2"]


async def test_a_sweep_leaves_recent_entries_to_their_own_process(sessions):
    streams = MemoryStreams()
    await commit(sessions, 1)
    assert await OutboxRelay(Outbox(sessions), streams, grace_seconds=60).sweep() == 0
    assert await Outbox(sessions).count() == 1
