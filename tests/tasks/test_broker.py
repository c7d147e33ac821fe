"""The task queue on the real Redis of the tests: nothing kicked is lost, whatever the timing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from taskiq import AckableMessage, BrokerMessage

from tasks.broker import ReliableStreamBroker


@pytest.fixture
async def queue(redis_prefix: str) -> str:
    return f"{redis_prefix}tasks"


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server)
    yield client
    await client.aclose()


def broker(url: str, queue: str, **options) -> ReliableStreamBroker:
    return ReliableStreamBroker(url, queue_name=queue, **options)


async def kick(b: ReliableStreamBroker, data: bytes) -> None:
    await b.kick(BrokerMessage(task_id=uuid.uuid4().hex, task_name="t", message=data, labels={}))


async def take(listening: AsyncIterator[AckableMessage], timeout: float = 10) -> AckableMessage:
    async with asyncio.timeout(timeout):
        return await anext(listening)


async def test_messages_kicked_before_any_worker_are_read(redis_server, queue):
    kicker = broker(redis_server, queue)
    await kick(kicker, b"early")  # no consumer group exists yet
    worker = broker(redis_server, queue)
    await worker.startup()
    try:
        message = await take(worker.listen())
        assert message.data == b"early"
        await message.ack()
    finally:
        await worker.shutdown()
        await kicker.shutdown()


async def test_a_dead_workers_message_is_claimed_without_new_traffic(redis_server, queue, redis):
    first = broker(redis_server, queue, claim_idle_ms=300, claim_every=0.1)
    second = broker(redis_server, queue, claim_idle_ms=300, claim_every=0.1)
    await first.startup()
    await second.startup()
    try:
        await kick(first, b"work")
        taken = await take(first.listen())
        assert taken.data == b"work"
        # `first` dies holding it (never acknowledges). Nothing else is kicked.
        claimed = await take(second.listen())
        assert claimed.data == b"work"
        await claimed.ack()
        pending = await redis.xpending(queue, "gamif-workers")
        assert pending["pending"] == 0
    finally:
        await first.shutdown()
        await second.shutdown()


async def test_only_acknowledged_entries_are_trimmed(redis_server, queue, redis):
    worker = broker(redis_server, queue, claim_idle_ms=60_000, claim_every=0.0, read_block_ms=100)
    await worker.startup()
    try:
        for n in range(3):
            await kick(worker, f"m{n}".encode())
        listening = worker.listen()
        one, two, three = [await take(listening) for _ in range(3)]
        await one.ack()
        await three.ack()
        await kick(worker, b"m3")
        four = await take(listening)  # the next pass trims what it may
        await four.ack()
        await kick(worker, b"m4")
        await (await take(listening)).ack()
        ids = [entry_id for entry_id, _ in await redis.xrange(queue)]
        # m1 is still pending: it and everything after it stays; m0 (acknowledged, older) is gone.
        assert len(ids) >= 1
        remaining = [fields[b"data"] for _, fields in await redis.xrange(queue)]
        assert remaining[0] == b"m1"
        assert b"m0" not in remaining
        await two.ack()
        await kick(worker, b"m5")
        await (await take(listening)).ack()
        await kick(worker, b"m6")
        await (await take(listening)).ack()
        assert [fields[b"data"] for _, fields in await redis.xrange(queue)] in ([], [b"m6"])
    finally:
        await worker.shutdown()


async def test_a_live_worker_keeps_the_messages_it_holds_and_a_dead_ones_are_taken_over(
    redis_server, queue, redis
):
    """A worker working on a message for longer than the claim timeout (a store outage) renews its
    claim, so no other worker runs it meanwhile; once it is gone, another takes the message over."""
    holder = broker(redis_server, queue, claim_idle_ms=600, claim_every=0.05)
    other = broker(redis_server, queue, claim_idle_ms=600, claim_every=0.05)
    await holder.startup()
    await other.startup()
    try:
        await kick(holder, b"long work")
        held = holder.listen()
        assert (await take(held)).data == b"long work"  # taken, not acknowledged: being worked on
        competing = asyncio.create_task(take(other.listen(), timeout=30))

        async def idle_ms() -> int:
            [entry] = await redis.xpending_range(queue, "gamif-workers", "-", "+", 1)
            return int(entry["time_since_delivered"])

        # The holder renews its claim: the entry's idle time falls back, again and again, before it
        # reaches the claim timeout, and it is never delivered to the other worker.
        async with asyncio.timeout(10):
            for _ in range(3):
                before = await idle_ms()
                while (now := await idle_ms()) >= before:
                    before = now
                    await asyncio.sleep(0.02)  # polling Redis: a renewal announces nothing
        assert not competing.done()
        [entry] = await redis.xpending_range(queue, "gamif-workers", "-", "+", 1)
        assert (entry["consumer"].decode(), entry["times_delivered"]) == (holder.consumer_name, 1)

        await held.aclose()  # the holder stops (dies): no more renewals
        claimed = await competing
        assert claimed.data == b"long work"
        await claimed.ack()
        assert (await redis.xpending(queue, "gamif-workers"))["pending"] == 0
    finally:
        await holder.shutdown()
        await other.shutdown()


async def test_a_message_that_every_worker_dies_on_goes_to_the_dead_letters(redis_server, queue, redis):
    """Taken again and again by workers that never finish it (it kills them, say): after
    ``max_deliveries`` it is dead-lettered instead of being handed to the next victim."""
    options = {"claim_idle_ms": 100, "claim_every": 0.0, "read_block_ms": 100, "max_deliveries": 2}
    victims = [broker(redis_server, queue, **options) for _ in range(3)]
    for victim in victims:
        await victim.startup()
    try:
        await kick(victims[0], b"poison")
        assert (await take(victims[0].listen())).data == b"poison"  # delivery 1: it dies holding it
        assert (await take(victims[1].listen())).data == b"poison"  # delivery 2, claimed: dies too
        last = asyncio.create_task(take(victims[2].listen(), timeout=30))
        async with asyncio.timeout(10):
            while not await redis.xlen(f"{queue}:dead"):
                await asyncio.sleep(0.02)  # polling Redis: the move announces nothing
        [(_, fields)] = await redis.xrange(f"{queue}:dead")
        assert fields[b"data"] == b"poison"
        assert fields[b"attempts"] == b"3"
        assert b"taken 3 times by workers that stopped" in fields[b"reason"]
        assert (await redis.xpending(queue, "gamif-workers"))[
            "pending"
        ] == 0  # acknowledged: not claimed again
        assert not last.done()  # and not delivered a third time
        last.cancel()
    finally:
        for victim in victims:
            await victim.shutdown()
