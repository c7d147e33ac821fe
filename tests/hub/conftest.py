from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from server.hub.publish import Publisher
from server.hub.redis import RedisStreams
from tests import services
from tests.hub.cluster import Account, HubProcess, Worker, admin_token, hub_env, register


@dataclass
class Cluster:
    a: HubProcess
    b: HubProcess
    admin: str
    """An admin's access token."""
    redis: Redis
    publisher: Publisher
    """Publishes into the cluster's Redis from outside any hub, as a worker does."""
    env: dict[str, str]

    async def register(self, handle: str) -> Account:
        return await register(self.a.http, handle)

    async def create_team(self, slug: str, members: list[str] = ()) -> None:  # type: ignore[assignment]
        headers = {"Authorization": f"Bearer {self.admin}"}
        async with httpx.AsyncClient(base_url=self.a.http, headers=headers, timeout=30) as http:
            created = await http.post("/api/v1/teams", json={"slug": slug, "name": slug.title()})
            assert created.status_code == 201, created.text
            for handle in members:
                added = await http.put(f"/api/v1/teams/{slug}/members/{handle}")
                assert added.status_code == 204, added.text


@contextlib.asynccontextmanager
async def _cluster(database_url: str, redis_url: str, prefix: str, data_dir: Path) -> AsyncIterator[Cluster]:
    env = hub_env(database_url, redis_url, prefix, data_dir)
    env |= {"GAMIF_HUB_HISTORY_MAX_LEN": "50", "GAMIF_HUB_AUTH_TIMEOUT_MS": "500"}
    a, b = HubProcess("A", env), HubProcess("B", env)
    worker = Worker(env)  # the hubs queue what they ingest: a worker scores it
    redis = Redis.from_url(redis_url, decode_responses=False)
    try:
        await asyncio.gather(a.start(), b.start(), worker.start())
        admin = await admin_token(a.http, env)
        streams = RedisStreams(redis, prefix=prefix, max_len=50)
        yield Cluster(a, b, admin, redis, Publisher(streams), env)
    finally:
        await asyncio.gather(a.stop(), b.stop(), worker.kill(signal.SIGTERM))
        for hub in (a, b):  # shown by pytest when the test fails
            print(f"--- hub {hub.name} output ---\n" + "".join(hub.output))
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.fixture
async def cluster(
    _postgresql_database_url: str, redis_server: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    """Two hub processes on one PostgreSQL database and one Redis (the test's own key prefix)."""
    async with _cluster(_postgresql_database_url, redis_server, redis_prefix, tmp_path) as started:
        yield started


@pytest.fixture(scope="module")
async def shared_cluster(
    postgres_databases: services.PostgresDatabases,
    _migrated_postgres_template: str,
    redis_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Cluster]:
    """The same, shared by a module's tests (those that do not stop a node)."""
    url = await postgres_databases.create(template=_migrated_postgres_template)
    prefix = f"gamif-test:{uuid.uuid4().hex}:"
    try:
        async with _cluster(url, redis_server, prefix, tmp_path_factory.mktemp("hub")) as started:
            yield started
    finally:
        await postgres_databases.drop(url)


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[HubProcess]:
    """One hub on its embedded defaults (SQLite, no Redis), with short timeouts."""
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}", None, "", tmp_path)
    env |= {
        "GAMIF_HUB_HEARTBEAT_MS": "1000",
        "GAMIF_HUB_AUTH_TIMEOUT_MS": "300",
        "GAMIF_HUB_MAX_SUBSCRIPTIONS": "2",
    }
    hub = HubProcess("embedded", env)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
