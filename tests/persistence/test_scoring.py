"""The scoring service on real PostgreSQL and SQLite: one transaction, exactly once per event id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, MetricEvent, RulesInvalid, default_rules, default_rules_text, replay
from persistence import rules_store
from persistence.db import create_engine, session_factory
from persistence.models import BadgeAward, LedgerEntry, MetricEventRow, MissionProgressRow, User, UserStateRow
from persistence.scoring import Scorer, Submission

ENGINE = Engine(default_rules())


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def add_user(sessions: async_sessionmaker[AsyncSession], handle: str, tz: str = "Europe/Paris") -> str:
    user_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        session.add(
            User(
                id=user_id,
                handle=handle,
                email=f"{handle}@example.com",
                display_name=handle,
                timezone=tz,
                password_hash="-",
            )
        )
    return str(user_id)


def event(user: str, event_id: str, metric: str, value: float, when: str) -> Submission:
    return Submission(MetricEvent(event_id, user, metric, value, datetime.fromisoformat(when)), "test")


async def count(session: AsyncSession, model: type, **where: object) -> int:
    statement = select(func.count()).select_from(model)
    for key, value in where.items():
        statement = statement.where(getattr(model, key) == value)
    return int(await session.scalar(statement) or 0)


async def test_a_batch_is_scored_and_written_together(sessions):
    ana = await add_user(sessions, "ana")
    batch = [
        event(ana, "r1", "reviews_done", 3, "2026-11-20T10:00:00+01:00"),
        event(ana, "r2", "reviews_done", 9, "2026-11-20T11:00:00+01:00"),
        event(ana, "c1", "commits", 4, "2026-11-20T12:00:00+01:00"),
    ]
    result = await Scorer(sessions).score(ENGINE, batch)
    assert [s.status for s in result.statuses] == ["accepted"] * 3
    outcome = result.outcomes[ana]
    async with sessions() as session:
        state = await session.get(UserStateRow, uuid.UUID(ana))
        assert state is not None
        assert state.xp == outcome.state.xp
        assert state.level == outcome.state.level
        ledger = (
            await session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == uuid.UUID(ana)))
        ).all()
        assert sum(entry.amount for entry in ledger) == state.xp
        assert all(entry.explanation and entry.rule_version == 1 for entry in ledger)
        review = next(entry for entry in ledger if entry.metric == "reviews_done")
        assert "capped at 80 by the daily cap" in review.explanation
        assert sorted(review.event_ids) == ["r1", "r2"]
        assert await count(session, MetricEventRow) == 3
        badges = {(b.badge_id, b.tier, b.period) for b in await session.scalars(select(BadgeAward))}
        assert ("reviewer", "bronze", "") in badges
        assert ("review-marathon", "", "2026-11-20") in badges
        mission = await session.get(MissionProgressRow, (uuid.UUID(ana), "daily-reviews", "2026-11-20"))
        assert mission is not None
        assert mission.progress == 12
        assert mission.completed_at is not None


async def test_invalid_and_repeated_events_are_not_written(sessions):
    ana = await add_user(sessions, "ana")
    batch = [
        event(ana, "ok", "commits", 1, "2026-11-20T10:00:00+01:00"),
        event(ana, "ok", "commits", 1, "2026-11-20T10:00:00+01:00"),
        event(ana, "unknown", "meditation", 1, "2026-11-20T10:00:00+01:00"),
        event(ana, "negative", "commits", -3, "2026-11-20T10:00:00+01:00"),
    ]
    result = await Scorer(sessions).score(ENGINE, batch)
    assert [(s.status, s.code) for s in result.statuses] == [
        ("accepted", None),
        ("duplicate", "duplicate_in_batch"),
        ("rejected", "unknown_metric"),
        ("rejected", "invalid_value"),
    ]
    async with sessions() as session:
        assert [row.id for row in await session.scalars(select(MetricEventRow))] == ["ok"]


async def test_nothing_valid_writes_nothing(sessions):
    ana = await add_user(sessions, "ana")
    result = await Scorer(sessions).score(ENGINE, [event(ana, "x", "nope", 1, "2026-11-20T10:00:00Z")])
    assert result.statuses[0].status == "rejected"
    async with sessions() as session:
        assert await count(session, MetricEventRow) == 0
        assert await count(session, UserStateRow) == 0


async def test_re_ingest_is_idempotent(sessions):
    ana = await add_user(sessions, "ana")
    batch = [event(ana, f"c{i}", "commits", 2, "2026-11-20T10:00:00+01:00") for i in range(5)]
    scorer = Scorer(sessions)
    first = await scorer.score(ENGINE, batch)
    again = await scorer.score(ENGINE, batch)
    assert first.accepted == 5
    assert [(s.status, s.code) for s in again.statuses] == [("duplicate", "already_scored")] * 5
    assert again.outcomes == {}
    async with sessions() as session:
        state = await session.get(UserStateRow, uuid.UUID(ana))
        assert state is not None
        assert state.xp == first.outcomes[ana].state.xp
        assert await count(session, MetricEventRow) == 5


async def test_concurrent_requests_with_the_same_ids_score_once(sessions):
    ana = await add_user(sessions, "ana")
    batch = [event(ana, f"c{i:02d}", "commits", 1, "2026-11-21T10:00:00+01:00") for i in range(30)]
    scorer = Scorer(sessions)
    results = await asyncio.gather(
        *(scorer.score(ENGINE, list(reversed(batch)) if n % 2 else batch) for n in range(4))
    )
    accepted = [s.id for r in results for s in r.statuses if s.status == "accepted"]
    assert sorted(accepted) == sorted(s.event.id for s in batch)  # each id accepted exactly once
    expected = replay(ENGINE, ana, "Europe/Paris", [s.event for s in batch])
    async with sessions() as session:
        state = await session.get(UserStateRow, uuid.UUID(ana))
        assert state is not None
        assert state.xp == expected.xp
        ledger_total = await session.scalar(select(func.sum(LedgerEntry.amount)))
        assert ledger_total == expected.xp


async def test_concurrent_batches_of_one_user_lose_no_update(sessions):
    ana = await add_user(sessions, "ana")
    days = ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]
    batches = [
        [event(ana, f"{day}-{i}", "reviews_done", 1, f"{day}T1{i}:00:00+01:00") for i in range(4)]
        for day in days
    ]
    scorer = Scorer(sessions)
    await asyncio.gather(*(scorer.score(ENGINE, batch) for batch in batches))
    expected = replay(ENGINE, ana, "Europe/Paris", [s.event for batch in batches for s in batch])
    async with sessions() as session:
        state = await session.get(UserStateRow, uuid.UUID(ana))
        assert state is not None
        assert (state.xp, state.level) == (expected.xp, expected.level)
        assert state.state["streaks"]["reviewing"]["current"] == 5


async def test_stored_state_scores_like_one_replay(sessions):
    """Persisting the state between batches keeps the engine's order independence."""
    ana = await add_user(sessions, "ana", "America/Los_Angeles")
    events = [
        event(ana, f"e{i}", metric, value, when)
        for i, (metric, value, when) in enumerate(
            [
                ("focus_minutes", 90, "2026-11-16T09:00:00-08:00"),
                ("docs_written", 2, "2026-11-17T23:30:00-08:00"),
                ("prs_merged", 1, "2026-11-18T10:00:00-08:00"),
                ("focus_minutes", 200, "2026-11-18T13:00:00-08:00"),
                ("docs_written", 3, "2026-11-16T08:00:00-08:00"),  # late
                ("commits", 12, "2026-11-17T10:00:00-08:00"),
            ]
        )
    ]
    scorer = Scorer(sessions)
    for chunk in (events[:2], events[2:3], events[3:]):
        await scorer.score(ENGINE, chunk)
    expected = replay(ENGINE, ana, "America/Los_Angeles", [s.event for s in events])
    async with sessions() as session:
        state = await session.get(UserStateRow, uuid.UUID(ana))
        assert state is not None
        assert state.xp == expected.xp
        stored = dict(state.state)
        reference = expected.to_dict()
        del reference["seen"]
        assert stored == reference


async def test_rules_versions(sessions):
    body = default_rules_text()
    async with sessions() as session, session.begin():
        assert await rules_store.current_rules(session) is None
        stored = await rules_store.publish(session, body, created_by="test")
        assert stored.rules.version == 1
    async with sessions() as session, session.begin():
        with pytest.raises(rules_store.RuleVersionConflict, match="greater than the current version 1"):
            await rules_store.publish(session, body, created_by="test")
    async with sessions() as session, session.begin():
        with pytest.raises(rules_store.RuleVersionConflict, match="identical to version 1"):
            await rules_store.publish(session, body.replace("version: 1", "version: 2", 1), created_by="t")
    async with sessions() as session, session.begin():
        with pytest.raises(RulesInvalid):
            await rules_store.publish(session, "ruleset: x\nversion: 3\n", created_by="test")
    changed = body.replace("version: 1", "version: 2", 1).replace("xp_per_unit: 10", "xp_per_unit: 11", 1)
    async with sessions() as session, session.begin():
        await rules_store.publish(session, changed, created_by="admin")
    async with sessions() as session:
        current = await rules_store.current_rules(session)
        assert current is not None
        assert current.rules.version == 2
        assert [row.version for row in await rules_store.list_versions(session)] == [2, 1]
    cache = rules_store.EngineCache()
    assert cache.engine_for(current.rules) is cache.engine_for(current.rules)
