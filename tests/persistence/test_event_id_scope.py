"""Event ids scoped to their sender and user (migration 0004), on real PostgreSQL and SQLite: the
migration keeps existing rows, and the scorer counts another sender's event of the same id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, MetricEvent, default_rules
from persistence.db import create_engine, session_factory
from persistence.migrate import current, downgrade, pending_diff, upgrade
from persistence.models import LedgerEntry, MetricEventRow, User, UserStateRow, table_of
from persistence.scoring import Scorer, Submission

ENGINE = Engine(default_rules())
WHEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def event_row(event_id: str, user: uuid.UUID, reported_by: str, value: float = 2) -> dict[str, object]:
    return {
        "id": event_id,
        "user_id": user,
        "metric": "tickets_closed",
        "value": value,
        "occurred_at": WHEN,
        "received_at": WHEN,
        "source": "self" if reported_by.startswith("user:") else "integration",
        "reported_by": reported_by,
        "rule_version": 1,
        "metadata": {"n": event_id},
    }


async def rows(url: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            events = table_of(MetricEventRow)
            result = await connection.execute(select(events).order_by(events.c.id, events.c.reported_by))
            return [tuple(row) for row in result]
    finally:
        await engine.dispose()


async def execute(url: str, *statements: object) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(statement)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


def add(*events: dict[str, object]) -> object:
    return insert(table_of(MetricEventRow)).values(list(events))


async def primary_key(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).get_pk_constraint("metric_events"))
    finally:
        await engine.dispose()


async def test_the_migration_keeps_existing_events_and_scopes_their_ids(database_url):
    await downgrade(database_url, "0003_challenges")
    users = [
        {"id": uid, "handle": h, "email": f"{h}@example.com", "display_name": h, "timezone": "UTC"}
        | {"role": "player", "password_hash": "-", "created_at": WHEN}
        for uid, h in ((ALICE, "alice"), (BOB, "bob"))
    ]
    integration = "service:" + str(uuid.uuid4())
    existing = [event_row("gh-1", ALICE, integration), event_row("gh-2", BOB, f"user:{BOB}", 3)]
    await execute(
        database_url, insert(table_of(User)).values(users), insert(table_of(MetricEventRow)).values(existing)
    )
    # Before: one global namespace. Bob's own "gh-1" collides with the integration's.
    with pytest.raises(IntegrityError):
        await execute(
            database_url, insert(table_of(MetricEventRow)).values(event_row("gh-1", BOB, f"user:{BOB}"))
        )
    before = await rows(database_url)

    await upgrade(database_url, "0004_event_id_scope")

    assert await current(database_url) == "0004_event_id_scope"
    assert await rows(database_url) == before  # every row, every value
    key = await primary_key(database_url)
    assert (key["name"], key["constrained_columns"]) == ("pk_metric_events", ["id", "user_id", "reported_by"])
    await upgrade(database_url)  # the later revisions do not touch metric_events
    assert await pending_diff(database_url) == []
    # After: the same id from another sender, or for another user, is another event ...
    await execute(
        database_url,
        add(event_row("gh-1", BOB, f"user:{BOB}")),
        add(event_row("gh-1", ALICE, f"user:{ALICE}")),
    )
    # ... and the same id from the same sender for the same user is still the same one.
    with pytest.raises(IntegrityError):
        await execute(
            database_url, insert(table_of(MetricEventRow)).values(event_row("gh-1", ALICE, integration))
        )

    # Down again only when ids are unique once more: it says which are not.
    with pytest.raises(RuntimeError, match="gh-1"):
        await downgrade(database_url, "0003_challenges")
    events = table_of(MetricEventRow)
    await execute(
        database_url, delete(events).where(events.c.reported_by != integration, events.c.id == "gh-1")
    )
    await downgrade(database_url, "0003_challenges")
    assert await rows(database_url) == before
    await upgrade(database_url)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    async with session_factory(engine)() as session, session.begin():
        for uid, handle in ((ALICE, "alice"), (BOB, "bob")):
            session.add(
                User(
                    id=uid,
                    handle=handle,
                    email=f"{handle}@example.com",
                    display_name=handle,
                    password_hash="-",
                )
            )
    yield session_factory(engine)
    await engine.dispose()


def report(event_id: str, user: uuid.UUID, sender: str, source: str = "integration") -> Submission:
    return Submission(MetricEvent(event_id, str(user), "tickets_closed", 2, WHEN, source), sender)  # type: ignore[arg-type]


async def test_a_players_id_does_not_pre_empt_an_integrations_event(sessions):
    scorer = Scorer(sessions)
    # Bob reports "jira-7" as his own work first ...
    first = await scorer.score(ENGINE, [report("jira-7", BOB, f"user:{BOB}", "self")])
    assert [s.status for s in first.statuses] == ["accepted"]
    # ... then the integration sends its real "jira-7", for alice: it is scored.
    second = await scorer.score(ENGINE, [report("jira-7", ALICE, "service:jira")])
    assert [s.status for s in second.statuses] == ["accepted"]
    # Re-sent by the same sender for the same user, it is a duplicate, as before.
    third = await scorer.score(ENGINE, [report("jira-7", ALICE, "service:jira")])
    assert [(s.status, s.code) for s in third.statuses] == [("duplicate", "already_scored")]
    async with sessions() as session:
        state = await session.get(UserStateRow, ALICE)
        assert state is not None
        assert state.xp == 16  # 2 tickets × 8 XP, once


async def test_two_senders_one_id_one_user_in_one_batch_both_count(sessions):
    batch = [
        report("t-1", ALICE, "service:jira"),
        report("t-1", ALICE, f"user:{ALICE}", "self"),
        report("t-1", ALICE, "service:jira"),  # the same event twice in the batch
    ]
    result = await Scorer(sessions).score(ENGINE, batch)
    assert [(s.status, s.code) for s in result.statuses] == [
        ("accepted", None),
        ("accepted", None),
        ("duplicate", "duplicate_in_batch"),
    ]
    assert result.outcomes[str(ALICE)].state.xp == 32
    async with sessions() as session:
        state = await session.get(UserStateRow, ALICE)
        assert state is not None
        assert state.xp == 32
        ledger = (await session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == ALICE))).all()
        assert sum(entry.amount for entry in ledger) == 32


# -- the rules' daily limit on self-reports, enforced again where the scores are written ----------


def own(n: int, user: uuid.UUID = ALICE) -> Submission:
    return report(f"own-{n}", user, f"user:{user}", "self")


async def stored_self_reports(sessions, user: uuid.UUID) -> int:
    async with sessions() as session:
        query = select(MetricEventRow.id).where(
            MetricEventRow.user_id == user, MetricEventRow.source == "self"
        )
        return len((await session.scalars(query)).all())


async def test_the_scorer_holds_the_daily_self_report_limit_against_requests_in_flight(sessions):
    """Ingest counts what is stored when it answers: two requests in flight at once each pass it.
    The scorer counts again under the user's row lock, so the day never holds more than the limit."""
    scorer = Scorer(sessions)
    first = await scorer.score(ENGINE, [own(n) for n in range(7)])
    assert [s.status for s in first.statuses] == ["accepted"] * 7
    integration = report("ci-1", ALICE, "service:jira")  # not a self-report: never held back

    second = await scorer.score(ENGINE, [own(n) for n in range(7, 12)] + [integration])

    assert [(s.status, s.code) for s in second.statuses] == [("accepted", None)] * 3 + [
        ("rejected", "self_report_daily_limit")
    ] * 2 + [("accepted", None)]
    assert await stored_self_reports(sessions, ALICE) == 10  # the refused ones were not kept
    async with sessions() as session:
        state = await session.get(UserStateRow, ALICE)
        assert state is not None
        assert state.xp == 80  # the day's cap for tickets_closed: 10 self-reports + 1 from the integration


async def test_concurrent_batches_of_self_reports_stay_within_the_limit(sessions):
    batches = [[own(n + 100 * b) for n in range(8)] for b in range(3)]
    results = await asyncio.gather(*(Scorer(sessions).score(ENGINE, batch) for batch in batches))
    accepted = sum(s.status == "accepted" for result in results for s in result.statuses)
    assert accepted == 10
    assert await stored_self_reports(sessions, ALICE) == 10
