"""The worker's batcher: batches waiting at once are scored in one transaction, each gets its own
statuses back, a bad batch fails alone and is given up after a bounded number of attempts (for the dead
letter), and a store that is down is waited out, however the driver says so."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from game import MetricEvent
from persistence.db import create_engine, session_factory
from persistence.models import MetricEventRow, UserStateRow
from persistence.scoring import Scorer, ScoreResult, Submission
from server.services.scoring.rules import RulesService
from tasks.scoring import Unscorable
from tasks.scoring_batcher import GroupStats, ScoringBatcher
from tasks.scoring_step import ScoringStep
from tests.live.conftest import NOW, World
from tests.relay import Relay


def batch(user_id: str, *ids: str) -> list[Submission]:
    occurred = datetime.fromisoformat("2026-11-20T10:00:00+00:00")
    return [Submission(MetricEvent(i, user_id, "reviews_done", 1, occurred), "test") for i in ids]


async def stored_ids(world: World) -> set[str]:
    async with world.sessions() as session:
        return set(await session.scalars(select(MetricEventRow.id)))


async def test_batches_waiting_together_are_one_transaction(world: World, rules: RulesService) -> None:
    ana, bo = await world.add_user("ana"), await world.add_user("bo")
    batcher = ScoringBatcher(ScoringStep(Scorer(world.sessions), rules, None), in_flight=1)
    results = await asyncio.gather(
        batcher.score(batch(ana, "a1", "a2"), NOW),
        batcher.score(batch(bo, "b1"), NOW),
        batcher.score(batch(ana, "a3", "a1"), NOW),  # a1 again: a duplicate within the group
    )
    assert batcher.groups == 1
    stats = batcher.stats  # for the periodic log line: one group of five events from three batches
    assert (stats.events, stats.groups, stats.batches, stats.largest) == (5, 1, 3, 5)
    assert [[(s.id, s.status) for s in r.statuses] for r in results] == [
        [("a1", "accepted"), ("a2", "accepted")],
        [("b1", "accepted")],
        [("a3", "accepted"), ("a1", "duplicate")],
    ]
    assert await stored_ids(world) == {"a1", "a2", "a3", "b1"}
    # Grouping never changes the outcome: the same batches scored one by one for twins give the same XP.
    cy, di = await world.add_user("cy"), await world.add_user("di")
    alone = ScoringStep(Scorer(world.sessions), rules, None)
    for user, ids in ((cy, ("c1", "c2")), (di, ("d1",)), (cy, ("c3", "c1"))):
        await alone.run(batch(user, *ids), NOW)
    async with world.sessions() as session:
        xp = {str(u): x for u, x in await session.execute(select(UserStateRow.user_id, UserStateRow.xp))}
    assert (xp[ana], xp[bo]) == (xp[cy], xp[di])
    assert xp[ana] > xp[bo] > 0


async def test_a_bad_batch_fails_alone(
    world: World, rules: RulesService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("tasks.scoring_batcher._RETRY_FIRST", 0.01)
    ana = await world.add_user("ana")
    gone = str(uuid.uuid4())  # a user deleted after ingest: its events break a foreign key
    batcher = ScoringBatcher(ScoringStep(Scorer(world.sessions), rules, None), in_flight=1, max_attempts=3)
    results = await asyncio.gather(
        batcher.score(batch(ana, "a1"), NOW),
        batcher.score(batch(gone, "g1"), NOW),
        batcher.score(batch(ana, "a2"), NOW),
        return_exceptions=True,
    )
    assert isinstance(results[0], ScoreResult)
    assert results[0].accepted == 1
    # Given up after its attempts, for the task to put it in the dead-letter stream (not retried forever).
    assert isinstance(results[1], Unscorable)
    assert results[1].attempts == 3
    assert "IntegrityError" in results[1].reason
    assert isinstance(results[2], ScoreResult)
    assert results[2].accepted == 1
    assert await stored_ids(world) == {"a1", "a2"}
    lines = [r.getMessage() for r in caplog.records if r.name == "gamif.scoring"]
    assert any("attempt 1 of 3" in line for line in lines)
    assert any("attempt 2 of 3" in line for line in lines)
    assert any("failed 3 times" in line and "giving it up" in line for line in lines)


async def test_with_a_single_attempt_a_bad_batch_is_given_up_at_once_in_a_group_or_alone(
    world: World, rules: RulesService
) -> None:
    ana = await world.add_user("ana")
    gone = str(uuid.uuid4())
    batcher = ScoringBatcher(ScoringStep(Scorer(world.sessions), rules, None), in_flight=1, max_attempts=1)
    alone = await asyncio.gather(batcher.score(batch(gone, "g1"), NOW), return_exceptions=True)
    grouped = await asyncio.gather(
        batcher.score(batch(ana, "a1"), NOW), batcher.score(batch(gone, "g2"), NOW), return_exceptions=True
    )
    # Unscorable (for the dead letter), never the bare error (which would leave the message to loop).
    assert isinstance(alone[0], Unscorable)
    assert alone[0].attempts == 1
    assert isinstance(grouped[0], ScoreResult)
    assert isinstance(grouped[1], Unscorable)
    assert await stored_ids(world) == {"a1"}


class FlakyStep(ScoringStep):
    """The real step, after ``failures`` attempts that find the database unreachable."""

    def __init__(self, step: ScoringStep, failures: int) -> None:
        super().__init__(step.scorer, step.rules, None)
        self.failures = failures
        self.attempts = 0

    async def run(self, submissions: object, now: datetime | None = None) -> ScoreResult:  # type: ignore[override]
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("the database restarts"))
        return await super().run(submissions, now)  # type: ignore[arg-type]


async def test_a_store_that_is_down_is_waited_out(
    world: World, rules: RulesService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("tasks.scoring_batcher._RETRY_FIRST", 0.01)
    ana = await world.add_user("ana")
    # More failures than max_attempts: an outage is not counted against the batch.
    step = FlakyStep(ScoringStep(Scorer(world.sessions), rules, None), failures=4)
    result = await ScoringBatcher(step, max_attempts=2).score(batch(ana, "a1"), NOW)
    assert (result.accepted, step.attempts) == (1, 5)
    lines = [r.getMessage() for r in caplog.records if r.name == "gamif.scoring"]
    assert [f"attempt {n}," in line for n, line in enumerate(lines, 1)] == [True] * 4
    assert all("a store is unavailable" in line for line in lines)
    async with world.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MetricEventRow)) == 1


async def test_an_outage_that_lasts_logs_errors_to_alert_on(
    world: World, rules: RulesService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The wait for a store has no limit (its events were accepted), so what an operator alerts on is
    its length: warnings at first, errors once it has lasted ``ALERT_AFTER_S``."""
    monkeypatch.setattr("tasks.scoring_batcher._RETRY_FIRST", 0.01)  # waits 0.01, 0.02, 0.04, 0.08, 0.16 s
    monkeypatch.setattr("tasks.scoring_batcher.ALERT_AFTER_S", 0.05)
    ana = await world.add_user("ana")
    step = FlakyStep(ScoringStep(Scorer(world.sessions), rules, None), failures=6)
    result = await ScoringBatcher(step, max_attempts=2).score(batch(ana, "a1"), NOW)
    assert result.accepted == 1
    levels = [r.levelname for r in caplog.records if r.name == "gamif.scoring"]
    assert len(levels) == 6
    # The first attempt fails at once, the last after 0.31 s of waiting at least; never back to warnings.
    assert levels[0] == "WARNING"
    assert levels[-1] == "ERROR"
    assert levels == sorted(levels, key=["WARNING", "ERROR"].index)


class _Orig(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_a_deadlock_or_a_serialization_failure_is_retried_not_dropped() -> None:
    """The database rolled the group back to break a deadlock: scoring it again succeeds, and its events
    were accepted, so it must be retried rather than fail (an integrity error, say, is not retried)."""
    from sqlalchemy.exc import DBAPIError

    from tasks.scoring_batcher import transient

    def error(sqlstate: str | None) -> DBAPIError:
        return DBAPIError("SELECT 1", None, _Orig(sqlstate))

    assert transient(error("40P01"))
    assert transient(error("40001"))
    assert not transient(error("23505"))
    assert not transient(error(None))
    assert transient(ConnectionResetError())
    assert not transient(ValueError("a bad batch"))


def test_a_database_that_stops_or_starts_is_an_outage_whatever_the_driver_calls_it() -> None:
    """asyncpg's errors for a PostgreSQL stopped mid-transaction or starting up reach SQLAlchemy as a plain
    DBAPIError (neither OperationalError nor invalidated): their SQLSTATE says what they are."""
    from asyncpg.exceptions import (
        AdminShutdownError,
        CannotConnectNowError,
        ConnectionDoesNotExistError,
        UniqueViolationError,
    )
    from sqlalchemy.exc import DBAPIError

    from server.services.store_outage import store_unavailable
    from tasks.scoring_batcher import transient

    def wrapped(error: Exception) -> DBAPIError:
        # As SQLAlchemy's asyncpg dialect raises it: its own DBAPI error, caused by asyncpg's.
        adapted = Exception(str(error))
        adapted.__cause__ = error
        adapted.sqlstate = getattr(error, "sqlstate", None)  # type: ignore[attr-defined]
        return DBAPIError("COMMIT", None, adapted)

    for outage in (
        ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        CannotConnectNowError("the database system is starting up"),
        AdminShutdownError("terminating connection due to administrator command"),
    ):
        assert store_unavailable(wrapped(outage)), outage
        assert transient(wrapped(outage)), outage
    assert not store_unavailable(wrapped(UniqueViolationError("duplicate key")))
    assert not transient(wrapped(UniqueViolationError("duplicate key")))


class RecordingStep(ScoringStep):
    """The real step, remembering what each failed attempt raised."""

    failures: list[BaseException]

    async def run(self, submissions: Sequence[Submission], now: datetime | None = None) -> ScoreResult:
        try:
            return await super().run(submissions, now)
        except Exception as error:
            self.failures.append(error)
            raise


@pytest.mark.postgresql
async def test_a_connection_closed_mid_transaction_is_retried(
    _postgresql_database_url: str,  # noqa: PT019 (its value is used)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tasks.scoring_batcher._RETRY_FIRST", 0.01)
    url = make_url(_postgresql_database_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    await relay.restore()
    engine = create_engine(url.set(port=relay.port).render_as_string(hide_password=False))
    try:
        sessions = session_factory(engine)
        rules = RulesService(sessions)
        await rules.bootstrap()
        world = World(sessions, await rules.engine())
        ana = await world.add_user("ana")
        step = RecordingStep(Scorer(sessions), rules, None)
        step.failures = []
        relay.trip = b"COMMIT"  # the scoring transaction's commit: its connection closes under it
        result = await ScoringBatcher(step, max_attempts=1).score(batch(ana, "a1", "a2"), NOW)
        assert result.accepted == 2
        [failure] = step.failures  # the commit on the cut connection: not given up, though max_attempts=1
        assert "ConnectionDoesNotExistError" in repr(failure.__cause__) or "closed in the middle" in str(
            failure
        )
        assert await stored_ids(world) == {"a1", "a2"}
    finally:
        await engine.dispose()
        await relay.cut()


def test_group_statistics_are_logged_once_a_window_has_passed_and_only_when_scoring(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    stats = GroupStats(every=10.0, clock=lambda: now[0])
    caplog.set_level("INFO", logger="gamif.scoring")
    for events, batches in ((30, 3), (1, 1), (9, 2)):  # within the first 10 s: no line yet
        stats.committed(events, batches)
        now[0] += 3
    assert caplog.messages == []
    now[0] = 111.0
    stats.committed(4, 1)  # the first group after the window: the line is written, and a new window opens
    assert caplog.messages == [
        "scoring: 40 events in 3 groups (mean 13.3, max 30 per group) from 6 queued batches, in the last 11 s"
    ]
    now[0] = 500.0  # idle meanwhile: nothing was written; the next group writes what the window held
    stats.committed(2, 2)
    assert caplog.messages[-1] == (
        "scoring: 4 events in 1 groups (mean 4.0, max 4 per group) from 1 queued batches, in the last 389 s"
    )
    assert (stats.events, stats.groups, stats.batches, stats.opened) == (2, 1, 2, 500.0)


class SizedStep(ScoringStep):
    """The real step, remembering how many events each transaction scored."""

    sizes: list[int]

    async def run(self, submissions: Sequence[Submission], now: datetime | None = None) -> ScoreResult:
        self.sizes.append(len(submissions))
        return await super().run(submissions, now)


async def test_split_batches_no_transaction_scores_more_than_max_events(
    world: World, rules: RulesService
) -> None:
    """The embedded server's batcher: a batch larger than max_events is scored in slices, one transaction
    each, and small batches waiting behind it fill the last slice; each batch gets its own statuses, in
    its order, and the XP is what scoring the batches whole gives."""
    ana, bo = await world.add_user("ana"), await world.add_user("bo")
    step = SizedStep(Scorer(world.sessions), rules, None)
    step.sizes = []
    batcher = ScoringBatcher(step, max_events=3, in_flight=1, split_batches=True)
    big = batch(ana, "a1", "a2", "a3", "a4", "a5", "a1")  # a1 again: in another slice than the first
    results = await asyncio.gather(batcher.score(big, NOW), batcher.score(batch(bo, "b1"), NOW))
    assert step.sizes == [3, 3, 1]  # a1-a3 | a4, a5, a1 | b1 (the slice after a full one)
    assert [[(s.id, s.status) for s in r.statuses] for r in results] == [
        [
            *[("a1", "accepted"), ("a2", "accepted"), ("a3", "accepted")],
            *[("a4", "accepted"), ("a5", "accepted"), ("a1", "duplicate")],
        ],
        [("b1", "accepted")],
    ]
    assert (results[0].accepted, batcher.groups) == (5, 3)
    cy = await world.add_user("cy")
    await ScoringStep(Scorer(world.sessions), rules, None).run(batch(cy, "c1", "c2", "c3", "c4", "c5"), NOW)
    async with world.sessions() as session:
        xp = {str(u): x for u, x in await session.execute(select(UserStateRow.user_id, UserStateRow.xp))}
    assert xp[ana] == xp[cy] > 0


async def test_split_batches_a_failing_slice_fails_its_whole_batch_and_only_it(
    world: World, rules: RulesService
) -> None:
    """A batch whose later slice cannot be scored is given up as a whole (for its dead letter: replayed,
    its committed slices count once), the rest of it is not scored, and the batches behind it are."""
    ana, bo = await world.add_user("ana"), await world.add_user("bo")
    gone = str(uuid.uuid4())  # a user deleted after ingest: its event breaks a foreign key
    step = SizedStep(Scorer(world.sessions), rules, None)
    step.sizes = []
    batcher = ScoringBatcher(step, max_events=2, in_flight=1, max_attempts=1, split_batches=True)
    bad = [*batch(ana, "a1", "a2"), *batch(gone, "g1"), *batch(ana, "a3"), *batch(ana, "a4", "a5")]
    results = await asyncio.gather(
        batcher.score(bad, NOW), batcher.score(batch(bo, "b1"), NOW), return_exceptions=True
    )
    assert isinstance(results[0], Unscorable)
    assert isinstance(results[1], ScoreResult)
    assert results[1].accepted == 1
    assert await stored_ids(world) == {"a1", "a2", "b1"}  # a4, a5: never tried once the batch failed
    assert step.sizes == [2, 2, 1]
