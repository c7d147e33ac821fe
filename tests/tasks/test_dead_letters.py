"""A batch that cannot be scored is not acknowledged and lost: a real `gamif worker` gives it up after
its attempts and moves it to the dead-letter stream, where `gamif queue` (the real command, on the real
Redis) lists it, shows it, replays it once the cause is fixed (and the worker scores it), or drops it
with a log line."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import TaskiqMessage

from game import MetricEvent
from persistence.db import create_engine, session_factory
from persistence.models import MetricEventRow, User
from persistence.scoring import Submission
from server.config import Settings
from tasks.broker import ReliableStreamBroker
from tasks.scoring import SCORE_EVENTS, register_scoring
from tasks.scoring_queue import stream_broker
from tasks.scoring_step import to_payload
from tests.hub.cluster import GAMIF, Worker
from tests.polling import until

pytestmark = pytest.mark.postgresql


@dataclass
class Setup:
    sessions: async_sessionmaker[AsyncSession]
    env: dict[str, str]
    broker: ReliableStreamBroker
    task: Any
    redis: Redis
    queue: str
    workers: list[Worker]

    @property
    def dead(self) -> str:
        return f"{self.queue}:dead"

    async def add_user(self, handle: str, user_id: uuid.UUID | None = None) -> str:
        key = user_id or uuid.uuid4()
        async with self.sessions() as session, session.begin():
            session.add(
                User(
                    id=key,
                    handle=handle,
                    email=f"{handle}@example.com",
                    display_name=handle,
                    password_hash="-",
                )
            )
        return str(key)

    async def queue_batch(self, user_id: str, *ids: str) -> None:
        occurred = datetime.now(UTC) - timedelta(hours=1)
        batch = [
            Submission(MetricEvent(i, user_id, "reviews_done", 1, occurred), "service:test") for i in ids
        ]
        await self.task.kiq(to_payload(batch, datetime.now(UTC)))

    async def stored(self) -> set[str]:
        async with self.sessions() as session:
            return set(await session.scalars(select(MetricEventRow.id)))

    async def gamif_queue(self, *args: str) -> tuple[int, str, str]:
        """``gamif queue ARGS``, run as a process: its exit code, stdout and stderr."""
        process = await asyncio.create_subprocess_exec(
            GAMIF,
            "queue",
            *args,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(60):
            out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def setup(_postgresql_database_url, redis_server, redis_prefix, tmp_path: Path) -> AsyncIterator[Setup]:
    engine = create_engine(_postgresql_database_url)
    env = {
        "GAMIF_DATABASE_URL": _postgresql_database_url,
        "GAMIF_REDIS_URL": redis_server,
        "GAMIF_REDIS_PREFIX": redis_prefix,
        "GAMIF_DATA_DIR": str(tmp_path),
        "GAMIF_JWT_SECRET": "a-test-secret-of-at-least-32-bytes-long",
        "GAMIF_WORKER_MAX_ATTEMPTS": "2",
        "GAMIF_LOG_LEVEL": "info",
    }
    settings = Settings(
        database_url=_postgresql_database_url,
        redis_url=redis_server,
        redis_prefix=redis_prefix,
        data_dir=tmp_path,
    )
    broker = stream_broker(settings)  # the API's own, as `gamif serve` enqueues
    task = register_scoring(broker)
    await broker.startup()
    redis = Redis.from_url(redis_server)
    made = Setup(session_factory(engine), env, broker, task, redis, f"{redis_prefix}tasks:score", [])
    try:
        yield made
    finally:
        for worker in made.workers:
            await worker.kill()
        await redis.aclose()
        await broker.shutdown()
        await engine.dispose()


async def queue_done(setup: Setup) -> bool:
    [group] = await setup.redis.xinfo_groups(setup.queue)
    return bool(group["lag"] == 0 and group["pending"] == 0)


async def test_a_batch_that_cannot_be_scored_goes_to_the_dead_letter_and_is_replayed_once_fixed(
    setup: Setup,
) -> None:
    ana = await setup.add_user("ana")
    gone = uuid.uuid4()  # a user deleted after ingest: its events break a foreign key, every time
    await setup.queue_batch(ana, "a-1", "a-2")
    await setup.queue_batch(str(gone), "g-1", "g-2")
    await setup.queue_batch(ana, "a-3")
    worker = Worker(setup.env)
    setup.workers.append(worker)
    await worker.start()

    async def dead_lettered() -> bool:
        return bool(await setup.redis.xlen(setup.dead)) and await queue_done(setup)

    await until(dead_lettered, "the bad batch dead-lettered and the queue drained", timeout=60)
    # The good batches are scored; the bad one was acknowledged only once it was in the dead letters.
    assert await setup.stored() == {"a-1", "a-2", "a-3"}
    assert await setup.redis.xlen(setup.dead) == 1
    log = "".join(worker.output)
    assert "attempt 1 of 2" in log
    assert "cannot be scored" in log
    assert "moved to the dead-letter stream" in log

    code, out, err = await setup.gamif_queue("list", "--json")
    assert code == 0, err
    listed = json.loads(out)
    [entry] = listed["entries"]
    assert (entry["events"], entry["attempts"], entry["event_ids"]) == (2, 2, ["g-1", "g-2"])
    assert "ForeignKeyViolation" in entry["reason"] or "IntegrityError" in entry["reason"]
    assert (listed["dead_letters"], listed["waiting"], listed["being_scored"]) == (1, 0, 0)
    code, out, err = await setup.gamif_queue("list")
    assert code == 0, err
    assert entry["id"] in out
    assert "dead letters in" in out

    code, out, err = await setup.gamif_queue("inspect", entry["id"])
    assert code == 0, err
    assert "attempts    2" in out
    assert f"g-1  user {gone}  reviews_done = 1" in out
    assert "g-2" in out

    await setup.add_user("back", user_id=gone)  # the cause fixed
    code, out, err = await setup.gamif_queue("replay", entry["id"])
    assert code == 0, err
    assert out.startswith(f"{entry['id']} -> {setup.queue} ")
    assert "replayed dead letter" in err

    async def replayed() -> bool:
        return "g-2" in await setup.stored() and await queue_done(setup)

    await until(replayed, "the replayed batch scored and the queue drained", timeout=60)
    assert await setup.stored() == {"a-1", "a-2", "a-3", "g-1", "g-2"}
    assert await setup.redis.xlen(setup.dead) == 0

    # A payload that does not decode (a foreign or older writer) is dead-lettered too, not looped on.
    await setup.task.kiq({"received_at": datetime.now(UTC).isoformat(), "events": [{"id": "m-1"}]})
    await until(dead_lettered, "the bad batch dead-lettered and the queue drained", timeout=60)
    code, out, err = await setup.gamif_queue("list", "--json")
    assert code == 0, err
    [entry] = json.loads(out)["entries"]
    assert entry["reason"].startswith("KeyError")
    assert entry["event_ids"] == ["m-1"]
    await setup.gamif_queue("drop", "--all")

    # Nor is a message that is not one (taskiq's receiver would acknowledge and drop it), or that names
    # a task the worker does not know (an API newer than its workers).
    await setup.redis.xadd(setup.queue, {"data": b"\xc1 not msgpack"})
    unknown = TaskiqMessage(task_id="t-1", task_name="gamif.newer_task", labels={}, args=[{}], kwargs={})
    await setup.redis.xadd(setup.queue, {"data": setup.broker.formatter.dumps(unknown).message})

    async def both_dead_lettered() -> bool:
        return await setup.redis.xlen(setup.dead) == 2 and await queue_done(setup)

    await until(both_dead_lettered, "both batches dead-lettered and the queue drained", timeout=60)
    reasons = [fields[b"reason"].decode() for _, fields in await setup.redis.xrange(setup.dead)]
    assert reasons[0].startswith("does not decode")
    assert reasons[1] == "names a task this worker does not know ('gamif.newer_task')"


async def test_drop_removes_a_dead_letter_with_a_log_line_and_replay_all_requeues_them(setup: Setup) -> None:
    user = str(uuid.uuid4())
    payloads = [
        to_payload(
            [
                Submission(MetricEvent(f"{n}-{i}", user, "commits", 1, datetime.now(UTC)), "service:test")
                for i in range(3)
            ],
            datetime.now(UTC),
        )
        for n in ("x", "y", "z")
    ]
    raws = []
    ids = []
    for payload in payloads:  # as a worker writes them (no worker runs: nothing scores them)
        message = TaskiqMessage(
            task_id=uuid.uuid4().hex,
            task_name=SCORE_EVENTS,
            labels={"ack_type": "manual"},
            args=[payload],
            kwargs={},
        )
        raw = setup.broker.formatter.dumps(message).message
        raws.append(raw)
        ids.append(await setup.broker.dead_letter(raw, reason="IntegrityError: a test", attempts=5, events=3))

    code, _, err = await setup.gamif_queue("drop", ids[0])
    assert code == 0, err
    assert f"dropped dead letter {ids[0]} for good: 3 events never scored" in err
    assert "x-0, x-1, x-2" in err
    assert await setup.redis.xlen(setup.dead) == 2

    # Clear refusals, nothing changed.
    code, _, err = await setup.gamif_queue("drop", ids[0])
    assert (code, f"no such dead letter in {setup.dead}: {ids[0]}" in err) == (1, True)
    code, _, err = await setup.gamif_queue("inspect", "not-an-id")
    assert (code, "is not a stream entry id" in err) == (1, True)
    code, _, err = await setup.gamif_queue("replay")
    assert (code, "name the dead letters (IDs) or pass --all" in err) == (2, True)
    code, _, err = await setup.gamif_queue("replay", ids[1], "--all")
    assert code == 2
    assert await setup.redis.xlen(setup.dead) == 2

    before = await setup.redis.xlen(setup.queue)
    code, out, err = await setup.gamif_queue("replay", "--all")
    assert code == 0, err
    assert [line.split(" -> ")[0] for line in out.splitlines()] == ids[1:]
    assert await setup.redis.xlen(setup.dead) == 0
    requeued = [fields[b"data"] for _, fields in await setup.redis.xrange(setup.queue)][before:]
    assert requeued == raws[1:]  # the messages as they were queued, to be scored like any other
