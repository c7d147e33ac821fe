"""The database reads topic documents are built from: users, teams and their current members, a user's
earned badges, and the leaderboard totals the database ranks (embedded, and for the HTTP reads).

Reads only: the locks that make them consistent with a stream position are `server.services.topics.locks`,
the documents they feed are built by `server.services.topics.documents`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from game import Engine
from game.periods import period_bounds
from game.state import MILLI
from persistence.models import (
    BadgeAward,
    LedgerEntry,
    MetricEventRow,
    Team,
    TeamMembership,
    User,
    UserStateRow,
)
from server.services.topics.documents import LEADERBOARD_SIZE, Score, TeamMember, number


async def find_user(session: AsyncSession, user_id: str) -> User | None:
    """The user ``user_id`` names, if it is the canonical spelling of an existing user's id."""
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    # Only the canonical spelling names a user: one user, one topic.
    return None if str(key) != user_id else await session.get(User, key)


async def find_team(session: AsyncSession, slug: str) -> Team | None:
    return await session.scalar(select(Team).where(Team.slug == slug))


async def earned_badges(session: AsyncSession, user_id: uuid.UUID) -> Sequence[BadgeAward]:
    """The user's badges not revoked, in the order they were earned."""
    return (
        await session.scalars(
            select(BadgeAward)
            .where(BadgeAward.user_id == user_id, BadgeAward.revoked_at.is_(None))
            .order_by(BadgeAward.earned_at, BadgeAward.id)
        )
    ).all()


async def team_members(
    session: AsyncSession,
    engine: Engine,
    team_ids: Sequence[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, list[TeamMember]]:
    """The current members of each team as its document shows them (``weekly_xp``: the UTC week containing
    ``now``), in three queries however many teams."""
    members: dict[uuid.UUID, list[TeamMember]] = {team_id: [] for team_id in team_ids}
    query = (
        select(TeamMembership.team_id, User.id, User.handle, User.display_name, TeamMembership.joined_at)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(TeamMembership.team_id.in_(list(members)), TeamMembership.left_at.is_(None))
    )
    rows = (await session.execute(query)).all()
    user_ids = sorted({row.id for row in rows})
    if not user_ids:
        return members
    xp_rows = await session.execute(
        select(UserStateRow.user_id, UserStateRow.xp).where(UserStateRow.user_id.in_(user_ids))
    )
    xp = dict(xp_rows.all())
    start, end = period_bounds("weekly", now, engine.rules.week_starts)
    assert start is not None
    assert end is not None
    weekly_rows = await session.execute(
        select(LedgerEntry.user_id, func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.user_id.in_(user_ids), LedgerEntry.created_at >= start, LedgerEntry.created_at < end
        )
        .group_by(LedgerEntry.user_id)
    )
    weekly = dict(weekly_rows.all())
    for row in rows:
        members[row.team_id].append(
            TeamMember(
                user_id=str(row.id),
                handle=row.handle,
                display_name=row.display_name,
                xp=int(xp.get(row.id) or 0),
                weekly_xp=int(weekly.get(row.id) or 0),
                joined_at=row.joined_at,
            )
        )
    return members


async def team_members_of(
    session: AsyncSession, engine: Engine, slug: str, user_ids: Collection[uuid.UUID], now: datetime
) -> list[TeamMember]:
    """Those of ``user_ids`` who are current members of the team ``slug``, as its document shows them, in
    one statement (one snapshot): what a team document brought up to date member by member reads."""
    start, end = period_bounds("weekly", now, engine.rules.week_starts)
    ids = list(user_ids)
    weekly = (
        select(LedgerEntry.user_id, func.sum(LedgerEntry.amount).label("xp"))
        .where(LedgerEntry.user_id.in_(ids), LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
        .group_by(LedgerEntry.user_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            User.id,
            User.handle,
            User.display_name,
            TeamMembership.joined_at,
            UserStateRow.xp,
            weekly.c.xp.label("weekly_xp"),
        )
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .join(Team, Team.id == TeamMembership.team_id)
        .outerjoin(UserStateRow, UserStateRow.user_id == User.id)
        .outerjoin(weekly, weekly.c.user_id == User.id)
        .where(Team.slug == slug, TeamMembership.left_at.is_(None), TeamMembership.user_id.in_(ids))
    )
    return [
        TeamMember(
            user_id=str(row.id),
            handle=row.handle,
            display_name=row.display_name,
            xp=int(row.xp or 0),
            weekly_xp=int(row.weekly_xp or 0),
            joined_at=row.joined_at,
        )
        for row in rows
    ]


async def recently_changed_members(
    session: AsyncSession, since: datetime
) -> tuple[dict[str, set[str]], set[str]]:
    """What changed in team documents since ``since``: per team slug, its current members whose state
    changed (user ids); and the slugs of the teams a member joined or left (to reconcile their
    documents, `server.services.topics.live_documents`)."""
    scored = await session.execute(
        select(Team.slug, TeamMembership.user_id)
        .join(TeamMembership, TeamMembership.team_id == Team.id)
        .join(UserStateRow, UserStateRow.user_id == TeamMembership.user_id)
        .where(TeamMembership.left_at.is_(None), UserStateRow.updated_at >= since)
    )
    members: dict[str, set[str]] = {}
    for slug, user_id in scored:
        members.setdefault(slug, set()).add(str(user_id))
    moved = await session.scalars(
        select(Team.slug)
        .join(TeamMembership, TeamMembership.team_id == Team.id)
        .where((TeamMembership.joined_at >= since) | (TeamMembership.left_at >= since))
    )
    return members, set(moved)


def board_totals(board: str, bounds: tuple[datetime | None, datetime | None]) -> Select[Any]:
    """Each enabled user's total on ``board`` within ``bounds`` (``member``, ``score``: XP, or whole
    thousandths of the metric), as the embedded leaderboard snapshot counts them: one row per member."""
    if board == "xp":
        score: Any = func.sum(LedgerEntry.amount)
        source: Any = LedgerEntry
        when: Any = LedgerEntry.created_at  # XP counts when it was awarded (the ledger's time)
        owner: Any = LedgerEntry.user_id
        extra = []
    else:
        # Sums of whole thousandths are exact: 0.1 + 0.2 ties with 0.3.
        score = func.sum(sql_cast(func.round(MetricEventRow.value * MILLI), BigInteger))
        source = MetricEventRow
        when = MetricEventRow.occurred_at  # metrics count when the work happened
        owner = MetricEventRow.user_id
        extra = [MetricEventRow.metric == board]
    totals = (
        select(owner.label("member"), score.label("score"))
        .select_from(source)
        .join(User, User.id == owner)
        .where(User.disabled_at.is_(None), *extra)
        .group_by(owner)
    )
    start, end = bounds
    if start is not None and end is not None:
        totals = totals.where(when >= start, when < end)
    return totals


def board_score(board: str, total: Any) -> int | float:
    """A `board_totals` score in the board's unit (XP, or the metric's value)."""
    return int(total or 0) if board == "xp" else number(int(total or 0) / MILLI)


async def top_scores(
    session: AsyncSession, board: str, bounds: tuple[datetime | None, datetime | None]
) -> tuple[int, list[Score]]:
    """How many members `board_totals` ranks within ``bounds``, and the top `LEADERBOARD_SIZE` of them
    (by score, highest first, then member id) with their display names."""
    ranked_totals = board_totals(board, bounds).subquery()
    ranked = int(await session.scalar(select(func.count()).select_from(ranked_totals)) or 0)
    top = await session.execute(
        select(ranked_totals.c.member, User.display_name, ranked_totals.c.score)
        .join(User, User.id == ranked_totals.c.member)
        .order_by(ranked_totals.c.score.desc(), ranked_totals.c.member)
        .limit(LEADERBOARD_SIZE)
    )
    return ranked, [
        Score(str(member), display_name, board_score(board, total)) for member, display_name, total in top
    ]


__all__ = [
    "board_score",
    "board_totals",
    "earned_badges",
    "find_team",
    "find_user",
    "recently_changed_members",
    "team_members",
    "team_members_of",
    "top_scores",
]
