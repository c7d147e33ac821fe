"""The fault test: a backlog drained by two real `gamif worker` processes while PostgreSQL is stopped
immediately (mid-transaction) and restarted, Redis is SIGKILLed and restarted (its queue kept by its
append-only file), and a worker is SIGKILLed and another started. Every queued event is scored exactly
once: the stored events are exactly those sent, every user's XP is the engine's own replay of their
events, and nothing is left in the queue or its dead letters.

The servers are the test's own (`tests.stores`), never the shared ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, MetricEvent, default_rules
from game.replay import replay
from persistence.db import create_engine, session_factory
from persistence.migrate import upgrade
from persistence.models import MetricEventRow, User, UserStateRow
from persistence.scoring import Submission
from server.config import Settings
from tasks.scoring import register_scoring
from tasks.scoring_queue import stream_broker
from tasks.scoring_step import to_payload
from tests import services
from tests.hub.cluster import Worker
from tests.polling import until
from tests.stores import ThrowawayPostgres, ThrowawayRedis

pytestmark = pytest.mark.postgresql

USERS = 12
WAVES = 3
BATCHES_PER_WAVE = 80
BATCH = 40
PG_RESTARTS = 3
METRICS = ("commits", "reviews_done", "prs_merged", "focus_minutes", "docs_written")
TIMEZONE = "Europe/Paris"


@pytest.fixture
async def stores() -> AsyncIterator[tuple[ThrowawayPostgres, ThrowawayRedis]]:
    postgres, redis = ThrowawayPostgres(), ThrowawayRedis()
    services.stop_on_exit(postgres.remove)  # also if the session is killed
    services.stop_on_exit(redis.remove)
    try:
        await postgres.create()
        await redis.start()
        yield postgres, redis
    finally:
        postgres.remove()
        redis.remove()


def waves(users: list[uuid.UUID]) -> list[list[list[Submission]]]:
    """Batches of events, in waves sent one after the other; each event id once."""
    start = datetime.now(UTC) - timedelta(days=6)
    made: list[list[list[Submission]]] = []
    n = 0
    for _ in range(WAVES):
        wave = []
        for _ in range(BATCHES_PER_WAVE):
            batch = []
            for _ in range(BATCH):
                event = MetricEvent(
                    f"f-{n}",
                    str(users[n % USERS]),
                    METRICS[n % len(METRICS)],
                    1 + n % 4,
                    start + timedelta(seconds=37 * n),
                )
                batch.append(Submission(event, "service:test"))
                n += 1
            wave.append(batch)
        made.append(wave)
    return made


class Watch:
    """What the test reads while the stores come and go: every read retried until it answers."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: Redis, queue: str) -> None:
        self.sessions = sessions
        self.redis = redis
        self.queue = queue

    async def scored(self) -> int:
        async def count() -> int:
            async with self.sessions() as session:
                return int(await session.scalar(select(func.count()).select_from(MetricEventRow)) or 0)

        return await _until_answered(count)

    async def until_scored(self, at_least: int, timeout: float = 90) -> int:
        async with asyncio.timeout(timeout):
            while (scored := await self.scored()) < at_least:
                await asyncio.sleep(0.05)  # polling the database: a commit announces nothing to await
        return scored

    async def until_drained(self, timeout: float = 90) -> None:
        """Until every queued batch has been delivered and acknowledged."""
        async with asyncio.timeout(timeout):
            while True:
                groups = await _until_answered(lambda: self.redis.xinfo_groups(self.queue))
                if groups[0]["lag"] == 0 and groups[0]["pending"] == 0:
                    return
                await asyncio.sleep(0.1)  # polling the queue: an acknowledgement announces nothing to await


async def _until_answered(read: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(Exception):  # a store restarting: ask again
                return await read()
            await asyncio.sleep(0.1)


async def until_logged(workers: list[Worker], text: str, timeout: float = 30) -> None:
    """Until one of the workers has printed a line containing ``text``."""
    # The output is collected by the workers' own readers: polled.
    await until(
        lambda: any(text in line for worker in workers for line in worker.output),
        f"a worker logging {text!r}",
        timeout=timeout,
    )


def expected_xp(made: list[list[list[Submission]]]) -> dict[str, int]:
    engine = Engine(default_rules())
    history: dict[str, list[MetricEvent]] = {}
    for wave in made:
        for batch in wave:
            for submission in batch:
                history.setdefault(submission.event.user_id, []).append(submission.event)
    return {user: replay(engine, user, TIMEZONE, events).xp for user, events in history.items()}


async def test_every_event_is_scored_exactly_once_through_store_restarts_and_a_killed_worker(
    stores: tuple[ThrowawayPostgres, ThrowawayRedis], tmp_path: Path
) -> None:
    postgres, redis_server = stores
    database = postgres.url.rsplit("/", 1)[0] + "/gamif"
    admin = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.exec_driver_sql("CREATE DATABASE gamif")
    await admin.dispose()
    await upgrade(database)
    engine = create_engine(database)
    sessions = session_factory(engine)
    users = [uuid.uuid4() for _ in range(USERS)]
    async with sessions() as session, session.begin():
        for n, user_id in enumerate(users):
            session.add(
                User(
                    id=user_id,
                    handle=f"f{n}",
                    email=f"f{n}@example.com",
                    display_name=f"F{n}",
                    timezone=TIMEZONE,
                    password_hash="-",
                )
            )
    prefix = "fault:"
    queue = f"{prefix}tasks:score"
    env = {
        "GAMIF_DATABASE_URL": database,
        "GAMIF_REDIS_URL": redis_server.url,
        "GAMIF_REDIS_PREFIX": prefix,
        "GAMIF_DATA_DIR": str(tmp_path),
        "GAMIF_JWT_SECRET": "a-test-secret-of-at-least-32-bytes-long",
        "GAMIF_WORKER_CLAIM_IDLE_MS": "2000",
        "GAMIF_WORKER_MAX_GROUP_EVENTS": str(BATCH),  # many small transactions: faults land inside some
        "GAMIF_LOG_LEVEL": "info",
    }
    # The API's own broker (same stream, same serializer), as `gamif serve` enqueues.
    settings = Settings(
        database_url=database, redis_url=redis_server.url, redis_prefix=prefix, data_dir=tmp_path
    )
    broker = stream_broker(settings)
    task = register_scoring(broker)
    await broker.startup()
    redis = Redis.from_url(redis_server.url, socket_timeout=4)
    watch = Watch(sessions, redis, queue)
    workers: list[Worker] = []
    made = waves(users)
    total = WAVES * BATCHES_PER_WAVE * BATCH

    async def send(wave: list[list[Submission]]) -> None:
        for batch in wave:
            await _until_answered(lambda batch=batch: task.kiq(to_payload(batch, datetime.now(UTC))))

    try:
        await send(made[0])  # the backlog, queued before any worker runs
        for _ in range(2):
            worker = Worker(env)
            workers.append(worker)
            await worker.start()

        # PostgreSQL stops at once while both score: transactions are cut mid-way, new connections refused,
        # then "starting up" while it recovers. Three times, the last while more is queued.
        for n in range(1, PG_RESTARTS + 1):
            await watch.until_scored(n * BATCHES_PER_WAVE * BATCH // (PG_RESTARTS + 2))
            await postgres.stop_immediately()
            if n == PG_RESTARTS:
                await send(made[1])  # accepted meanwhile: the queue is up
            await postgres.start()
        await until_logged(workers, "a store is unavailable")

        # Redis is killed while they score the rest; it comes back with its queue from its append-only file.
        await watch.until_scored(BATCHES_PER_WAVE * BATCH + BATCH)
        await redis_server.kill()
        await until_logged(workers, "Redis unavailable")
        await redis_server.start()
        await send(made[2])

        # A worker dies holding batches it took; the one started instead and the other take them over.
        scored = await watch.until_scored(2 * BATCHES_PER_WAVE * BATCH + BATCH)
        await workers[0].kill()
        assert scored < total  # mid-work
        replacement = Worker(env)
        workers.append(replacement)
        await replacement.start()

        await watch.until_drained()
        async with sessions() as session:
            stored = set(await session.scalars(select(MetricEventRow.id)))
        lost = total - len(stored)
        assert lost == 0, f"{lost} of {total} queued events were never scored, and nothing is left queued"
        async with sessions() as session:
            xp = {str(row.user_id): row.xp for row in await session.scalars(select(UserStateRow))}
        assert stored == {s.event.id for wave in made for batch in wave for s in batch}
        assert xp == expected_xp(made)
        assert await redis.xlen(f"{queue}:dead") == 0
        # Each fault was met, and ridden out.
        output = "".join(line for worker in workers for line in worker.output)
        assert "a store is unavailable" in output
        assert "Redis unavailable" in output
    finally:
        for worker in workers:
            await worker.kill()
        await redis.aclose()
        with contextlib.suppress(Exception):
            await broker.shutdown()
        await engine.dispose()
