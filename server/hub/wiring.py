"""Assembling the hub from the settings: embedded (in-process streams, bus and presence) or on Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import ConfigError, Settings
from server.hub.documents import DocumentStore
from server.services.boards.embedded import EmbeddedBoards
from server.services.boards.live import open_live_boards
from server.services.challenges.scoreboards import ChallengeScoreboards, MemoryDocuments
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from server.services.topics.hub_access import HubAccess

from .memory import MemoryBus, MemoryStreams
from .node import Hub
from .presence import MemoryPresence
from .presence_redis import RedisPresence
from .redis import RedisBus, RedisStreams
from .streams import DEFAULT_IDLE_TTL_SECONDS


def history_bounds(settings: Settings) -> tuple[int, float, float]:
    """``(max_len, max_age_seconds, idle_ttl_seconds)`` of the topic streams: a topic's position must
    outlive its deltas, so the idle TTL is at least the history's age."""
    max_age = settings.hub_history_max_age_seconds
    return settings.hub_history_max_len, max_age, max(DEFAULT_IDLE_TTL_SECONDS, max_age)


def redis_client(settings: Settings, *, socket_timeout: float = 4.0) -> Redis:
    """A client for the hub's Redis (bytes, not text: payloads are msgpack)."""
    assert settings.redis_url is not None
    return Redis.from_url(settings.redis_url, decode_responses=False, socket_timeout=socket_timeout)


def redis_streams(redis: Redis, settings: Settings) -> RedisStreams:
    """The topic streams on Redis, as every process that publishes or serves them must see them."""
    max_len, max_age, idle_ttl = history_bounds(settings)
    return RedisStreams(
        redis,
        prefix=settings.redis_prefix,
        max_len=max_len,
        max_age_seconds=max_age,
        idle_ttl_seconds=idle_ttl,
    )


@contextlib.asynccontextmanager
async def open_hub(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], rules: RulesService, key: bytes
) -> AsyncIterator[Hub]:
    max_len, max_age, idle_ttl = history_bounds(settings)
    ttl, grace = settings.hub_presence_ttl_seconds, settings.hub_presence_grace_ms
    directory = TopicDirectory(sessions, rules)
    access = HubAccess(sessions, settings, key)
    if settings.redis_url is None:
        streams = MemoryStreams(max_len=max_len, max_age_seconds=max_age, idle_ttl_seconds=idle_ttl)
        documents = MemoryDocuments(streams)
        directory.challenges = ChallengeScoreboards(documents, sessions, push_ms=settings.leaderboard_push_ms)
        directory.embedded_boards = EmbeddedBoards(directory, documents, push_ms=settings.leaderboard_push_ms)
        hub = Hub(
            settings=settings,
            streams=streams,
            presence=MemoryPresence(streams, ttl_seconds=ttl, grace_ms=grace),
            directory=directory,
            access=access,
        )
        hub.challenges = directory.challenges
        hub.embedded_boards = directory.embedded_boards
        await hub.start(MemoryBus(streams, hub))
        try:
            yield hub
        finally:
            await hub.aclose()
            await directory.embedded_boards.aclose()
            await directory.challenges.aclose()
        return
    redis = redis_client(settings)
    try:
        try:
            await redis.ping()
        except (RedisError, OSError) as error:
            raise ConfigError(f"GAMIF_REDIS_URL: cannot reach Redis ({error})") from None
        streams_on_redis = redis_streams(redis, settings)
        directory.boards = await open_live_boards(settings, streams_on_redis, sessions, rules)
        directory.challenges = ChallengeScoreboards(
            DocumentStore(streams_on_redis), sessions, push_ms=settings.leaderboard_push_ms
        )
        hub = Hub(
            settings=settings,
            streams=streams_on_redis,
            presence=RedisPresence(redis, streams_on_redis, ttl_seconds=ttl, grace_ms=grace),
            directory=directory,
            access=access,
        )
        hub.redis = redis
        hub.boards = directory.boards
        hub.challenges = directory.challenges
        await hub.start(RedisBus(redis, hub, prefix=settings.redis_prefix))
        try:
            yield hub
        finally:
            await hub.aclose()
            await directory.boards.aclose()
            await directory.challenges.aclose()
    finally:
        await redis.aclose()
