"""The hub's own parts from the settings: its topic streams, bus and presence, embedded (in process) or on
Redis (`open_backend`); the hub over them (`open_hub`); and the Redis client and streams that the worker
and the CLI share with it.

The application builds its services over the backend, then the hub with its handlers (`server.hub_wiring`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.config import ConfigError, Settings

from .handlers import HubHandlers
from .memory import MemoryBus, MemoryStreams
from .node import Hub
from .presence import MemoryPresence, Presence
from .presence_redis import RedisPresence
from .redis import RedisBus, RedisStreams
from .streams import DEFAULT_IDLE_TTL_SECONDS, Bus, BusListener


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


@dataclass(frozen=True, slots=True)
class HubBackend:
    """Where a hub's topics live: embedded (`MemoryStreams`, no Redis) or on Redis."""

    streams: MemoryStreams | RedisStreams
    presence: Presence
    bus: Callable[[BusListener], Bus]
    """Makes the bus for a hub (`server.hub.node.Hub` takes it)."""
    redis: Redis | None
    """The Redis client, on Redis (the readiness check pings it)."""


@contextlib.asynccontextmanager
async def open_backend(settings: Settings) -> AsyncIterator[HubBackend]:
    """The streams, presence and bus the settings call for; on Redis, a `ConfigError` if it cannot be
    reached, and its client closed at the end."""
    max_len, max_age, idle_ttl = history_bounds(settings)
    ttl, grace = settings.hub_presence_ttl_seconds, settings.hub_presence_grace_ms
    if settings.redis_url is None:
        memory = MemoryStreams(max_len=max_len, max_age_seconds=max_age, idle_ttl_seconds=idle_ttl)
        yield HubBackend(
            streams=memory,
            presence=MemoryPresence(memory, ttl_seconds=ttl, grace_ms=grace),
            bus=lambda listener: MemoryBus(memory, listener),
            redis=None,
        )
        return
    redis = redis_client(settings)
    try:
        try:
            await redis.ping()
        except (RedisError, OSError) as error:
            raise ConfigError(f"GAMIF_REDIS_URL: cannot reach Redis ({error})") from None
        streams = redis_streams(redis, settings)
        yield HubBackend(
            streams=streams,
            presence=RedisPresence(redis, streams, ttl_seconds=ttl, grace_ms=grace),
            bus=lambda listener: RedisBus(redis, listener, prefix=settings.redis_prefix),
            redis=redis,
        )
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def open_hub(settings: Settings, backend: HubBackend, handlers: HubHandlers) -> AsyncIterator[Hub]:
    """A started hub on ``backend`` answering with ``handlers``, closed at the end."""
    hub = Hub(
        settings=settings,
        streams=backend.streams,
        presence=backend.presence,
        handlers=handlers,
        bus=backend.bus,
    )
    await hub.start()
    try:
        yield hub
    finally:
        await hub.aclose()
