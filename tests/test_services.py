"""The test infrastructure itself: the Redis the tests use is real, and a test's keys are its own."""

from __future__ import annotations

import redis.asyncio as aioredis


async def test_redis_answers_and_the_prefix_is_the_tests_own(redis_server, redis_prefix):
    assert redis_prefix.startswith("gamif-test:")
    assert redis_prefix.endswith(":")
    client = aioredis.from_url(redis_server)
    try:
        assert await client.ping()
        await client.set(f"{redis_prefix}greeting", "hello")
        assert await client.get(f"{redis_prefix}greeting") == b"hello"
        assert [key async for key in client.scan_iter(match=f"{redis_prefix}*")] == [
            f"{redis_prefix}greeting".encode()
        ]
    finally:
        await client.aclose()
