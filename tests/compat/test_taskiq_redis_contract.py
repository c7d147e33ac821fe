"""What `tasks.compat.taskiq_redis` relies on in taskiq-redis, checked against the installed version:
the constructor's parameters and the attributes it keeps them in, the field ``kick`` writes, and the
private consumer-group declaration, on a real Redis. A failure names the version and what changed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from taskiq import BrokerMessage
from taskiq_redis import RedisStreamBroker

from tasks.compat.taskiq_redis import MESSAGE_FIELD, StreamBroker
from tests.compat.contract import Contract

TASKIQ_REDIS = Contract("taskiq-redis", "tasks/compat/taskiq_redis.py")


@pytest.fixture
async def broker(redis_server: str, redis_prefix: str) -> AsyncIterator[StreamBroker]:
    made = StreamBroker(
        redis_server,
        queue_name=f"{redis_prefix}queue",
        consumer_group_name="contract",
        start_id="0",
        read_block_ms=123,
        claim_idle_ms=4567,
        socket_timeout=4.0,  # a connection setting (gamif's scoring queue sets it), for redis-py's pool
    )
    yield made
    await made.connection_pool.disconnect()


def test_the_constructor_takes_what_it_is_given() -> None:
    TASKIQ_REDIS.takes(
        RedisStreamBroker.__init__,
        "url",
        "queue_name",
        "consumer_group_name",
        "consumer_id",
        "xread_block",
        "idle_timeout",
        "connection_kwargs",
    )


async def test_the_settings_are_kept_where_it_reads_them(broker: StreamBroker, redis_prefix: str) -> None:
    TASKIQ_REDIS.check(broker.read_block_ms == 123, "keeps xread_block in RedisStreamBroker.block")
    TASKIQ_REDIS.check(broker.claim_idle_ms == 4567, "keeps idle_timeout in RedisStreamBroker.idle_timeout")
    TASKIQ_REDIS.check(
        isinstance(broker.read_count, int) and broker.read_count > 0,
        "keeps a positive xread_count in RedisStreamBroker.count",
    )
    TASKIQ_REDIS.check(broker.queue_name == f"{redis_prefix}queue", "keeps queue_name")
    TASKIQ_REDIS.check(broker.consumer_group_name == "contract", "keeps consumer_group_name")
    TASKIQ_REDIS.check(isinstance(broker.consumer_name, str) and broker.consumer_name, "names its consumer")
    pool = broker.connection_pool
    TASKIQ_REDIS.check(
        isinstance(pool, BlockingConnectionPool) and pool.connection_kwargs.get("socket_timeout") == 4.0,
        "builds connection_pool, a redis-py BlockingConnectionPool, from the url and connection kwargs",
    )


async def test_the_consumer_group_is_declared_at_the_start_id(broker: StreamBroker) -> None:
    TASKIQ_REDIS.is_coroutine_function(
        TASKIQ_REDIS.has_attribute(RedisStreamBroker, "_declare_consumer_group")
    )
    await broker.declare_consumer_group()
    await broker.declare_consumer_group()  # a second time: the group exists, nothing is raised
    async with Redis(connection_pool=broker.connection_pool) as redis:
        groups = await redis.xinfo_groups(broker.queue_name)
    TASKIQ_REDIS.check(
        [(group["name"], group["last-delivered-id"]) for group in groups] == [(b"contract", b"0-0")],
        "creates the stream and its group at consumer_id in _declare_consumer_group",
    )


async def test_kick_writes_the_message_under_the_field_it_reads(broker: StreamBroker) -> None:
    await broker.kick(BrokerMessage(task_id=uuid.uuid4().hex, task_name="t", message=b"payload", labels={}))
    async with Redis(connection_pool=broker.connection_pool) as redis:
        entries = await redis.xrange(broker.queue_name)
    TASKIQ_REDIS.check(
        [fields for _, fields in entries] == [{MESSAGE_FIELD: b"payload"}],
        f"writes a kicked message as the one field {MESSAGE_FIELD!r} of a stream entry",
    )
