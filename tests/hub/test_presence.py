"""Presence on both implementations (in memory, and on the real Redis of the tests), with a fake
clock: every change is a delta that, applied to the previous snapshot, gives the next snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from protocol import Delta, TopicMirror
from server.hub.frames import LiveDelta
from server.hub.memory import MemoryStreams
from server.hub.presence import MemoryPresence, Person, Presence
from server.hub.presence_redis import RedisPresence
from server.hub.redis import RedisStreams
from server.hub.streams import Streams
from tests.hub.test_streams import FakeClock

ANA = Person("a1", "ana", "Ana")
BEN = Person("b2", "ben", "Ben")


@pytest.fixture(params=["memory", "redis"])
async def world(
    request, redis_server: str, redis_prefix: str
) -> AsyncIterator[tuple[Presence, Streams, FakeClock]]:
    clock = FakeClock()
    if request.param == "memory":
        streams: Streams = MemoryStreams(clock=clock)
        yield MemoryPresence(streams, ttl_seconds=20, grace_ms=3000), streams, clock  # type: ignore[arg-type]
        return
    client = aioredis.from_url(redis_server)
    redis_streams = RedisStreams(client, prefix=redis_prefix, clock=clock)
    yield RedisPresence(client, redis_streams, ttl_seconds=20, grace_ms=3000), redis_streams, clock
    await client.aclose()


async def replayed(presence: Presence, streams: Streams, mirror: TopicMirror, scope: str) -> dict:
    """Apply the deltas published since the mirror's offset; check the result is the fresh snapshot."""
    deltas = await streams.since(mirror.topic, mirror.epoch, mirror.offset)
    assert deltas is not None
    for delta in deltas:
        live = LiveDelta.from_stream(delta)
        mirror.apply_delta(Delta.model_validate({**live.wire()}))
    document, position = await presence.snapshot(scope)
    assert (position.epoch, position.offset) == (mirror.epoch, mirror.offset)
    assert mirror.document == document
    return document


async def test_people_not_tabs_with_a_grace_on_leaving(world):
    presence, streams, clock = world
    document, position = await presence.snapshot("global")
    assert document == {"scope": "global", "count": 0, "truncated": False, "people": {}}
    mirror = TopicMirror("presence:global")
    mirror.apply_snapshot(position.epoch, position.offset, document)

    await presence.join("s1", ANA, ["global", "team:core"])
    await presence.join("s2", ANA, ["global"])  # a second tab: no change
    await presence.join("s3", BEN, ["global"])
    document = await replayed(presence, streams, mirror, "global")
    assert document["count"] == 2
    assert document["people"]["a1"] == {"handle": "ana", "display_name": "Ana", "since_ms": 1_800_000_000_000}
    assert mirror.offset == position.offset + 2

    await presence.leave("s1", ANA, ["global", "team:core"])
    clock.advance(5)  # past the grace: s1 stops counting, but s2 keeps Ana online
    await presence.tick()
    assert (await replayed(presence, streams, mirror, "global"))["count"] == 2
    team, _ = await presence.snapshot("team:core")
    assert team["count"] == 0

    await presence.leave("s2", ANA, ["global"])
    clock.advance(1)  # within the grace: still online (a reload does not flicker)
    await presence.tick()
    assert "a1" in (await replayed(presence, streams, mirror, "global"))["people"]
    clock.advance(3)
    await presence.tick()
    document = await replayed(presence, streams, mirror, "global")
    assert document == {
        "scope": "global",
        "count": 1,
        "truncated": False,
        "people": {"b2": {"handle": "ben", "display_name": "Ben", "since_ms": 1_800_000_000_000}},
    }


async def test_a_dead_nodes_sessions_expire_after_the_ttl(redis_server, redis_prefix):
    clock = FakeClock()
    client = aioredis.from_url(redis_server)
    try:
        streams = RedisStreams(client, prefix=redis_prefix, clock=clock)
        dead = RedisPresence(client, streams, ttl_seconds=20)
        alive = RedisPresence(client, streams, ttl_seconds=20)
        await dead.join("n1.s1", ANA, ["global"])
        await alive.join("n2.s1", BEN, ["global"])
        clock.advance(15)
        await alive.tick()  # refreshes Ben; nobody refreshes Ana any more
        assert (await alive.snapshot("global"))[0]["count"] == 2
        clock.advance(10)  # Ana's last refresh was 25 s ago, past the 20 s TTL
        await alive.tick()
        document, _ = await alive.snapshot("global")
        assert set(document["people"]) == {"b2"}
        # A node that was merely slow (its sessions swept meanwhile) puts them back on its next tick.
        await dead.tick()
        assert set((await alive.snapshot("global"))[0]["people"]) == {"a1", "b2"}
    finally:
        await client.aclose()
