"""The live outbox's store, on SQLite and PostgreSQL: entries written in a transaction exist only if it
commits, come back by topic in version order and by age, and deleting is idempotent; live versions
count one per change, in commit order under the state rows' locks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence import live_outbox
from persistence.db import begin_write, create_engine, session_factory
from persistence.live_outbox import Outbox
from persistence.models import User, UserStateRow, utcnow


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def add_user(sessions: async_sessionmaker[AsyncSession], handle: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        session.add(
            User(
                id=user_id,
                handle=handle,
                email=f"{handle}@example.com",
                display_name=handle,
                password_hash="-",
            )
        )
        await session.flush()
        session.add(UserStateRow(user_id=user_id, rule_version=1, state={}))
    return user_id


async def test_entries_exist_only_once_their_transaction_commits(sessions):
    outbox, now = Outbox(sessions), utcnow()

    class Boom(Exception):
        pass

    async def add_then_fail() -> None:
        async with sessions() as session, session.begin():
            await begin_write(session)
            await live_outbox.add(session, [("user:a", 1, b"x")], now)
            raise Boom

    with pytest.raises(Boom):
        await add_then_fail()
    assert await outbox.count() == 0

    async with sessions() as session, session.begin():
        await begin_write(session)
        added = await live_outbox.add(
            session, [("user:a", 1, b"one"), ("user:a", 2, b"two"), ("user:b", 1, b"uno")], now
        )
    assert [(e.topic, e.version, e.payload) for e in added] == [
        ("user:a", 1, b"one"),
        ("user:a", 2, b"two"),
        ("user:b", 1, b"uno"),
    ]
    assert len({e.id for e in added}) == 3
    assert await outbox.after("user:a", 0) == added[:2]
    assert await outbox.after("user:a", 1) == added[1:2]
    assert await outbox.after("user:a", 0, through=1) == added[:1]
    assert await outbox.after("user:b", 0) == added[2:]
    assert await outbox.older_than(now + timedelta(seconds=1), limit=2) == added[:2]
    assert await outbox.older_than(now, limit=10) == []

    await outbox.remove([added[0].id, added[2].id])
    await outbox.remove([added[0].id])  # again: another relay got there first
    assert await outbox.older_than(now + timedelta(seconds=1), limit=10) == added[1:2]


async def test_live_versions_count_one_per_change_in_commit_order(sessions):
    alice, bob = await add_user(sessions, "alice"), await add_user(sessions, "bob")
    async with sessions() as session:
        assert await live_outbox.live_versions(session, [alice, bob]) == {alice: 0, bob: 0}

    async def change(users: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        async with sessions() as session, session.begin():
            await begin_write(session)
            return await live_outbox.next_versions(session, users)

    results = await asyncio.gather(*(change([alice, bob]) for _ in range(5)), change([alice]))
    assert sorted(result[alice] for result in results) == [1, 2, 3, 4, 5, 6]
    assert sorted(result[bob] for result in results if bob in result) == [1, 2, 3, 4, 5]
    async with sessions() as session:
        assert await live_outbox.live_versions(session, [alice, bob]) == {alice: 6, bob: 5}
