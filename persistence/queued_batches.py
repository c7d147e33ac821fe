"""The embedded scoring queue's store (`persistence.models.QueuedBatch`): a batch is added before ingest
answers 202, deleted once scored, or kept as a dead letter when it cannot be scored.

Each write is a short transaction of its own (on SQLite: the write lock taken at BEGIN, released at
once), never inside the scoring transaction: a batch is deleted after its scoring committed, so a crash
in between scores it again at the next start, which counts nothing twice (scoring is idempotent per
event id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db import begin_write
from .models import QueuedBatch, utcnow


class QueuedBatches:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def add(self, payload: bytes, events: int) -> int:
        """Keep a batch to score; its id."""
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            row = QueuedBatch(payload=payload, events=events, queued_at=utcnow(), attempts=0)
            session.add(row)
            await session.flush()
            return row.id

    async def waiting(self, exclude: Sequence[int] = ()) -> list[QueuedBatch]:
        """The batches to score (not dead letters), oldest first, but for ``exclude``."""
        query = select(QueuedBatch).where(QueuedBatch.failed_at.is_(None)).order_by(QueuedBatch.id)
        if exclude:
            query = query.where(QueuedBatch.id.not_in(exclude))
        async with self.sessions() as session:
            return list(await session.scalars(query))

    async def scored(self, batch_id: int) -> None:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            await session.execute(delete(QueuedBatch).where(QueuedBatch.id == batch_id))

    async def dead(self, batch_id: int, reason: str, attempts: int, when: datetime | None = None) -> None:
        """Give up on a batch: it stays, as a dead letter, until replayed or dropped."""
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            await session.execute(
                update(QueuedBatch)
                .where(QueuedBatch.id == batch_id)
                .values(failed_at=when or utcnow(), reason=reason, attempts=attempts)
            )

    async def dead_letters(self, limit: int | None = None) -> list[QueuedBatch]:
        """The oldest first."""
        query = select(QueuedBatch).where(QueuedBatch.failed_at.is_not(None)).order_by(QueuedBatch.id)
        async with self.sessions() as session:
            return list(await session.scalars(query.limit(limit)))

    async def dead_letter(self, batch_id: int) -> QueuedBatch | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(QueuedBatch).where(QueuedBatch.id == batch_id, QueuedBatch.failed_at.is_not(None))
            )

    async def counts(self) -> tuple[int, int]:
        """How many batches wait to be scored, and how many are dead letters."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(QueuedBatch.failed_at.is_(None), func.count()).group_by(
                    QueuedBatch.failed_at.is_(None)
                )
            )
            by_kind = {bool(waiting): int(count) for waiting, count in rows}
        return by_kind.get(True, 0), by_kind.get(False, 0)

    async def oldest_waiting(self) -> datetime | None:
        """When the oldest batch still to be scored (not a dead letter) was queued; None if there is none."""
        async with self.sessions() as session:
            return await session.scalar(
                select(func.min(QueuedBatch.queued_at)).where(QueuedBatch.failed_at.is_(None))
            )

    async def replay(self, batch_id: int) -> bool:
        """Make a dead letter a batch to score again (the serving process picks it up): whether it was one."""
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            result = await session.execute(
                update(QueuedBatch)
                .where(QueuedBatch.id == batch_id, QueuedBatch.failed_at.is_not(None))
                .values(failed_at=None, reason=None)
                .returning(QueuedBatch.id)
            )
            return result.first() is not None

    async def drop(self, batch_id: int) -> bool:
        """Delete a dead letter for good: whether there was one."""
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            result = await session.execute(
                delete(QueuedBatch)
                .where(QueuedBatch.id == batch_id, QueuedBatch.failed_at.is_not(None))
                .returning(QueuedBatch.id)
            )
            return result.first() is not None
