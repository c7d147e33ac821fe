"""Teams and membership history (joined/left times, so contributions credit the team of the moment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import begin_write
from persistence.models import Team, TeamMembership, User, utcnow
from server.api.problems import conflict, not_found

from .pagination import decode_cursor, encode_cursor


@dataclass(frozen=True, slots=True)
class TeamView:
    team: Team
    members: int


@dataclass(frozen=True, slots=True)
class Member:
    handle: str
    display_name: str
    joined_at: datetime


class TeamsService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def page(
        self, cursor: str | None, limit: int, include_archived: bool
    ) -> tuple[list[TeamView], str | None]:
        after = decode_cursor(cursor)
        statement = select(Team).order_by(Team.slug).limit(limit + 1)
        if after is not None:
            statement = statement.where(Team.slug > after)
        if not include_archived:
            statement = statement.where(Team.archived_at.is_(None))
        async with self.sessions() as session:
            teams = list(await session.scalars(statement))
            counts = await self._member_counts(session, [t.id for t in teams[:limit]])
        page = teams[:limit]
        next_cursor = encode_cursor(page[-1].slug) if len(teams) > limit else None
        return [TeamView(t, counts.get(t.id, 0)) for t in page], next_cursor

    async def get(self, slug: str) -> tuple[TeamView, list[Member]]:
        async with self.sessions() as session:
            team = await self._team(session, slug)
            rows = await session.execute(
                select(User.handle, User.display_name, TeamMembership.joined_at)
                .join(TeamMembership, TeamMembership.user_id == User.id)
                .where(TeamMembership.team_id == team.id, TeamMembership.left_at.is_(None))
                .order_by(User.handle)
            )
            members = [Member(*row) for row in rows]
        return TeamView(team, len(members)), members

    async def create(self, slug: str, name: str, description: str) -> TeamView:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            if await session.scalar(select(Team.id).where(Team.slug == slug)) is not None:
                raise conflict(f"team {slug!r} already exists")
            team = Team(slug=slug, name=name, description=description)
            session.add(team)
            try:
                await session.flush()
            except IntegrityError:
                raise conflict(f"team {slug!r} already exists") from None
        return TeamView(team, 0)

    async def update(self, slug: str, name: str | None, description: str | None) -> TeamView:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            team = await self._team(session, slug)
            if team.archived_at is not None:
                raise conflict(f"team {slug!r} is archived")
            if name is not None:
                team.name = name
            if description is not None:
                team.description = description
            counts = await self._member_counts(session, [team.id])
        return TeamView(team, counts.get(team.id, 0))

    async def archive(self, slug: str) -> TeamView:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            team = await self._team(session, slug)
            if team.archived_at is None:
                team.archived_at = utcnow()
            counts = await self._member_counts(session, [team.id])
        return TeamView(team, counts.get(team.id, 0))

    async def add_member(self, slug: str, handle: str) -> None:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            team = await self._team(session, slug)
            if team.archived_at is not None:
                raise conflict(f"team {slug!r} is archived")
            user = await session.scalar(select(User).where(User.handle == handle))
            if user is None:
                raise not_found(f"user {handle!r}")
            current = await session.scalar(
                select(TeamMembership.id).where(
                    TeamMembership.team_id == team.id,
                    TeamMembership.user_id == user.id,
                    TeamMembership.left_at.is_(None),
                )
            )
            if current is None:  # adding a member twice is a no-op, not an error (PUT is idempotent)
                session.add(TeamMembership(team_id=team.id, user_id=user.id, joined_at=utcnow()))

    async def remove_member(self, slug: str, handle: str) -> None:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            team = await self._team(session, slug)
            membership = await session.scalar(
                select(TeamMembership)
                .join(User, User.id == TeamMembership.user_id)
                .where(
                    TeamMembership.team_id == team.id, User.handle == handle, TeamMembership.left_at.is_(None)
                )
            )
            if membership is None:
                raise not_found(f"a current membership of {handle!r} in {slug!r}")
            membership.left_at = utcnow()

    @staticmethod
    async def _team(session: AsyncSession, slug: str) -> Team:
        team = await session.scalar(select(Team).where(Team.slug == slug))
        if team is None:
            raise not_found(f"team {slug!r}")
        return team

    @staticmethod
    async def _member_counts(session: AsyncSession, team_ids: list[object]) -> dict[object, int]:
        if not team_ids:
            return {}
        rows = await session.execute(
            select(TeamMembership.team_id, func.count())
            .where(TeamMembership.team_id.in_(team_ids), TeamMembership.left_at.is_(None))
            .group_by(TeamMembership.team_id)
        )
        return {team_id: int(n) for team_id, n in rows}
