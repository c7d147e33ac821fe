"""The database side of the leaderboards: team membership at a moment, and every award, for `rebuild`."""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import AsyncIterator, Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import LedgerEntry, MetricEventRow, Team, TeamMembership

from .layout import XP_BOARD
from .plan import Award

CHUNK = 5_000


class TeamHistory:
    """Who belonged to which team when, from ``team_memberships``: a membership counts from ``joined_at``
    (included) to ``left_at`` (excluded; open while None). Archiving a team does not end its memberships.

    A caller that records awards builds their ``teams`` with `teams_at`, as `rebuild` does."""

    def __init__(self, memberships: Iterable[tuple[str, str, datetime, datetime | None]]) -> None:
        """``memberships``: (user id, team slug, joined_at, left_at) rows."""
        self._spans: dict[str, list[tuple[datetime, datetime | None, str]]] = {}
        for user_id, slug, joined, left in memberships:
            self._spans.setdefault(user_id, []).append((joined, left, slug))
        for spans in self._spans.values():
            spans.sort(key=lambda span: span[0])

    @classmethod
    async def load(cls, session: AsyncSession, user_ids: Iterable[str] | None = None) -> TeamHistory:
        """The memberships of ``user_ids`` (all users when None)."""
        statement = select(
            TeamMembership.user_id, Team.slug, TeamMembership.joined_at, TeamMembership.left_at
        ).join(Team, Team.id == TeamMembership.team_id)
        if user_ids is not None:
            statement = statement.where(TeamMembership.user_id.in_({uuid.UUID(u) for u in user_ids}))
        rows = await session.execute(statement)
        return cls((str(user_id), slug, joined, left) for user_id, slug, joined, left in rows)

    def teams_at(self, user_id: str, moment: datetime) -> tuple[str, ...]:
        """The slugs of the teams ``user_id`` belonged to at ``moment``, sorted."""
        spans = self._spans.get(user_id, ())
        # Only memberships that began by `moment` can contain it (spans are sorted by joined_at).
        began = spans[: bisect_right(spans, moment, key=lambda span: span[0])]
        return tuple(sorted({slug for _, left, slug in began if left is None or moment < left}))


async def count_rows(session: AsyncSession) -> tuple[int, int]:
    """How many ledger lines and metric events there are (for progress reports)."""
    ledger = await session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.amount != 0)
    )
    events = await session.scalar(select(func.count()).select_from(MetricEventRow))
    return int(ledger or 0), int(events or 0)


async def xp_awards(session: AsyncSession, history: TeamHistory) -> AsyncIterator[list[Award]]:
    """Every XP award of the ledger, in chunks: it counts when it was awarded (``created_at``)."""
    result = await session.stream(
        select(LedgerEntry.user_id, LedgerEntry.amount, LedgerEntry.created_at)
        .where(LedgerEntry.amount != 0)
        .execution_options(yield_per=CHUNK)
    )
    async for rows in result.partitions():
        chunk = []
        for user_id, amount, created_at in rows:
            user = str(user_id)
            chunk.append(Award(user, XP_BOARD, amount, created_at, history.teams_at(user, created_at)))
        yield chunk


async def metric_awards(session: AsyncSession, history: TeamHistory) -> AsyncIterator[list[Award]]:
    """Every metric event as an award on its metric's board: it counts when the work happened."""
    result = await session.stream(
        select(
            MetricEventRow.user_id, MetricEventRow.metric, MetricEventRow.value, MetricEventRow.occurred_at
        ).execution_options(yield_per=CHUNK)
    )
    async for rows in result.partitions():
        chunk = []
        for user_id, metric, value, occurred_at in rows:
            user = str(user_id)
            chunk.append(Award(user, metric, value, occurred_at, history.teams_at(user, occurred_at)))
        yield chunk
