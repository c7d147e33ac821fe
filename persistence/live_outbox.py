"""The live outbox's store (`persistence.models.LiveOutbox`): deltas written in the transaction that made
their change, read back to be published after it committed, deleted once published.

`add` and `next_versions` run inside the caller's transaction (the scoring one); the reads and `remove`
are short transactions of their own, never holding a lock while the caller talks to Redis. Several
processes may read and publish the same rows: publishing is idempotent by version (`Streams.publish_versions`)
and deleting twice is harmless."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db import begin_write
from .models import LiveOutbox, UserStateRow


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One delta of the outbox. ``version``: the state it leads its user topic to."""

    id: int
    topic: str
    version: int
    payload: bytes


async def next_versions(session: AsyncSession, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Count one more state of each user's live document, in the caller's transaction (which holds the
    users' state rows locked, so versions follow the commit order); the new versions."""
    if not user_ids:
        return {}
    rows = await session.execute(
        update(UserStateRow)
        .where(UserStateRow.user_id.in_(list(user_ids)))
        # updated_at as the scorer wrote it (the wall clock), not "now" again: an unindexed column only,
        # so PostgreSQL can update the row in place (HOT).
        .values(live_version=UserStateRow.live_version + 1, updated_at=UserStateRow.updated_at)
        .returning(UserStateRow.user_id, UserStateRow.live_version)
    )
    return {row[0]: row[1] for row in rows}


async def live_versions(session: AsyncSession, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The users' current live versions (0 for a user never scored), as of the caller's transaction."""
    rows = await session.execute(
        select(UserStateRow.user_id, UserStateRow.live_version).where(
            UserStateRow.user_id.in_(list(user_ids))
        )
    )
    found: dict[uuid.UUID, int] = {row[0]: row[1] for row in rows}
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


async def add(
    session: AsyncSession, entries: Sequence[tuple[str, int, bytes]], now: datetime
) -> list[OutboxEntry]:
    """Write ``(topic, version, payload)`` entries in the caller's transaction, in one statement."""
    if not entries:
        return []
    ids = await session.scalars(
        insert(LiveOutbox).returning(LiveOutbox.id, sort_by_parameter_order=True),
        [{"topic": t, "version": v, "payload": p, "created_at": now} for t, v, p in entries],
    )
    return [OutboxEntry(i, t, v, p) for i, (t, v, p) in zip(ids, entries, strict=True)]


def _entry(row: LiveOutbox) -> OutboxEntry:
    return OutboxEntry(row.id, row.topic, row.version, row.payload)


class Outbox:
    """The outbox outside any scoring transaction: what relays read and delete."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def after(self, topic: str, version: int, through: int | None = None) -> list[OutboxEntry]:
        """A versioned topic's entries after ``version`` (up to ``through``), in version order."""
        query = select(LiveOutbox).where(LiveOutbox.topic == topic, LiveOutbox.version > version)
        if through is not None:
            query = query.where(LiveOutbox.version <= through)
        async with self.sessions() as session:
            return [_entry(row) for row in await session.scalars(query.order_by(LiveOutbox.version))]

    async def older_than(self, moment: datetime, limit: int, *, after_id: int = 0) -> list[OutboxEntry]:
        """Entries written before ``moment`` (left behind: their writer crashed or could not publish),
        oldest first, at most ``limit``, from the one after ``after_id`` (to page through them)."""
        query = (
            select(LiveOutbox)
            .where(LiveOutbox.created_at < moment, LiveOutbox.id > after_id)
            .order_by(LiveOutbox.id)
            .limit(limit)
        )
        async with self.sessions() as session:
            return [_entry(row) for row in await session.scalars(query)]

    async def count(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(LiveOutbox)) or 0)

    async def remove(self, ids: Collection[int]) -> None:
        """Delete published entries (missing ones are fine: another relay deleted them first)."""
        if not ids:
            return
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            await session.execute(delete(LiveOutbox).where(LiveOutbox.id.in_(list(ids))))


__all__ = ["Outbox", "OutboxEntry", "add", "live_versions", "next_versions"]
