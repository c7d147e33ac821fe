"""Redis restarting during ingest: no accepted event is lost, and the pipeline resumes by itself.

A hub and a worker run on a Redis of their own (append-only file, fsync on every write: the queue is
durable, as production's must be). A sender posts batches without pause; while Redis is down the API
answers 503 and the sender retries the same batch, as any integration would. In the end every event
the API accepted (202) is scored, exactly once."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from persistence.db import create_engine, session_factory
from persistence.models import MetricEventRow
from tests.hub.cluster import HubProcess, Worker, admin_token, hub_env
from tests.stores import ThrowawayRedis

pytestmark = pytest.mark.postgresql


@pytest.fixture
def postgres_database(_postgresql_database_url: str) -> str:
    return _postgresql_database_url


async def test_no_accepted_event_is_lost_when_redis_restarts(
    postgres_database: str, redis_of_its_own: ThrowawayRedis, tmp_path: Path
) -> None:
    env = hub_env(postgres_database, redis_of_its_own.url, "restart:", tmp_path)
    env["GAMIF_WORKER_CLAIM_IDLE_MS"] = "2000"
    hub, worker = HubProcess("A", env), Worker(env)
    await asyncio.gather(hub.start(), worker.start())
    engine = create_engine(postgres_database)
    try:
        admin = await admin_token(hub.http, env)
        async with httpx.AsyncClient(base_url=hub.http, timeout=30) as http:
            created = await http.post(
                "/api/v1/service-accounts",
                json={"name": "ci", "scopes": ["metrics:write"]},
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert created.status_code == 201, created.text
            key = {"X-API-Key": created.json()["api_key"]}
            accepted: set[str] = set()
            refused = 0
            refused_again = asyncio.Event()  # the outage is seen, and lasts past a retry
            when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

            async def send(batch: int) -> None:
                nonlocal refused
                events = [
                    {
                        "id": f"b{batch}-{i}",
                        "user": "root",
                        "metric": "commits",
                        "value": 1,
                        "occurred_at": when,
                    }
                    for i in range(10)
                ]
                while True:  # what an integration does: retry the same batch until it is accepted
                    try:
                        response = await http.post("/api/v1/metrics", json={"events": events}, headers=key)
                    except httpx.TransportError:
                        response = None
                    if response is not None and response.status_code == 202:
                        accepted.update(
                            e["id"] for e in response.json()["events"] if e["status"] == "accepted"
                        )
                        return
                    assert response is None or response.status_code == 503, response.text
                    refused += 1
                    if refused >= 2:
                        refused_again.set()
                    await asyncio.sleep(0.05)  # the integration's pause before it retries

            batch = 0
            for _ in range(20):
                await send(batch := batch + 1)
            await redis_of_its_own.stop()  # Redis goes away mid-stream...
            outage = asyncio.create_task(send(batch := batch + 1))
            # ...for a while, during which the batch keeps being refused (awaited, not slept for).
            async with asyncio.timeout(30):
                await refused_again.wait()
            await redis_of_its_own.start()
            await outage
            for _ in range(20):
                await send(batch := batch + 1)
        # Every accepted event is scored, with no manual action, and nothing else.
        sessions = session_factory(engine)
        async with asyncio.timeout(60):
            while True:
                async with sessions() as session:
                    scored = set(await session.scalars(select(MetricEventRow.id)))
                if scored >= accepted:
                    break
                await asyncio.sleep(0.1)  # polling the database: the outcome has no event to await
        assert scored == accepted
        assert len(accepted) == 41 * 10
    finally:
        await engine.dispose()
        await asyncio.gather(hub.stop(), worker.kill(signal.SIGTERM))
        print("".join(hub.output), "".join(worker.output[-40:]))  # shown when the test fails
