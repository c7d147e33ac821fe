"""Notifications: level-ups, badges and completed missions kept for a player until marked read.

They are written with the award, in the scoring transaction (`server.services.scoring.live`); a player's
screen gets the unread ones when it subscribes to the player's own topic (as the events they were, with a
``notification_id``), and the HTTP API lists them and marks them read.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import begin_write
from persistence.models import Notification, table_of, utcnow
from server.services.errors import NotFound

MAX_NOTIFICATION_ID = 2**63 - 1
"""Ids are 64-bit signed integers (PostgreSQL ``bigint``, SQLite ``INTEGER``), counted from 1."""


async def insert_notifications(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[int]:
    """Insert notifications (``user_id``, ``kind``, ``data``) created at ``now`` in the session's
    transaction, in one statement; their ids, in the order of ``rows``."""
    if not rows:
        return []
    table = table_of(Notification)
    statement = insert(table).values(created_at=now).returning(table.c.id, sort_by_parameter_order=True)
    return list((await session.execute(statement, list(rows))).scalars())


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    kind: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationsService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def recent(self, user_id: str, *, unread_only: bool, limit: int) -> list[NotificationView]:
        """Newest first."""
        query = select(Notification).where(Notification.user_id == uuid.UUID(user_id))
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        async with self.sessions() as session:
            rows = await session.scalars(query.order_by(Notification.id.desc()).limit(limit))
            return [NotificationView(n.id, n.kind, n.data, n.created_at, n.read_at) for n in rows]

    async def unread_oldest_first(self, user_id: str, limit: int) -> list[NotificationView]:
        """What a screen catches up with when it connects, in the order it happened."""
        return list(reversed(await self.recent(user_id, unread_only=True, limit=limit)))

    async def mark_read(self, user_id: str, notification_id: int) -> None:
        """Idempotent; 404 if it is not this user's."""
        if not 1 <= notification_id <= MAX_NOTIFICATION_ID:
            # No row has such an id, and the database would refuse to compare with one beyond 64 bits.
            raise NotFound.named(f"notification {notification_id}")
        async with self.sessions() as session, session.begin():
            # A read then a write: on SQLite the transaction must hold the write lock from its start
            # (BEGIN IMMEDIATE). Begun deferred, its read snapshot could not be upgraded while scoring
            # writes, and SQLite refuses that at once ("database is locked"), busy timeout or not.
            await begin_write(session)
            found = await session.scalar(
                select(Notification.id).where(
                    Notification.id == notification_id, Notification.user_id == uuid.UUID(user_id)
                )
            )
            if found is None:
                raise NotFound.named(f"notification {notification_id}")
            await session.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.read_at.is_(None))
                .values(read_at=utcnow())
            )
