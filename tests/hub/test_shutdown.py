"""SIGTERM, the orderly stop of a deploy or a scale-in: every gamif process that runs for long
(`gamif serve`, `gamif run`, `gamif worker`) exits 0 within its documented bound (10 s, after the drain
of `gamif serve`: GAMIF_DRAIN_SECONDS, 0 in these tests unless set), its sessions closed with 1012
``service_restart`` (PROTOCOL.md §17)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from redis.asyncio import Redis

from game import MetricEvent
from persistence.db import create_engine, session_factory
from persistence.models import User
from persistence.scoring import Submission
from server.config import Settings
from tasks.scoring import register_scoring
from tasks.scoring_queue import queue_name, stream_broker
from tasks.scoring_step import to_payload
from tests.hub.cluster import STARTED, GamifProcess, HubProcess, Raw, Worker, hub_env, register
from tests.polling import until
from tests.services import free_port

BOUND_SECONDS = 10.0
"""The README's bound, for each command."""


async def exit_status(
    process: GamifProcess, sig: int = signal.SIGTERM, *, group: bool = False
) -> tuple[int, float]:
    """Send `sig` (to the process, or to its whole group, as a service manager may); its exit status
    and how long it took to exit."""
    assert process.process is not None
    started = time.monotonic()
    if group:
        os.killpg(process.process.pid, sig)
    else:
        process.process.send_signal(sig)
    async with asyncio.timeout(30):
        code = await process.process.wait()
    return code, time.monotonic() - started


async def test_gamif_run_exits_0_on_sigterm_and_closes_its_sessions_with_1012(tmp_path: Path):
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}", None, "", tmp_path)
    run = GamifProcess(env)
    port = free_port()
    await run.spawn(["run", "--port", str(port)], STARTED, "gamif run")
    try:
        ana = await register(f"http://127.0.0.1:{port}", "ana-term")
        async with Raw.open(f"ws://127.0.0.1:{port}/ws") as raw:
            await raw.login(ana.access_token)
            await raw.subscribe(f"user:{ana.user_id}")
            stopping = asyncio.ensure_future(exit_status(run))
            assert await raw.closed() == (1012, "service_restart")
            code, took = await stopping
    finally:
        if run.process is not None and run.process.returncode is None:
            run.process.kill()
            await run.process.wait()
    assert code == 0, "".join(run.output)
    assert took < BOUND_SECONDS
    assert "Application shutdown complete" in "".join(run.output)


async def test_gamif_serve_exits_0_on_sigterm_with_a_client_that_stopped_reading(tmp_path: Path):
    """A client that reads nothing more does not hold the shutdown."""
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}", None, "", tmp_path)
    hub = HubProcess("serve", env)
    await hub.start()
    try:
        bo = await register(hub.http, "bo-term")
        async with Raw.open(hub.ws, max_queue=1, rcvbuf=4096) as stalled:
            await stalled.login(bo.access_token)
            await stalled.subscribe(f"user:{bo.user_id}")
            code, took = await exit_status(hub)
    finally:
        await hub.stop(signal.SIGKILL)
    assert code == 0, "".join(hub.output)
    assert took < BOUND_SECONDS


async def readyz(base: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        return await http.get("/readyz")


async def test_gamif_serve_drains_before_it_stops(tmp_path: Path):
    """SIGTERM with a drain: /readyz answers 503 "draining" at once while the node goes on serving (its
    sessions, new requests, /healthz), then the sessions are closed with 1012 and it exits 0."""
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}", None, "", tmp_path)
    hub = HubProcess("serve", env | {"GAMIF_DRAIN_SECONDS": "3"})
    await hub.start()
    try:
        cy = await register(hub.http, "cy-drain")
        assert (await readyz(hub.http)).status_code == 200
        async with Raw.open(hub.ws) as raw:
            await raw.login(cy.access_token)
            await raw.subscribe(f"user:{cy.user_id}")
            assert hub.process is not None
            signalled = time.monotonic()
            hub.process.send_signal(signal.SIGTERM)
            draining = await readyz(hub.http)
            assert draining.status_code == 503, draining.text
            assert draining.headers["content-type"] == "application/problem+json"
            assert draining.json()["type"].endswith("/draining")
            assert "draining" in draining.json()["detail"]
            async with httpx.AsyncClient(base_url=hub.http, timeout=10) as http:
                assert (await http.get("/healthz")).status_code == 200  # alive, only not ready
            await raw.send({"type": "ping", "id": 7})
            assert (await raw.expect("pong")).id == 7  # the session goes on during the drain
            assert await raw.closed(timeout=20) == (1012, "service_restart")
            closed_after = time.monotonic() - signalled
        async with asyncio.timeout(30):
            code = await hub.process.wait()
    finally:
        await hub.stop(signal.SIGKILL)
    assert code == 0, "".join(hub.output)
    assert closed_after >= 3, closed_after  # not before the drain ended
    assert "draining for 3 s" in "".join(hub.output)


async def test_a_second_sigterm_ends_the_drain_at_once(tmp_path: Path):
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}", None, "", tmp_path)
    hub = HubProcess("serve", env | {"GAMIF_DRAIN_SECONDS": "120"})
    await hub.start()
    try:
        assert hub.process is not None
        hub.process.send_signal(signal.SIGTERM)
        assert (await readyz(hub.http)).status_code == 503
        code, took = await exit_status(hub)  # the second one
    finally:
        await hub.stop(signal.SIGKILL)
    assert code == 0, "".join(hub.output)
    assert took < BOUND_SECONDS


@pytest.fixture
def worker_env(
    _postgresql_database_url: str, redis_server: str, redis_prefix: str, tmp_path: Path
) -> dict[str, str]:
    return hub_env(_postgresql_database_url, redis_server, redis_prefix, tmp_path)


@pytest.mark.postgresql
@pytest.mark.parametrize("group", [False, True], ids=["the supervisor", "the process group"])
async def test_gamif_worker_exits_0_on_sigterm(worker_env: dict[str, str], group: bool):
    worker = Worker(worker_env)
    await worker.start()
    try:
        code, took = await exit_status(worker, group=group)
    finally:
        await worker.kill()
    assert code == 0, "".join(worker.output)
    assert took < BOUND_SECONDS


@pytest.mark.postgresql
async def test_a_worker_stuck_on_a_batch_still_exits_0_within_the_bound(worker_env: dict[str, str]):
    """Its batch waits on a lock that is never released: the worker gives it its time, leaves it
    pending in the stream (another worker takes it over), and stops."""
    database_url, redis_url = worker_env["GAMIF_DATABASE_URL"], worker_env["GAMIF_REDIS_URL"]
    engine = create_engine(database_url)
    user_id = uuid.uuid4()
    async with session_factory(engine)() as session, session.begin():
        session.add(
            User(id=user_id, handle="stuck", email="stuck@example.com", display_name="S", password_hash="-")
        )
    await engine.dispose()
    blocker = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE metric_events IN EXCLUSIVE MODE")  # the batch's first insert waits
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=worker_env["GAMIF_REDIS_PREFIX"],
        data_dir=Path(worker_env["GAMIF_DATA_DIR"]),
    )
    broker = stream_broker(settings)
    task = register_scoring(broker)
    await broker.startup()
    redis = Redis.from_url(redis_url)
    worker = Worker(worker_env)
    try:
        await worker.start()
        event = MetricEvent("stuck-1", str(user_id), "commits", 1, datetime.now(UTC) - timedelta(hours=1))
        await task.kiq(to_payload([Submission(event, "service:test")], datetime.now(UTC)))

        async def held() -> bool:
            return bool((await redis.xinfo_groups(queue_name(settings)))[0]["pending"] == 1)

        await until(held, "the worker holding the batch")
        code, took = await exit_status(worker)
        assert code == 0, "".join(worker.output)
        assert took < BOUND_SECONDS
        assert (await redis.xinfo_groups(queue_name(settings)))[0]["pending"] == 1  # left to be taken over
    finally:
        await worker.kill()
        await transaction.rollback()
        await blocker.close()
        await broker.shutdown()
        await redis.aclose()
