"""Assembling the hub from the settings: embedded (in-process streams, bus and presence) or on Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import ConfigError, Settings
from server.services.hub_access import HubAccess
from server.services.leaderboard_live import open_live_boards
from server.services.rules import RulesService
from server.services.topics import TopicDirectory

from .memory import MemoryBus, MemoryStreams
from .node import Hub
from .presence import MemoryPresence
from .presence_redis import RedisPresence
from .redis import RedisBus, RedisStreams
from .streams import DEFAULT_IDLE_TTL_SECONDS


@contextlib.asynccontextmanager
async def open_hub(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], rules: RulesService, key: bytes
) -> AsyncIterator[Hub]:
    max_len, max_age = settings.hub_history_max_len, settings.hub_history_max_age_seconds
    idle_ttl = max(DEFAULT_IDLE_TTL_SECONDS, max_age)
    ttl, grace = settings.hub_presence_ttl_seconds, settings.hub_presence_grace_ms
    directory = TopicDirectory(sessions, rules)
    access = HubAccess(sessions, settings, key)
    if settings.redis_url is None:
        streams = MemoryStreams(max_len=max_len, max_age_seconds=max_age, idle_ttl_seconds=idle_ttl)
        hub = Hub(
            settings=settings,
            streams=streams,
            presence=MemoryPresence(streams, ttl_seconds=ttl, grace_ms=grace),
            directory=directory,
            access=access,
        )
        await hub.start(MemoryBus(streams, hub))
        try:
            yield hub
        finally:
            await hub.aclose()
        return
    redis = Redis.from_url(settings.redis_url, decode_responses=False, socket_timeout=4.0)
    try:
        try:
            await redis.ping()
        except (RedisError, OSError) as error:
            raise ConfigError(f"GAMIF_REDIS_URL: cannot reach Redis ({error})") from None
        redis_streams = RedisStreams(
            redis,
            prefix=settings.redis_prefix,
            max_len=max_len,
            max_age_seconds=max_age,
            idle_ttl_seconds=idle_ttl,
        )
        directory.boards = await open_live_boards(settings, redis_streams, sessions, rules)
        hub = Hub(
            settings=settings,
            streams=redis_streams,
            presence=RedisPresence(redis, redis_streams, ttl_seconds=ttl, grace_ms=grace),
            directory=directory,
            access=access,
        )
        hub.redis = redis
        hub.boards = directory.boards
        await hub.start(RedisBus(redis, hub, prefix=settings.redis_prefix))
        try:
            yield hub
        finally:
            await hub.aclose()
            await directory.boards.aclose()
    finally:
        await redis.aclose()
