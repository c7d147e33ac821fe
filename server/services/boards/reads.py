"""Leaderboards over HTTP: a page of a board's ranking, the rows around one user, and team standings.

A board's ranking comes from where its ``leaderboard:{board}:{period}`` topic takes its document, so
the two agree on ranks and scores:

- on Redis (the hub has `LiveBoards`): the Redis boards (`persistence.leaderboards.Leaderboards`), the
  rows the topic's document is made of (ties broken by who reached the score first, disabled users
  listed);
- embedded: the database totals of the embedded snapshot (`server.services.topics.rows.board_totals`),
  ranked the way `server.services.topics.documents.leaderboard_document` ranks them (score, highest
  first, then member id; competition ranks), but over the whole board, not only its top 100.

Team standings are the ``team:{slug}`` documents' ``totals``
(`server.services.topics.rows.team_members`), for every team that is not archived, read in one go.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game.periods import period_bounds
from persistence.leaderboards import Page as RedisPage
from persistence.leaderboards import Period
from persistence.models import Team, User
from server.services.errors import NotFound
from server.services.topics.directory import TopicDirectory
from server.services.topics.refused import TopicRefused
from server.services.topics.rows import board_score, board_totals, team_members

TeamPeriod = Literal["weekly", "all_time"]


@dataclass(frozen=True, slots=True)
class BoardRow:
    rank: int
    """Competition rank (1, 2, 2, 4), as the topic's document shows it."""
    member: str
    handle: str
    display_name: str
    score: int | float


@dataclass(frozen=True, slots=True)
class BoardView:
    board: str
    period: Period
    start: datetime | None
    end: datetime | None
    ranked: int
    rows: list[BoardRow]
    me: BoardRow | None = None
    """With ``around``: that user's row (None when the user has no score on the board)."""


@dataclass(frozen=True, slots=True)
class TeamStanding:
    rank: int
    slug: str
    name: str
    members: int
    score: int


@dataclass(frozen=True, slots=True)
class _Ranked:
    """A row before names: its place in the tie-broken order (1-based) and its competition rank."""

    member: str
    score: int | float
    rank: int
    position: int


class LeaderboardReads:
    """Reads boards as the hub's topic directory does; built per request from the app's live services."""

    def __init__(self, directory: TopicDirectory) -> None:
        self.directory = directory
        self.sessions = directory.sessions

    # -- user boards -------------------------------------------------------------------------------

    async def page(self, board: str, period: Period, offset: int, limit: int) -> BoardView:
        """Rows ``offset`` to ``offset + limit - 1`` (0-based places in the ranking) of the board."""
        await self._check(board)
        if self.directory.boards is not None:
            page = await self.directory.boards.leaderboards.top(board, period, offset=offset, limit=limit)
            return await self._from_redis(page, period)
        start, end, ranked, rows = await self._from_database(
            board, period, first=offset + 1, last=offset + limit
        )
        return BoardView(board, period, start, end, ranked, await self._named(rows))

    async def around(
        self, board: str, period: Period, handle: str | None, user_id: str, radius: int
    ) -> BoardView:
        """The rows of the user (``handle``, or the caller ``user_id`` when None) and up to ``radius`` rows
        above and below it; no rows when the user has no score on the board."""
        await self._check(board)
        member = user_id if handle is None else await self._user_of(handle)
        if self.directory.boards is not None:
            page = await self.directory.boards.leaderboards.around(board, period, member, radius)
            view = await self._from_redis(page, period)
        else:
            start, end, ranked, rows = await self._from_database(board, period, around=(member, radius))
            view = BoardView(board, period, start, end, ranked, await self._named(rows))
        me = next((row for row in view.rows if row.member == member), None)
        return BoardView(view.board, period, view.start, view.end, view.ranked, view.rows, me)

    async def _check(self, board: str) -> None:
        try:
            await self.directory.board_rules(board)
        except TopicRefused:
            raise NotFound.named(
                f"leaderboard {board!r} (boards are xp and the metrics of the rules)"
            ) from None

    async def _user_of(self, handle: str) -> str:
        async with self.sessions() as session:
            user_id = await session.scalar(select(User.id).where(User.handle == handle))
        if user_id is None:
            raise NotFound.named(f"user {handle!r}")
        return str(user_id)

    async def _from_redis(self, page: RedisPage, period: Period) -> BoardView:
        rows = [_Ranked(row.member, row.score, row.rank, row.position) for row in page.rows]
        span = page.span
        return BoardView(page.board, period, span.start, span.end, page.ranked, await self._named(rows))

    async def _from_database(
        self,
        board: str,
        period: Period,
        *,
        first: int = 1,
        last: int = 0,
        around: tuple[str, int] | None = None,
    ) -> tuple[datetime | None, datetime | None, int, list[_Ranked]]:
        """The embedded snapshot's totals, ranked over the whole board: places ``first`` to ``last``, or
        the member's and ``radius`` on either side (``around``)."""
        rules = await self.directory.board_rules(board)
        bounds = period_bounds(period, self.directory.clock(), rules.week_starts)
        totals = board_totals(board, bounds).subquery()
        order = (totals.c.score.desc(), totals.c.member)
        ranking = select(
            totals.c.member,
            totals.c.score,
            func.rank().over(order_by=totals.c.score.desc()).label("rank"),
            func.row_number().over(order_by=order).label("position"),
        ).subquery()
        async with self.sessions() as session:
            ranked = int(await session.scalar(select(func.count()).select_from(totals)) or 0)
            if around is not None:
                member, radius = around
                mine = await session.scalar(
                    select(ranking.c.position).where(ranking.c.member == uuid.UUID(member))
                )
                if mine is None:
                    return bounds[0], bounds[1], ranked, []
                first, last = max(1, int(mine) - radius), int(mine) + radius
            result = await session.execute(
                select(ranking.c.member, ranking.c.score, ranking.c.rank, ranking.c.position)
                .where(ranking.c.position >= first, ranking.c.position <= last)
                .order_by(ranking.c.position)
            )
            rows = [
                _Ranked(str(member), board_score(board, score), int(rank), int(position))
                for member, score, rank, position in result
            ]
        return bounds[0], bounds[1], ranked, rows

    async def _named(self, rows: Sequence[_Ranked]) -> list[BoardRow]:
        names = await _names(self.sessions, (row.member for row in rows))
        return [
            BoardRow(row.rank, row.member, *names.get(row.member, (row.member, row.member)), row.score)
            for row in rows
        ]

    # -- teams -------------------------------------------------------------------------------------

    async def teams(self, period: TeamPeriod) -> list[TeamStanding]:
        """Teams that are not archived, by their members' total XP (``weekly``: this UTC week, as the team
        document's ``weekly_xp``), then slug; competition ranks."""
        engine = await self.directory.rules.engine()
        now = self.directory.clock()
        async with self.sessions() as session:
            teams = list(
                await session.scalars(select(Team).where(Team.archived_at.is_(None)).order_by(Team.slug))
            )
            members = await team_members(session, engine, [team.id for team in teams], now)
        scored = []
        for team in teams:
            shown = members[team.id]
            score = sum(m.weekly_xp if period == "weekly" else m.xp for m in shown)
            scored.append((score, team, len(shown)))
        scored.sort(key=lambda item: (-item[0], item[1].slug))
        standings: list[TeamStanding] = []
        for index, (score, team, count) in enumerate(scored):
            tied = standings and standings[-1].score == score
            rank = standings[-1].rank if tied else index + 1
            standings.append(TeamStanding(rank, team.slug, team.name, count, score))
        return standings


async def _names(
    sessions: async_sessionmaker[AsyncSession], members: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """member id -> (handle, display name)."""
    ids = {uuid.UUID(m) for m in members}
    if not ids:
        return {}
    async with sessions() as session:
        rows = await session.execute(select(User.id, User.handle, User.display_name).where(User.id.in_(ids)))
        return {str(user_id): (handle, name) for user_id, handle, name in rows}


__all__ = ["BoardRow", "BoardView", "LeaderboardReads", "TeamPeriod", "TeamStanding"]
