"""The scorer's before-commit hook: what it sees, when it runs, and that raising in it writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import BadgeEarned, Engine, MetricEvent, default_rules
from persistence.db import create_engine, session_factory
from persistence.models import BadgeAward, LedgerEntry, MetricEventRow, User, UserStateRow
from persistence.scoring import ScoredBatch, Scorer, Submission

ENGINE = Engine(default_rules())
NOW = datetime(2026, 11, 20, 15, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def add_user(sessions: async_sessionmaker[AsyncSession], handle: str) -> str:
    user_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        session.add(
            User(
                id=user_id,
                handle=handle,
                email=f"{handle}@example.com",
                display_name=handle,
                timezone="Europe/Paris",
                password_hash="-",
            )
        )
    return str(user_id)


def event(user: str, event_id: str, metric: str, value: float) -> Submission:
    return Submission(
        MetricEvent(event_id, user, metric, value, datetime(2026, 11, 20, 10, tzinfo=UTC)), "test"
    )


async def test_the_hook_sees_each_user_before_and_after_inside_the_transaction(sessions):
    ana, ben = await add_user(sessions, "ana"), await add_user(sessions, "ben")
    await Scorer(sessions).score(ENGINE, [event(ana, "c0", "commits", 1)], NOW)  # ana has a past
    # An award the table already has (a state rebuilt by a replay, say) is not a new row.
    async with sessions() as session, session.begin():
        session.add(
            BadgeAward(
                user_id=uuid.UUID(ben),
                badge_id="first-commit",
                rule_version=1,
                explanation="earlier",
                earned_at=NOW,
            )
        )
    seen: list[ScoredBatch] = []
    written: dict[str, int] = {}

    async def hook(batch: ScoredBatch) -> None:
        seen.append(batch)
        session = batch.session
        written["ledger"] = int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
        row = await session.get(UserStateRow, uuid.UUID(ben))
        assert row is not None
        written["ben_xp"] = row.xp

    batch_events = [
        event(ana, "r1", "reviews_done", 10),
        event(ben, "c1", "commits", 1),
        event(ben, "c2", "commits", 2),
    ]
    result = await Scorer(sessions).score(ENGINE, batch_events, NOW, before_commit=hook)
    assert [s.status for s in result.statuses] == ["accepted"] * 3
    (batch,) = seen
    assert (batch.engine, batch.now, set(batch.users)) == (ENGINE, NOW, {ana, ben})
    a, b = batch.users[ana], batch.users[ben]
    assert (a.user_id, a.timezone, a.before_rule_version) == (ana, "Europe/Paris", 1)
    assert a.before.xp == 2 and a.outcome.state.xp > a.before.xp  # noqa: PT018
    assert a.outcome is result.outcomes[ana]
    assert a.new_badges == {("reviewer", "bronze", ""), ("review-marathon", "", "2026-11-20")}
    assert b.before.xp == 0
    assert any(isinstance(e, BadgeEarned) and e.badge_id == "first-commit" for e in b.outcome.effects)
    assert b.new_badges == frozenset()  # the row was there already
    # The hook ran after the writes (it reads them), before the commit.
    assert written["ben_xp"] == b.outcome.state.xp == 6
    # c0; ana's capped reviews, two badges and a mission; ben's commits (one line a metric and day)
    assert written["ledger"] == 1 + 4 + 1


async def test_a_failing_hook_writes_nothing(sessions):
    ana = await add_user(sessions, "ana")

    async def hook(batch: ScoredBatch) -> None:
        raise RuntimeError("the hub is down")

    with pytest.raises(RuntimeError, match="hub is down"):
        await Scorer(sessions).score(ENGINE, [event(ana, "r1", "reviews_done", 10)], NOW, before_commit=hook)
    async with sessions() as session:
        for model in (MetricEventRow, LedgerEntry, BadgeAward, UserStateRow):
            assert await session.scalar(select(func.count()).select_from(model)) == 0


async def test_the_hook_runs_only_when_something_was_scored(sessions):
    ana = await add_user(sessions, "ana")
    calls: list[ScoredBatch] = []

    async def hook(batch: ScoredBatch) -> None:
        calls.append(batch)

    scorer = Scorer(sessions)
    await scorer.score(ENGINE, [event(ana, "r1", "reviews_done", 1)], NOW, before_commit=hook)
    again = await scorer.score(ENGINE, [event(ana, "r1", "reviews_done", 1)], NOW, before_commit=hook)
    assert [s.status for s in again.statuses] == ["duplicate"]
    assert len(calls) == 1
