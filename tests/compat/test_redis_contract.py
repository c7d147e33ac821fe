"""What `persistence.compat.redis` relies on in redis-py, checked against the installed version: the
connection API it drives by hand (undocumented, partly unannotated) and how those connections behave
on a real Redis. A failure names the redis-py version and what changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import RedisError, ResponseError

from persistence.compat.redis import DedicatedConnection, decodes_responses, pooled_connection
from tests.compat.contract import Contract

REDIS = Contract("redis", "persistence/compat/redis.py")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
async def client(request: pytest.FixtureRequest, redis_server: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(redis_server, protocol=request.param)
    yield redis
    await redis.aclose()


def test_the_connection_api_it_drives_is_there() -> None:
    for name in ("get_connection", "release", "make_connection"):
        REDIS.has_attribute(ConnectionPool, name)
    REDIS.is_coroutine_function(ConnectionPool.get_connection)
    REDIS.is_coroutine_function(ConnectionPool.release)
    REDIS.takes(AbstractConnection.send_command, "*", "check_health")
    REDIS.takes(AbstractConnection.send_packed_command, "command", "check_health")
    REDIS.takes(AbstractConnection.pack_commands, "commands")
    REDIS.takes(AbstractConnection.read_response, "timeout", "push_request")
    REDIS.takes(AbstractConnection.disconnect, "nowait")
    for name in ("connect", "is_connected"):
        REDIS.has_attribute(AbstractConnection, name)


async def test_the_pool_settings_say_whether_replies_are_decoded(redis_server: str) -> None:
    raw, text = aioredis.from_url(redis_server), aioredis.from_url(redis_server, decode_responses=True)
    try:
        REDIS.check(
            not decodes_responses(raw) and decodes_responses(text),
            "keeps decode_responses in ConnectionPool.connection_kwargs",
        )
    finally:
        await raw.aclose()
        await text.aclose()


async def test_a_pooled_connection_runs_commands_and_gives_error_replies_back(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}counter"
    async with pooled_connection(client) as conn:
        REDIS.check(
            await conn.execute("INCR", key) == 1, "answers a command sent by hand on a pooled connection"
        )
        replies = await conn.execute_many([("INCR", key), ("HGET", key, "x"), ("INCR", key)])
        REDIS.check(
            replies[0] == 2 and isinstance(replies[1], ResponseError) and replies[2] == 3,
            "reads pipelined replies one by one, an error reply as a ResponseError (still in step)",
        )
        with pytest.raises(ResponseError):
            await conn.execute("HGET", key, "x")
        REDIS.check(await conn.execute("GET", key) == b"3", "keeps a connection in step after an error reply")
    in_use = REDIS.has_attribute(client.connection_pool, "_in_use_connections")  # the tests' look inside
    REDIS.check(not in_use, "takes back a connection given to ConnectionPool.release")


async def test_a_pooled_connection_that_fails_midway_is_disconnected(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    # A cancellation between a command and its reply: the reply would be read by the next borrower.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2), pooled_connection(client) as conn:
            await conn.execute("BLPOP", f"{redis_prefix}never", 5)
    async with pooled_connection(client) as conn:
        REDIS.check(await conn.execute("ECHO", "next") == b"next", "reconnects a connection it disconnected")


async def test_a_dedicated_connection_subscribes_and_reads_what_is_published(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    channel = f"{redis_prefix}channel".encode()
    conn = DedicatedConnection(client)
    try:
        await conn.connect()
        await conn.send(b"CLIENT", b"ID")
        REDIS.check(isinstance(await conn.read_reply(), int), "reads a reply on a connection made by hand")
        await conn.send_many([(b"SUBSCRIBE", channel)])
        REDIS.check(
            await conn.read(1.0) == [b"subscribe", channel, 1],
            "returns a subscription's confirmation from read_response(push_request=True) as a list",
        )
        REDIS.check(await conn.read(0.05) is None, "returns None from read_response after its timeout")
        await client.publish(channel, b"payload")
        REDIS.check(
            await conn.read(1.0) == [b"message", channel, b"payload"],
            "returns a published message from read_response(push_request=True) as a list",
        )
        await conn.send(b"PING")
        REDIS.check(await conn.read(1.0) in ([b"pong", b""], b"PONG"), "answers a PING in pub/sub mode")
    finally:
        await conn.disconnect()
    REDIS.check(not conn.is_connected, "disconnects on disconnect(nowait=True)")


async def test_a_dedicated_connection_is_outside_the_pool_and_reports_its_loss(
    client: aioredis.Redis, redis_server: str
) -> None:
    conn = DedicatedConnection(client)
    killer = aioredis.from_url(redis_server)
    try:
        await conn.connect()
        await conn.send(b"CLIENT", b"ID")
        client_id = await conn.read_reply()
        in_use = REDIS.has_attribute(client.connection_pool, "_in_use_connections")
        REDIS.check(not in_use, "makes connections outside the pool with make_connection")
        await killer.client_kill_filter(_id=client_id)
        with pytest.raises((RedisError, OSError)):
            await conn.read(1.0)  # no retry: a reconnection would hide the loss
        # The hub's bus sends nothing on a connection that says so (a send would connect it again).
        REDIS.check(not conn.is_connected, "marks a connection whose read failed as not connected")
    finally:
        await conn.disconnect()
        await killer.aclose()


async def test_the_resp3_parser_takes_a_push_handler(redis_server: str) -> None:
    # Without it, redis-py formats every pushed message for a debug log, even with the log off.
    client = aioredis.from_url(redis_server, protocol=3)
    try:
        made = client.connection_pool.make_connection()
        parser = REDIS.has_attribute(made, "_parser")
        REDIS.has_attribute(parser, "set_pubsub_push_handler")
    finally:
        await client.aclose()
