"""Topic streams and the bus, on both implementations: in memory, and on the real Redis of the tests.

The Redis runs use the test's own key prefix (so also their own pub/sub channels) and separate client
connections where the tests stand for separate processes. Nothing sleeps hoping for a delivery: tests
await a queue with a timeout, and prove that something did NOT arrive with a fence (a delta on another
topic published afterwards: one connection delivers in order, so once the fence is in, so is anything
published before it). Network failures of a single connection are played by a TCP proxy in front of the
shared server (it stalls, refuses or cuts), or by CLIENT KILL of the bus's own connection.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from server.hub import redis as redis_hub
from server.hub.memory import MemoryBus, MemoryStreams
from server.hub.redis import RedisBus, RedisNames, RedisStreams
from server.hub.streams import Bus, BusClosed, Delta, Missing, Position, Seen, Streams, Versioned

TIMEOUT = 10.0
TOPIC = "user:0b8c0b5e-6f1e-4c1e-9a57-1d3f1b6f0a11"
FENCE = "presence:global"


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A bus listener that queues what it is told."""

    def __init__(self) -> None:
        self.deltas: asyncio.Queue[Delta] = asyncio.Queue()
        self.resets: asyncio.Queue[None] = asyncio.Queue()

    def on_delta(self, delta: Delta) -> None:
        self.deltas.put_nowait(delta)

    def on_reset(self) -> None:
        self.resets.put_nowait(None)

    async def next(self) -> Delta:
        return await asyncio.wait_for(self.deltas.get(), TIMEOUT)

    async def before(self, fence: Delta) -> list[Delta]:
        """Everything delivered up to `fence` (which must come), in order, without it."""
        seen = []
        while (delta := await self.next()) != fence:
            seen.append(delta)
        return seen

    async def reset(self) -> None:
        await asyncio.wait_for(self.resets.get(), TIMEOUT)


@dataclass
class Backend:
    """One implementation, with what the tests need to stand in for other processes or lost keys."""

    kind: str
    make: Callable[..., Streams]
    """A new, empty store (keyword arguments: the bounds and the clock)."""
    other: Callable[[Streams], Streams]
    """Another handle on the same store (for Redis: another client connection, as another process)."""
    bus: Callable[[Streams, Recorder], Awaitable[Bus]]
    """A started bus (for Redis: its own connection, as in another process)."""
    lose: Callable[[Streams, str], Awaitable[None]]
    """Lose a topic's history behind the streams' back (Redis: delete its keys)."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


async def _memory_backend() -> Backend:
    closers: list[Callable[[], Awaitable[None]]] = []

    async def bus(streams: Streams, recorder: Recorder) -> Bus:
        assert isinstance(streams, MemoryStreams)
        made = MemoryBus(streams, recorder)
        await made.start()
        closers.append(made.aclose)
        return made

    async def lose(streams: Streams, topic: str) -> None:
        await streams.drop(topic)

    return Backend("memory", MemoryStreams, lambda streams: streams, bus, lose, closers)


async def _redis_backend(url: str, prefix: str) -> Backend:
    closers: list[Callable[[], Awaitable[None]]] = []

    def client() -> aioredis.Redis:
        made = aioredis.from_url(url)
        closers.append(made.aclose)
        return made

    def make(**kwargs: Any) -> Streams:
        return RedisStreams(client(), prefix=prefix, **kwargs)

    def other(streams: Streams) -> Streams:
        assert isinstance(streams, RedisStreams)
        return RedisStreams(client(), prefix=prefix, max_len=streams.max_len, clock=streams.clock)

    async def bus(streams: Streams, recorder: Recorder) -> Bus:
        made = RedisBus(client(), recorder, prefix=prefix)
        await made.start()
        closers.insert(0, made.aclose)  # before its client
        return made

    async def lose(streams: Streams, topic: str) -> None:
        admin = client()
        keys = [key async for key in admin.scan_iter(match=f"{prefix}*") if f"{{{topic}}}".encode() in key]
        assert len(keys) == 2, keys  # the meta and the log
        await admin.delete(*keys)

    return Backend("redis", make, other, bus, lose, closers)


@pytest.fixture(params=["memory", "redis"])
def _services(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """The Redis URL and the test's prefix, for the Redis runs (looked up by name, so that the memory
    runs need no Redis; from a plain fixture, as async ones cannot look up others)."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_server"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def backend(_services: tuple[str, str] | None) -> AsyncIterator[Backend]:
    made = await _memory_backend() if _services is None else await _redis_backend(*_services)
    yield made
    for close in made.closers:
        await close()


@pytest.fixture
async def redis_client(redis_server: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_server)
    yield client
    await client.aclose()


# ------------------------------------------------------------------------------------------ positions


async def test_offsets_start_at_one_and_increase(backend: Backend) -> None:
    streams = backend.make()
    head = await streams.head(TOPIC)
    assert head.offset == 0
    assert len(head.epoch) == 12
    assert await streams.head(TOPIC) == head  # reading the head does not start a new epoch
    deltas = [await streams.publish(TOPIC, b"delta %d" % i) for i in range(5)]
    assert [delta.offset for delta in deltas] == [1, 2, 3, 4, 5]
    assert {delta.epoch for delta in deltas} == {head.epoch}
    assert [delta.payload for delta in deltas] == [b"delta %d" % i for i in range(5)]
    assert all(delta.topic == TOPIC for delta in deltas)
    assert await streams.head(TOPIC) == Position(head.epoch, 5)
    assert deltas[-1].position == Position(head.epoch, 5)

    other = await streams.publish("team:core", b"")  # topics are independent
    assert other.offset == 1
    assert other.epoch != head.epoch


async def test_at_ms_follows_the_clock_and_never_goes_back(backend: Backend) -> None:
    clock = FakeClock()
    streams = backend.make(clock=clock)
    first = await streams.publish(TOPIC, b"a")
    assert first.at_ms == int(clock.now * 1000)
    clock.advance(-30)  # a publisher with a slow clock
    assert (await streams.publish(TOPIC, b"b")).at_ms == first.at_ms
    clock.advance(31)
    assert (await streams.publish(TOPIC, b"c")).at_ms == first.at_ms + 1000


async def test_concurrent_publishers_get_a_gapless_sequence(backend: Backend) -> None:
    first = backend.make()
    writers = [first, backend.other(first)]  # Redis: two client connections, as two processes
    per_task = 200

    async def publish(task: int) -> list[Delta]:
        writer = writers[task % 2]
        return [await writer.publish(TOPIC, b"%d:%d" % (task, i)) for i in range(per_task)]

    results = await asyncio.gather(*(publish(task) for task in range(4)))
    offsets = sorted(delta.offset for deltas in results for delta in deltas)
    assert offsets == list(range(1, 4 * per_task + 1))  # no gap, no duplicate
    for deltas in results:  # each publisher's deltas come in its own order
        assert [delta.offset for delta in deltas] == sorted(delta.offset for delta in deltas)
    [epoch] = {delta.epoch for deltas in results for delta in deltas}
    history = await writers[0].since(TOPIC, epoch, 0)
    assert history == sorted((delta for deltas in results for delta in deltas), key=lambda d: d.offset)


async def test_publish_many_publishes_each_in_order(backend: Backend) -> None:
    streams = backend.make()
    deltas = await streams.publish_many([(TOPIC, b"a"), ("team:core", b"b"), (TOPIC, b"c")])
    assert [(d.topic, d.offset, d.payload) for d in deltas] == [
        (TOPIC, 1, b"a"),
        ("team:core", 1, b"b"),
        (TOPIC, 2, b"c"),
    ]
    assert await streams.since(TOPIC, deltas[0].epoch, 0) == [deltas[0], deltas[2]]
    assert await streams.publish_many([]) == []


# ---------------------------------------------------------------------------------------------- since


async def test_since_returns_exactly_the_missing_deltas(backend: Backend) -> None:
    streams = backend.make()
    deltas = [await streams.publish(TOPIC, bytes([i]) * i) for i in range(10)]
    epoch = deltas[0].epoch
    for offset in range(11):
        assert await streams.since(TOPIC, epoch, offset) == deltas[offset:]
    assert await streams.since(TOPIC, epoch, 10) == []  # at the head
    assert await streams.since(TOPIC, epoch, 11) is None  # ahead of the head
    assert await streams.since(TOPIC, epoch, -1) is None


async def test_since_in_another_epoch_is_none(backend: Backend) -> None:
    streams = backend.make()
    delta = await streams.publish(TOPIC, b"x")
    assert await streams.since(TOPIC, "AAAAAAAAAAAA", 0) is None
    assert await streams.since(TOPIC, "AAAAAAAAAAAA", 1) is None
    assert await streams.since("team:nobody", delta.epoch, 0) is None  # no epoch at all


async def test_count_trimming_keeps_the_latest_and_since_knows_what_is_kept(backend: Backend) -> None:
    streams = backend.make(max_len=10)
    deltas = [await streams.publish(TOPIC, b"%d" % i) for i in range(350)]
    epoch = deltas[0].epoch
    answers = {offset: await streams.since(TOPIC, epoch, offset) for offset in range(351)}
    lowest = min(offset for offset, answer in answers.items() if answer is not None) + 1
    for offset, answer in answers.items():
        # None exactly below what is kept; otherwise the whole rest, however approximate the trimming.
        assert answer == (None if offset + 1 < lowest else deltas[offset:])
    assert 350 - lowest + 1 >= 10  # at least max_len kept
    assert lowest > 1  # and the rest trimmed
    if backend.kind == "memory":
        assert lowest == 341  # exact trimming


async def test_age_trimming_drops_old_deltas(backend: Backend) -> None:
    clock = FakeClock()
    streams = backend.make(max_age_seconds=10, clock=clock)
    deltas = [await streams.publish(TOPIC, b"old") for _ in range(3)]
    clock.advance(5)
    deltas += [await streams.publish(TOPIC, b"middle") for _ in range(2)]
    clock.advance(7)  # the first three are 12 s old now
    deltas.append(await streams.publish(TOPIC, b"new"))
    epoch = deltas[0].epoch
    assert await streams.since(TOPIC, epoch, 3) == deltas[3:]
    assert await streams.since(TOPIC, epoch, 2) is None
    assert await streams.since(TOPIC, epoch, 0) is None


async def test_age_trimming_finds_the_exact_cutoff(backend: Backend) -> None:
    """Bursts, pauses and exact boundaries: after each publish, since() starts exactly at the oldest delta
    that is at most max_age old (the Redis script searches for it before XTRIM MINID)."""
    clock = FakeClock()
    streams = backend.make(max_len=10_000, max_age_seconds=10, clock=clock)
    rng = random.Random(20_260_101)
    published: list[Delta] = []
    for _ in range(150):
        clock.advance(rng.choice([0, 0, 0, 0.001, 0.25, 1, 3, 9.999, 10, 10.001, 25]))
        delta = await streams.publish(TOPIC, b"x")
        if published and delta.epoch != published[0].epoch:
            raise AssertionError("the epoch changed")
        published.append(delta)
        cutoff = delta.at_ms - 10_000
        lowest = next(d.offset for d in published if d.at_ms >= cutoff)
        assert await streams.since(TOPIC, delta.epoch, lowest - 1) == published[lowest - 1 :]
        if lowest >= 2:
            assert await streams.since(TOPIC, delta.epoch, lowest - 2) is None


# ------------------------------------------------------------------------------------ versioned topics


def _v(version: int, topic: str = TOPIC) -> Versioned:
    return Versioned(topic, version, f"v{version}".encode())


async def test_versioned_changes_append_once_in_version_order(backend: Backend) -> None:
    streams = backend.make()
    other = backend.other(streams)
    [first] = await streams.publish_versions([_v(4)])  # no baseline yet: the first one is it
    assert isinstance(first, Delta)
    assert first.offset == 1
    # Another process sends 4 again (a relay, a retry) and 6 before 5 is published.
    assert await other.publish_versions([_v(4), _v(6)]) == [Seen(4), Missing(4)]
    fifth, sixth = await other.publish_versions([_v(5), _v(6)])
    assert isinstance(fifth, Delta)
    assert isinstance(sixth, Delta)
    assert (fifth.offset, sixth.offset) == (2, 3)
    assert await streams.publish_versions([_v(5), _v(3)]) == [Seen(6), Seen(6)]
    logged = await streams.since(TOPIC, first.epoch, 0)
    assert [delta.payload for delta in logged or []] == [b"v4", b"v5", b"v6"]


async def test_unversioned_deltas_leave_the_version_alone(backend: Backend) -> None:
    streams = backend.make()
    await streams.publish_versions([_v(1)])
    await streams.publish(TOPIC, b"events only")
    assert await streams.publish_versions([_v(3)]) == [Missing(1)]
    [second] = await streams.publish_versions([_v(2)])
    assert isinstance(second, Delta)
    assert second.offset == 3


async def test_position_at_a_version(backend: Backend) -> None:
    streams = backend.make()
    # A topic nobody published on yet: the snapshot's version becomes the baseline.
    base = await streams.position_at(TOPIC, 7)
    assert isinstance(base, Position)
    assert base.offset == 0
    assert await streams.position_at(TOPIC, 7) == base
    assert await streams.position_at(TOPIC, 9) == Missing(7)  # 8 and 9 are not published yet
    eighth, ninth = await streams.publish_versions([_v(8), _v(9)])
    assert isinstance(eighth, Delta)
    assert isinstance(ninth, Delta)
    assert await streams.position_at(TOPIC, 9) == ninth.position
    # A snapshot read before 9 was published stands after 8's delta: it gets 9 (and what follows) next.
    assert await streams.position_at(TOPIC, 8) == eighth.position
    # Before 8 there is no delta of 7 in the log: it stands right before 8's.
    assert await streams.position_at(TOPIC, 7) == base
    # Older than anything the log tells: no position (the caller reads a fresher snapshot).
    assert await streams.position_at(TOPIC, 3) is None


async def test_a_lost_history_takes_a_new_baseline(backend: Backend) -> None:
    streams = backend.make()
    await streams.publish_versions([_v(1), _v(2)])
    await backend.lose(streams, TOPIC)
    # Whatever comes next is the baseline of the new epoch: nothing is Missing behind a lost history.
    [fifth] = await streams.publish_versions([_v(5)])
    assert isinstance(fifth, Delta)
    assert fifth.offset == 1
    await streams.drop(TOPIC)
    at = await streams.position_at(TOPIC, 9)
    assert isinstance(at, Position)
    assert at.offset == 0
    assert at.epoch != fifth.epoch


# --------------------------------------------------------------------------------------------- epochs


async def test_a_lost_history_starts_a_new_epoch_at_one(backend: Backend) -> None:
    streams = backend.make()
    old = [await streams.publish(TOPIC, b"x") for _ in range(3)]
    await backend.lose(streams, TOPIC)
    fresh = await streams.publish(TOPIC, b"y")
    assert fresh.offset == 1
    assert fresh.epoch != old[0].epoch
    assert await streams.since(TOPIC, old[0].epoch, 3) is None
    assert await streams.since(TOPIC, fresh.epoch, 0) == [fresh]
    assert await streams.head(TOPIC) == Position(fresh.epoch, 1)


async def test_drop_forgets_a_topic(backend: Backend) -> None:
    streams = backend.make()
    old = await streams.publish(TOPIC, b"x")
    await streams.drop(TOPIC)
    head = await streams.head(TOPIC)
    assert head.epoch != old.epoch
    assert head.offset == 0
    assert await streams.since(TOPIC, old.epoch, 1) is None


async def test_memory_forgets_idle_topics_and_expires_old_history() -> None:
    clock = FakeClock()
    streams = MemoryStreams(max_age_seconds=10, idle_ttl_seconds=60, clock=clock)
    first = [await streams.publish(TOPIC, b"x") for _ in range(2)]
    await streams.publish("team:core", b"y")
    clock.advance(10.5)  # nothing published for longer than max_age: the history goes, the position stays
    assert await streams.since(TOPIC, first[0].epoch, 1) is None
    assert await streams.since(TOPIC, first[0].epoch, 2) == []
    assert await streams.head(TOPIC) == Position(first[0].epoch, 2)
    clock.advance(60.5)  # untouched for longer than idle_ttl: forgotten, a new epoch
    assert await streams.since(TOPIC, first[0].epoch, 2) is None
    head = await streams.head(TOPIC)
    assert head.offset == 0
    assert head.epoch != first[0].epoch
    assert "team:core" not in streams._topics  # swept on the way


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="max_len"):
        MemoryStreams(max_len=0)
    with pytest.raises(ValueError, match="max_age_seconds"):
        MemoryStreams(max_age_seconds=0)
    with pytest.raises(ValueError, match="idle_ttl_seconds"):
        MemoryStreams(max_age_seconds=100, idle_ttl_seconds=10)


# ------------------------------------------------------------------------------------- Redis specifics


async def test_redis_keys_live_under_the_prefix_and_expire(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    clock = FakeClock()
    streams = RedisStreams(
        redis_client, prefix=redis_prefix, max_age_seconds=60, idle_ttl_seconds=600, clock=clock
    )
    delta = await streams.publish(TOPIC, b"x")
    names = RedisNames(redis_prefix)
    keys = {key async for key in redis_client.scan_iter(match=f"{redis_prefix}*")}
    assert keys == {names.meta(TOPIC).encode(), names.log(TOPIC).encode()}
    assert 0 < await redis_client.pttl(names.log(TOPIC)) <= 60_000
    assert 60_000 < await redis_client.pttl(names.meta(TOPIC)) <= 600_000
    assert await redis_client.type(names.log(TOPIC)) == b"stream"
    [(entry_id, fields)] = await redis_client.xrange(names.log(TOPIC))  # type: ignore[misc]
    assert (entry_id, fields) == (b"1-0", {b"t": b"%d" % delta.at_ms, b"p": b"x"})  # id = offset


async def test_redis_lost_meta_starts_a_new_epoch_without_the_old_log(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    streams = RedisStreams(redis_client, prefix=redis_prefix)
    old = [await streams.publish(TOPIC, b"x") for _ in range(3)]
    await redis_client.delete(RedisNames(redis_prefix).meta(TOPIC))  # as if evicted
    fresh = await streams.publish(TOPIC, b"y")
    assert (fresh.offset, fresh.epoch != old[0].epoch) == (1, True)
    assert await streams.since(TOPIC, fresh.epoch, 0) == [fresh]  # none of the old deltas pass for new
    assert await streams.since(TOPIC, old[0].epoch, 0) is None


async def test_redis_lost_log_keeps_the_epoch_but_not_the_old_positions(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    streams = RedisStreams(redis_client, prefix=redis_prefix)
    old = [await streams.publish(TOPIC, b"x") for _ in range(3)]
    await redis_client.delete(RedisNames(redis_prefix).log(TOPIC))  # as if evicted or expired
    epoch = old[0].epoch
    assert await streams.since(TOPIC, epoch, 3) == []
    assert await streams.since(TOPIC, epoch, 2) is None
    fourth = await streams.publish(TOPIC, b"y")
    assert (fourth.epoch, fourth.offset) == (epoch, 4)
    assert await streams.since(TOPIC, epoch, 3) == [fourth]
    assert await streams.since(TOPIC, epoch, 0) is None


async def test_redis_history_from_another_server_run_starts_a_new_epoch(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    """A restart that reloaded a snapshot (or a failover) may have lost the last offsets given out."""
    streams = RedisStreams(redis_client, prefix=redis_prefix)
    old = [await streams.publish(TOPIC, b"x") for _ in range(3)]
    await redis_client.hset(RedisNames(redis_prefix).meta(TOPIC), "run", "0" * 40)  # another server's
    assert await streams.since(TOPIC, old[0].epoch, 2) is None
    head = await streams.head(TOPIC)
    assert head.epoch != old[0].epoch
    assert head.offset == 0
    assert (await streams.publish(TOPIC, b"y")).offset == 1


async def test_redis_scripts_are_loaded_when_the_server_lacks_them(
    redis_client: aioredis.Redis, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A variant of the script that this server cannot know yet (no SCRIPT FLUSH: the server is shared).
    unknown = redis_hub.Script(redis_hub._PUBLISH.source + f"\n-- {redis_prefix}\n")
    monkeypatch.setattr(redis_hub, "_PUBLISH", unknown)
    streams = RedisStreams(redis_client, prefix=redis_prefix)
    assert (await streams.publish(TOPIC, b"a")).offset == 1  # one call
    unknown = redis_hub.Script(redis_hub._PUBLISH.source + "-- pipelined\n")
    monkeypatch.setattr(redis_hub, "_PUBLISH", unknown)
    deltas = await streams.publish_many([(TOPIC, b"b"), (TOPIC, b"c")])  # a pipeline
    assert [delta.offset for delta in deltas] == [2, 3]


async def test_redis_needs_a_bytes_client(redis_server: str) -> None:
    client = aioredis.from_url(redis_server, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisStreams(client)
        with pytest.raises(ValueError, match="decode_responses"):
            RedisBus(client, Recorder())
    finally:
        await client.aclose()


# ------------------------------------------------------------------------------------------------ bus


async def test_bus_delivers_each_delta_once_per_process(backend: Backend) -> None:
    streams = backend.make()
    a, b = Recorder(), Recorder()
    buses = [await backend.bus(streams, a), await backend.bus(streams, b)]
    for bus in buses:
        await bus.subscribe(TOPIC)
        await bus.subscribe(FENCE)
    published = [await streams.publish(TOPIC, b"%d" % i) for i in range(20)]
    fence = await streams.publish(FENCE, b"")
    assert await a.before(fence) == published  # each once, in order
    assert await b.before(fence) == published


async def test_bus_delivers_nothing_after_unsubscribe_nor_before_subscribe(backend: Backend) -> None:
    streams = backend.make()
    a, b = Recorder(), Recorder()
    bus_a, bus_b = await backend.bus(streams, a), await backend.bus(streams, b)
    for bus in (bus_a, bus_b):
        await bus.subscribe(FENCE)
    early = await streams.publish(TOPIC, b"before anyone listens")
    await bus_a.subscribe(TOPIC)
    await bus_b.subscribe(TOPIC)
    first = await streams.publish(TOPIC, b"1")
    assert await a.next() == first
    await bus_a.unsubscribe(TOPIC)
    second = await streams.publish(TOPIC, b"2")
    fence = await streams.publish(FENCE, b"")
    assert await a.before(fence) == []
    assert await b.before(fence) == [first, second]
    assert early.offset == 1
    assert bus_a.subscriptions() == {FENCE: 1}


async def test_bus_subscriptions_are_reference_counted(backend: Backend) -> None:
    streams = backend.make()
    recorder = Recorder()
    bus = await backend.bus(streams, recorder)
    await bus.subscribe(FENCE)
    await bus.subscribe(TOPIC)
    await bus.subscribe(TOPIC)  # a second session on the same topic
    assert bus.subscriptions() == {FENCE: 1, TOPIC: 2}
    await bus.unsubscribe(TOPIC)  # one session left: still listening
    kept = await streams.publish(TOPIC, b"kept")
    assert await recorder.before(await streams.publish(FENCE, b"")) == [kept]
    await bus.unsubscribe(TOPIC)  # the last one
    assert bus.subscriptions() == {FENCE: 1}
    await streams.publish(TOPIC, b"unheard")
    assert await recorder.before(await streams.publish(FENCE, b"")) == []
    with pytest.raises(KeyError):
        await bus.unsubscribe(TOPIC)
    await bus.subscribe(TOPIC)  # and again from zero
    again = await streams.publish(TOPIC, b"again")
    assert await recorder.next() == again


class FlakyRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def on_delta(self, delta: Delta) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the hub had a bad moment")
        super().on_delta(delta)


async def test_bus_survives_a_failing_listener(backend: Backend) -> None:
    streams = backend.make()
    recorder = FlakyRecorder()
    bus = await backend.bus(streams, recorder)
    await bus.subscribe(TOPIC)
    await streams.publish(TOPIC, b"lost on the listener")
    second = await streams.publish(TOPIC, b"delivered")
    assert await recorder.next() == second
    assert recorder.failed


@pytest.mark.parametrize("protocol", [2, 3])
async def test_redis_bus_reconnects_resubscribes_and_resets(
    redis_server: str, redis_prefix: str, redis_client: aioredis.Redis, protocol: int
) -> None:
    streams = RedisStreams(redis_client, prefix=redis_prefix)
    recorder = Recorder()
    bus_client = aioredis.from_url(redis_server, protocol=protocol)
    async with RedisBus(bus_client, recorder, prefix=redis_prefix) as bus:
        await bus.subscribe(TOPIC)
        first = await streams.publish(TOPIC, b"1")
        assert await recorder.next() == first

        for round_ in (1, 2):  # and again, through the backoff
            old_id = bus.client_id
            assert old_id is not None
            assert await redis_client.client_kill_filter(_id=str(old_id)) == 1
            await recorder.reset()  # told once the subscriptions are back
            assert bus.client_id not in (None, old_id)
            assert bus.reconnects == round_
            after = await streams.publish(TOPIC, b"after %d" % round_)
            assert await recorder.next() == after

        # A subscription made while the connection is down (or going down) is honoured too.
        assert bus.client_id is not None
        await redis_client.client_kill_filter(_id=str(bus.client_id))
        await asyncio.wait_for(bus.subscribe("team:core"), TIMEOUT)
        await recorder.reset()
        joined = await streams.publish("team:core", b"joined")
        assert await recorder.next() == joined
    assert bus.client_id is None
    await bus_client.aclose()


async def test_redis_bus_subscribe_cancelled_counts_nothing(redis_client: aioredis.Redis) -> None:
    bus = RedisBus(redis_client, Recorder())  # not started: a subscription cannot be confirmed
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(bus.subscribe(TOPIC), 0.05)
    assert bus.subscriptions() == {}
    waiting = asyncio.create_task(bus.subscribe(TOPIC))
    await asyncio.sleep(0)  # let it start waiting
    await bus.aclose()
    with pytest.raises(BusClosed):
        await waiting
    assert bus.subscriptions() == {}
    with pytest.raises(RuntimeError, match="started"):
        await bus.start()


class Proxy:
    """A TCP proxy in front of the test Redis that can stall its connections or refuse new ones: a
    network failure of the bus's connection alone, without touching the shared server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.refuse = 0
        self.refused = 0
        self.stalled = False
        self.cut_next_reply = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def proxied_url(self) -> str:
        parts = urlsplit(self.url)
        auth = parts.netloc.rpartition("@")[0]
        address = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{auth}@{address}" if auth else address))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            self.refuse -= 1
            self.refused += 1
            writer.close()
            return
        self.stalled = False  # a new connection works again
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers |= {writer, up_writer}
        for source, sink, replies in ((reader, up_writer, False), (up_reader, writer, True)):
            task = asyncio.create_task(self._pipe(source, sink, replies))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, replies: bool) -> None:
        try:
            while data := await source.read(65_536):
                if replies and self.cut_next_reply:  # the request went through, its answer is lost
                    self.cut_next_reply = False
                    self.drop_connections()
                    return
                if not self.stalled:  # stalled: swallowed, as by a dead link
                    sink.write(data)
                    await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    def drop_connections(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def aclose(self) -> None:
        assert self._server is not None
        self._server.close()
        self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


@pytest.fixture
async def proxy(redis_server: str) -> AsyncIterator[Proxy]:
    made = Proxy(redis_server)
    await made.start()
    yield made
    await made.aclose()


@pytest.mark.parametrize("protocol", [2, 3])
async def test_redis_bus_replaces_a_connection_that_stops_answering(
    proxy: Proxy, redis_prefix: str, redis_client: aioredis.Redis, protocol: int
) -> None:
    streams = RedisStreams(redis_client, prefix=redis_prefix)
    recorder = Recorder()
    bus_client = aioredis.from_url(proxy.proxied_url, protocol=protocol)
    bus = RedisBus(
        bus_client, recorder, prefix=redis_prefix, read_timeout=0.05, ping_interval=0.2, ping_timeout=0.3
    )
    async with bus:
        await bus.subscribe(TOPIC)
        proxy.stalled = True  # the link goes silent: no error, no close
        await recorder.reset()  # the unanswered PING gave it away
        assert bus.reconnects == 1
        after = await streams.publish(TOPIC, b"after")
        assert await recorder.next() == after
    await bus_client.aclose()


async def test_redis_bus_backs_off_while_redis_is_unreachable(
    proxy: Proxy, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    streams = RedisStreams(redis_client, prefix=redis_prefix)
    recorder = Recorder()
    bus_client = aioredis.from_url(proxy.proxied_url)
    async with RedisBus(bus_client, recorder, prefix=redis_prefix) as bus:
        await bus.subscribe(TOPIC)
        proxy.refuse = 3  # Redis "down" for three attempts
        proxy.drop_connections()
        await recorder.reset()
        assert proxy.refused == 3
        assert bus.reconnects == 1
        after = await streams.publish(TOPIC, b"after")
        assert await recorder.next() == after
    await bus_client.aclose()


async def test_redis_publish_is_never_sent_twice(
    proxy: Proxy, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    """A publish whose answer is lost has happened: redis-py would resend the command (it retries on
    connection errors by default), appending the delta again after whatever came in between."""
    # Retrying as a client made with `Redis(host=...)` does by default (`from_url` makes none).
    client = aioredis.from_url(proxy.proxied_url, retry=Retry(ExponentialWithJitterBackoff(0.01, 1), 10))
    streams = RedisStreams(client, prefix=redis_prefix)
    assert (await streams.publish(TOPIC, b"1")).offset == 1
    proxy.cut_next_reply = True
    with pytest.raises(RedisConnectionError):
        await streams.publish(TOPIC, b"2")
    epoch = (await streams.head(TOPIC)).epoch
    history = await RedisStreams(redis_client, prefix=redis_prefix).since(TOPIC, epoch, 0)
    assert [delta.payload for delta in history or []] == [b"1", b"2"]  # appended once
    assert (await streams.publish(TOPIC, b"3")).offset == 3  # and the client carries on
    await client.aclose()


async def test_redis_bus_start_fails_fast_without_redis() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/0")
    bus = RedisBus(client, Recorder())
    with pytest.raises(RedisConnectionError):
        await bus.start()
    assert bus.client_id is None
    await client.aclose()
