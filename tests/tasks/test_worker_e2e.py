"""Real `gamif worker` processes scoring batches from the real Redis queue into the real PostgreSQL:
every queued event counts exactly once, also when a worker is killed with SIGKILL mid-work and its
batches are taken over by another worker with no new traffic arriving; and a worker killed between a
commit and its live publish leaves its changes to another worker's sweep, which delivers them once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from game import Engine, MetricEvent, default_rules
from game.replay import replay
from persistence.db import create_engine, session_factory
from persistence.live_outbox import Outbox
from persistence.models import MetricEventRow, Team, TeamMembership, User, UserStateRow
from persistence.scoring import Submission
from protocol import Delta as WireDelta
from protocol import Outcome, TopicMirror
from server.config import Settings
from server.hub.documents import DocumentStore
from server.hub.publish import decode_change
from server.hub.redis import RedisStreams
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from server.services.topics.live_documents import LiveDocuments
from server.services.topics.outbox_relay import OutboxRelay
from tasks.scoring import register_scoring
from tasks.scoring_queue import stream_broker
from tasks.scoring_step import to_payload
from tests.hub.cluster import Worker
from tests.polling import until

pytestmark = pytest.mark.postgresql
KILL_AFTER_COMMIT = "GAMIF_TEST_KILL_AFTER_COMMIT"
"""The worker's test-only hook (`tasks.worker`): die between a commit and its publish."""
METRICS = ("commits", "reviews_done", "prs_merged", "focus_minutes", "docs_written")


@pytest.fixture
async def setup(_postgresql_database_url, redis_server, redis_prefix, tmp_path) -> AsyncIterator[dict]:
    engine = create_engine(_postgresql_database_url)
    sessions = session_factory(engine)
    users = [uuid.uuid4() for _ in range(5)]
    async with sessions() as session, session.begin():
        for n, user_id in enumerate(users):
            session.add(
                User(
                    id=user_id,
                    handle=f"w{n}",
                    email=f"w{n}@example.com",
                    display_name=f"W{n}",
                    timezone="Europe/Paris",
                    password_hash="-",
                )
            )
    env = {
        "GAMIF_DATABASE_URL": _postgresql_database_url,
        "GAMIF_REDIS_URL": redis_server,
        "GAMIF_REDIS_PREFIX": redis_prefix,
        "GAMIF_DATA_DIR": str(tmp_path),
        "GAMIF_JWT_SECRET": "a-test-secret-of-at-least-32-bytes-long",
        "GAMIF_WORKER_CLAIM_IDLE_MS": "1500",
        "GAMIF_LOG_LEVEL": "info",
    }
    # The API's own broker (same stream, same serializer), as `gamif serve` enqueues.
    broker = stream_broker(
        Settings(
            database_url=_postgresql_database_url,
            redis_url=redis_server,
            redis_prefix=redis_prefix,
            data_dir=tmp_path,
            worker_claim_idle_ms=1500,
        )
    )
    task = register_scoring(broker)
    await broker.startup()
    workers: list[Worker] = []
    redis = Redis.from_url(redis_server)
    try:
        yield {
            "sessions": sessions,
            "users": users,
            "env": env,
            "task": task,
            "workers": workers,
            "redis": redis,
            "queue": f"{redis_prefix}tasks:score",
        }
    finally:
        await redis.aclose()
        for worker in workers:
            await worker.kill()
        await broker.shutdown()
        await engine.dispose()


def batches(users: list[uuid.UUID], count: int, size: int) -> list[list[Submission]]:
    start = datetime.now(UTC) - timedelta(days=3)
    made = []
    for b in range(count):
        batch = []
        for i in range(size):
            n = b * size + i
            event = MetricEvent(
                f"e-{n}",
                str(users[n % len(users)]),
                METRICS[n % len(METRICS)],
                1 + n % 4,
                start + timedelta(minutes=7 * n),
            )
            batch.append(Submission(event, "service:test"))
        made.append(batch)
    return made


async def scored_events(sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(MetricEventRow)) or 0)


async def wait_for_events(sessions, expected: int, timeout: float = 60) -> None:
    async def all_scored() -> bool:
        return await scored_events(sessions) == expected

    await until(all_scored, f"{expected} events scored", timeout=timeout, every=0.1)


async def queue_done(redis: Redis, queue: str, timeout: float = 60) -> None:
    """Until every queued batch has been delivered and acknowledged."""

    async def done() -> bool:
        [group] = await redis.xinfo_groups(queue)
        return bool(group["lag"] == 0 and group["pending"] == 0)

    await until(done, "every queued batch delivered and acknowledged", timeout=timeout)


async def xp_by_user(sessions) -> dict[str, int]:
    async with sessions() as session:
        return {str(row.user_id): row.xp for row in await session.scalars(select(UserStateRow))}


def expected_xp(made: list[list[Submission]]) -> dict[str, int]:
    engine = Engine(default_rules())
    history: dict[str, list[MetricEvent]] = {}
    for batch in made:
        for submission in batch:
            history.setdefault(submission.event.user_id, []).append(submission.event)
    return {user: replay(engine, user, "Europe/Paris", events).xp for user, events in history.items()}


async def test_a_worker_scores_queued_batches_once_even_if_sent_twice(setup):
    made = batches(setup["users"], count=6, size=10)
    for batch in made:
        await setup["task"].kiq(to_payload(batch, datetime.now(UTC)))  # queued before any worker runs
    worker = Worker(setup["env"])
    setup["workers"].append(worker)
    await worker.start()
    await wait_for_events(setup["sessions"], 60)
    for batch in made[:3]:
        await setup["task"].kiq(to_payload(batch, datetime.now(UTC)))  # re-sent: duplicates
    await queue_done(setup["redis"], setup["queue"])
    async with setup["sessions"]() as session:
        assert await session.scalar(select(func.count()).select_from(MetricEventRow)) == 60
    assert await xp_by_user(setup["sessions"]) == expected_xp(made)


async def test_a_worker_killed_mid_work_loses_nothing_and_counts_nothing_twice(setup):
    made = batches(setup["users"], count=40, size=25)
    for batch in made:
        await setup["task"].kiq(to_payload(batch, datetime.now(UTC)))
    first = Worker(setup["env"])
    setup["workers"].append(first)
    await first.start()

    # Kill it as soon as it has committed something: it holds batches it has read and not finished.
    async def committed() -> bool:
        return await scored_events(setup["sessions"]) > 0

    await until(committed, "the first worker's first commit", timeout=60, every=0.01)
    await first.kill(signal.SIGKILL)
    async with setup["sessions"]() as session:
        scored_before = await session.scalar(select(func.count()).select_from(MetricEventRow))
    assert scored_before < 1000  # it died mid-work...
    [group] = await setup["redis"].xinfo_groups(setup["queue"])
    assert group["pending"] > 0  # ...holding batches it had taken and not finished
    # Nothing new is queued: a new worker takes over the dead one's batches after the claim timeout.
    second = Worker(setup["env"])
    setup["workers"].append(second)
    await second.start()
    await wait_for_events(setup["sessions"], 1000)
    await queue_done(setup["redis"], setup["queue"])
    assert await xp_by_user(setup["sessions"]) == expected_xp(made)


@pytest.mark.parametrize("broken", ["database", "redis"])
async def test_a_worker_that_cannot_reach_a_store_says_so_and_exits(
    _postgresql_database_url,  # noqa: PT019 (its value is used)
    redis_server,
    redis_prefix,
    tmp_path,
    broken,
):
    """Not taskiq's endless restart of a worker process that dies at start: one line, exit 1."""
    database = _postgresql_database_url.rsplit("/", 1)[0] + "/gamif_no_such_database"
    env = {
        **os.environ,
        "GAMIF_DATABASE_URL": database if broken == "database" else _postgresql_database_url,
        "GAMIF_REDIS_URL": "redis://127.0.0.1:1/0" if broken == "redis" else redis_server,
        "GAMIF_REDIS_PREFIX": redis_prefix,
        "GAMIF_DATA_DIR": str(tmp_path),
        "GAMIF_JWT_SECRET": "a-test-secret-of-at-least-32-bytes-long",
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("gamif")), "worker", env=env, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        _, error = await process.communicate()
    assert process.returncode == 1
    assert error.decode().startswith("gamif worker: cannot start: ")
    assert ("gamif_no_such_database" if broken == "database" else "ConnectionError") in error.decode()


async def test_a_worker_killed_between_commit_and_publish_leaves_its_changes_to_the_sweep(setup):
    sessions, user = setup["sessions"], setup["users"][0]
    async with sessions() as session, session.begin():
        session.add(Team(slug="night", name="Night", description="The night shift."))
        await session.flush()
        team = await session.scalar(select(Team).where(Team.slug == "night"))
        assert team is not None
        session.add(TeamMembership(team_id=team.id, user_id=user, joined_at=datetime.now(UTC)))
    env = setup["env"]
    rules = RulesService(sessions)
    await rules.bootstrap()
    streams = RedisStreams(setup["redis"], prefix=env["GAMIF_REDIS_PREFIX"])
    outbox = Outbox(sessions)
    documents = LiveDocuments(DocumentStore(streams), sessions, rules.engine)
    directory = TopicDirectory(sessions, rules, relay=OutboxRelay(outbox, streams), documents=documents)
    topics = [f"user:{user}", "team:night"]
    screens = {}
    for topic in topics:
        document, position = await directory.snapshot(topic, lambda topic=topic: streams.head(topic))
        screens[topic] = TopicMirror(topic)
        screens[topic].apply_snapshot(position.epoch, position.offset, document)

    event = MetricEvent("k-1", str(user), "reviews_done", 3, datetime.now(UTC) - timedelta(minutes=5))
    await setup["task"].kiq(to_payload([Submission(event, "service:test")], datetime.now(UTC)))
    doomed = Worker({**env, KILL_AFTER_COMMIT: "1"})
    setup["workers"].append(doomed)
    await doomed.start()
    assert doomed.process is not None
    async with asyncio.timeout(60):
        await doomed.process.wait()  # it killed itself right after its commit
    await wait_for_events(sessions, 1)
    assert await outbox.count() == 1  # the user's delta, not published (the team's mark died with it)
    for topic, screen in screens.items():
        assert screen.epoch is not None
        assert screen.offset is not None
        assert await streams.since(topic, screen.epoch, screen.offset) == []

    # Its relay sweeps the user's delta the dead one left, its live documents reconcile the team (looking
    # back over what happened before it started), and it takes over the batch (scored already: a no-op).
    survivor = Worker(env)
    setup["workers"].append(survivor)
    await survivor.start()
    await until(lambda: outbox_empty(outbox), "the survivor's sweep publishes what the dead worker left")

    async def team_pushed() -> bool:
        screen = screens["team:night"]
        assert screen.epoch is not None
        assert screen.offset is not None
        return bool(await streams.since("team:night", screen.epoch, screen.offset))

    # Within the reconciliation's bound (2 s + 1 s + the push) of the survivor being up.
    await until(team_pushed, "the survivor's reconciliation pushes the team's document", timeout=10)
    await queue_done(setup["redis"], setup["queue"])
    for topic, screen in screens.items():
        assert screen.epoch is not None
        assert screen.offset is not None
        deltas = await streams.since(topic, screen.epoch, screen.offset)
        assert deltas is not None
        assert len(deltas) == 1  # delivered once, by the survivor's sweep or reconciliation
        (delta,) = deltas
        ops, _ = decode_change(delta.payload)
        wire = WireDelta(topic=topic, epoch=delta.epoch, offset=delta.offset, ops=ops, at_ms=delta.at_ms)
        assert screen.apply_delta(wire) is Outcome.APPLIED
        document, position = await directory.snapshot(topic, lambda topic=topic: streams.head(topic))
        assert (screen.document, screen.offset) == (document, position.offset)  # the screen converged
    # ...to what the database holds: the team shows the scored event
    assert screens["team:night"].document == await documents.document("team:night")
    assert screens["team:night"].document["members"][str(user)]["xp"] > 0


async def outbox_empty(outbox: Outbox) -> bool:
    return await outbox.count() == 0
