"""The row locks that order writers of one user or one team: a member's scoring and a change of their
memberships (users' state rows), two changes of one team (teams' rows). The lock order, the same for
every transaction so that none can deadlock: users' state rows, then teams' rows, each in id order. No
network call is made while they are held: live changes go out after the commit (the live outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import Team, UserStateRow


async def lock_states(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], rule_version: int
) -> dict[uuid.UUID, UserStateRow]:
    """The users' state rows, locked ``FOR SHARE`` in user-id order (the order writers lock them in).

    On PostgreSQL missing rows are inserted first: a user's first scoring inserts the row, then
    commits, and ``FOR SHARE`` does not wait for a row it cannot see yet, but an insert of the same key
    does. Inserting before locking anything keeps the lock order of the writers (insert, then lock), so
    the two cannot deadlock. (On SQLite the transaction holds the write lock already.)"""
    if not user_ids:
        return {}
    ids = sorted(set(user_ids))
    if session.get_bind().dialect.name == "postgresql":
        present = set(
            await session.scalars(select(UserStateRow.user_id).where(UserStateRow.user_id.in_(ids)))
        )
        missing = [{"user_id": u, "rule_version": rule_version, "state": {}} for u in ids if u not in present]
        if missing:
            await session.execute(
                pg_insert(UserStateRow).values(missing).on_conflict_do_nothing(index_elements=["user_id"])
            )
    locking = (
        select(UserStateRow)
        .where(UserStateRow.user_id.in_(ids))
        .order_by(UserStateRow.user_id)
        .with_for_update(read=True)
    )
    return {row.user_id: row for row in await session.scalars(locking)}


async def lock_teams(session: AsyncSession, team_ids: Iterable[uuid.UUID], *, read: bool) -> list[Team]:
    """The teams' rows, fresh from the database and locked in id order: ``FOR SHARE`` (``read``) or ``FOR
    NO KEY UPDATE`` on PostgreSQL (SQLite: the transaction's write lock). Writers lock users' rows before
    teams'. Not ``FOR UPDATE``: that also blocks the key-share lock a foreign key to the team takes (a
    scoring transaction writing a challenge score for the team), and two scoring batches of one team's
    members would deadlock; writers still exclude each other."""
    ids = sorted(set(team_ids))
    if not ids:
        return []
    locking = (
        select(Team)
        .where(Team.id.in_(ids))
        .order_by(Team.id)
        .with_for_update(read=read, key_share=not read)
        .execution_options(populate_existing=True)  # what was committed before the lock, not a cached row
    )
    return list(await session.scalars(locking))


__all__ = ["lock_states", "lock_teams"]
