"""Quiet failures made loud and self-healing, on a Redis of the test's own that it stops and starts:

- a batch whose leaderboard record fails (Redis down) marks the boards dirty, saying so in the log, and
  once Redis is back the repair rebuilds them from the database by itself (the database and SQLite or
  PostgreSQL are real, as is the scoring);
- the repair's rebuild swaps only if nothing was recorded meanwhile (else it tries again);
- the push coalescer backs off on a dead store and gives up after its bound, saying so; the next change
  pushes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import MetricEvent
from persistence.leaderboards import Award, Leaderboards, RebuildProgress, RecordedMeanwhile
from persistence.leaderboards.layout import KeyNames
from persistence.live_outbox import Outbox
from persistence.scoring import Scorer, Submission
from server.hub.documents import DocumentStore
from server.hub.memory import MemoryStreams
from server.hub.redis import RedisStreams
from server.services.boards.live import LiveBoards
from server.services.scoring.rules import RulesService
from server.services.topics.outbox_relay import OutboxRelay
from tasks.scoring_step import ScoringStep
from tests.live.conftest import NOW, World
from tests.polling import until
from tests.stores import ThrowawayRedis

PREFIX = "repair-test:"


@pytest.fixture
async def client(redis_of_its_own: ThrowawayRedis) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(redis_of_its_own.url, socket_timeout=5)
    yield redis
    await redis.aclose()


def tickets(event_id: str, user_id: str, count: int) -> Submission:
    """``count`` tickets closed an hour before NOW: 8 XP each."""
    return Submission(
        MetricEvent(event_id, user_id, "tickets_closed", count, NOW - timedelta(hours=1)), "service:test"
    )


async def weekly_xp(leaderboards: Leaderboards) -> dict[str, int | float]:
    page = await leaderboards.top("xp", "weekly")
    return {row.member: row.score for row in page.rows}


def scoring_with_repair(
    leaderboards: Leaderboards,
    client: aioredis.Redis,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    repair_delay_s: float,
) -> tuple[LiveBoards, ScoringStep]:
    """Live boards on the test's own Redis, repairing after ``repair_delay_s``, and a scoring step that
    records into them (its user deltas go nowhere: only the boards matter here)."""
    live = LiveBoards(
        leaderboards,
        DocumentStore(RedisStreams(client, prefix=PREFIX)),
        sessions,
        repair_delay_s=repair_delay_s,
    )
    return live, ScoringStep(Scorer(sessions), rules, OutboxRelay(Outbox(sessions), MemoryStreams()), live)


async def test_a_failed_record_is_repaired_from_the_database_once_redis_is_back(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    redis_of_its_own: ThrowawayRedis,
    client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gamif.leaderboards")
    leaderboards = Leaderboards(client, prefix=PREFIX, clock=lambda: NOW)
    live, step = scoring_with_repair(leaderboards, client, sessions, rules, 0.05)
    try:
        ana, ben = await world.add_user("ana"), await world.add_user("ben")
        await step.run([tickets("a1", ana, 5)], NOW)
        assert await weekly_xp(leaderboards) == {ana: 40}

        await redis_of_its_own.stop()
        await step.run([tickets("b1", ben, 3)], NOW)  # committed in the database; the record fails
        dirty = [r for r in caplog.records if r.getMessage().startswith("leaderboards dirty:")]
        assert dirty, "the failed record was not reported"
        assert dirty[0].levelno == logging.ERROR
        assert "a batch could not be recorded" in dirty[0].getMessage()
        assert not live.repair.repaired.is_set()

        await redis_of_its_own.start()
        async with asyncio.timeout(30):
            await live.repair.repaired.wait()
        assert await weekly_xp(leaderboards) == {ana: 40, ben: 24}  # the database's truth
        assert await leaderboards.dirty() is None
        assert live.repair.repairs == 1
        assert any(r.getMessage().startswith("leaderboards repaired:") for r in caplog.records)

        # Afterwards recording goes on as usual, on the repaired boards.
        await step.run([tickets("b2", ben, 5)], NOW)
        assert await weekly_xp(leaderboards) == {ben: 64, ana: 40}
    finally:
        await live.aclose()


async def test_a_process_finding_the_dirty_mark_at_its_first_record_repairs(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    client: aioredis.Redis,
) -> None:
    """A repair interrupted by a stop (the mark stays in Redis) is taken over by the next recorder."""
    leaderboards = Leaderboards(client, prefix=PREFIX, clock=lambda: NOW)
    ana = await world.add_user("ana")
    await Scorer(sessions).score(await rules.engine(), [tickets("a1", ana, 5)], NOW)  # never recorded
    await leaderboards.mark_dirty("a record failed in a process that stopped")
    live, step = scoring_with_repair(leaderboards, client, sessions, rules, 0.01)
    try:
        bo = await world.add_user("bo")
        await step.run([tickets("b1", bo, 1)], NOW)
        async with asyncio.timeout(30):
            await live.repair.repaired.wait()
        assert await weekly_xp(leaderboards) == {ana: 40, bo: 8}
        assert await leaderboards.dirty() is None
    finally:
        await live.aclose()


@pytest.mark.parametrize("meanwhile", ["a batch recorded", "a record failed"])
async def test_an_exclusive_rebuild_does_not_swap_over_what_happened_meanwhile(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    client: aioredis.Redis,
    redis_of_its_own: ThrowawayRedis,
    meanwhile: str,
) -> None:
    leaderboards = Leaderboards(client, prefix=PREFIX, clock=lambda: NOW)
    ana = await world.add_user("ana")
    await Scorer(sessions).score(await rules.engine(), [tickets("a1", ana, 5)], NOW)
    await leaderboards.mark_dirty("test")
    names = KeyNames(PREFIX)
    # Every record counts itself, in its script: that is what the rebuild watches.
    before = int(await client.get(names.records) or 0)
    await leaderboards.record([Award("someone", "xp", 7, NOW, ())])
    assert int(await client.get(names.records) or 0) == before + 1

    # Another process, while the rebuild writes its temporary keys (the callback cannot await: a
    # blocking client of its own does it).
    other = redis.Redis.from_url(redis_of_its_own.url)

    def another_process(progress: RebuildProgress) -> None:
        if progress.stage == "writing" and progress.done == 0:
            if meanwhile == "a batch recorded":
                other.incr(names.records)
            else:
                other.set(names.dirty, "another failure")

    try:
        with pytest.raises(RecordedMeanwhile):
            await leaderboards.rebuild(sessions, now=NOW, on_progress=another_process, exclusive=True)
    finally:
        other.close()
    assert await weekly_xp(leaderboards) == {"someone": 7}  # not swapped
    assert await leaderboards.dirty() is not None  # still dirty
    assert [key async for key in client.scan_iter(match=f"{PREFIX}lb-rebuild:*")] == []

    await leaderboards.rebuild(sessions, now=NOW, exclusive=True)  # nothing happened meanwhile
    assert await weekly_xp(leaderboards) == {ana: 40}
    assert await leaderboards.dirty() is None


async def test_the_push_coalescer_backs_off_gives_up_after_its_bound_then_pushes_on_the_next_change(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    redis_of_its_own: ThrowawayRedis,
    client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gamif.leaderboards")
    leaderboards = Leaderboards(client, prefix=PREFIX, clock=lambda: NOW)
    store = DocumentStore(RedisStreams(client, prefix=PREFIX))
    live = LiveBoards(leaderboards, store, sessions, push_ms=10)
    pushes = live._pushes
    topic = "leaderboard:xp:weekly"
    try:
        await redis_of_its_own.stop()
        live.touch(topic)
        # 8 attempts, 10 ms doubling: about 2.5 s.
        await until(lambda: pushes.given_up > 0, "the push given up with Redis down")
        assert topic not in pushes._pushers  # no task left retrying
        failures = [r for r in caplog.records if "could not push" in r.getMessage()]
        assert len(failures) == pushes.max_attempts - 1
        assert all(r.levelno == logging.WARNING for r in failures)
        [gave_up] = [r for r in caplog.records if r.getMessage().startswith("push given up:")]
        assert gave_up.levelno == logging.ERROR
        assert f"{topic} failed {pushes.max_attempts} times in a row" in gave_up.getMessage()

        # The next change, with Redis back, is pushed: the board's document is published.
        await redis_of_its_own.start()
        ana = await world.add_user("ana")
        await leaderboards.record([Award(ana, "xp", 5, NOW - timedelta(hours=1), ())])
        live.touch(topic)

        async def published() -> bool:
            return (await store.read(topic)).document is not None

        await until(published, "the board's document published once Redis is back")
        stored = await store.read(topic)
        assert stored.document is not None
        assert [row["member"] for row in stored.document["rows"]] == [ana]
    finally:
        await live.aclose()


async def test_a_process_stopping_before_redis_could_be_told_says_so(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    redis_of_its_own: ThrowawayRedis,
    client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gamif.leaderboards")
    leaderboards = Leaderboards(client, prefix=PREFIX, clock=lambda: NOW)
    live, step = scoring_with_repair(leaderboards, client, sessions, rules, 3600)
    ana = await world.add_user("ana")
    await redis_of_its_own.stop()
    await step.run([tickets("a1", ana, 5)], NOW)
    await live.aclose()
    [told] = [r for r in caplog.records if "stopping before Redis could be told" in r.getMessage()]
    assert told.levelno == logging.ERROR
    assert "gamif leaderboards rebuild" in told.getMessage()
