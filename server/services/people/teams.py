"""Teams and membership history (joined/left times, so contributions credit the team of the moment).

Live: with a relay, a change of a team (name, description, archiving) or of its members notes that
``team:{slug}`` changed and, once committed, hands that to the outbox relay, whose live documents push
the team's document recomputed whole
(`server.services.topics.live_documents`, PROTOCOL.md §9). Nothing is published inside the transaction
and no team lock is taken. A member joining or leaving first takes the member's state row (``FOR
SHARE``): a member's scoring and their membership change apply one after the other, so the one that
commits second sees the other, and scoring marks exactly the teams the member is in when it commits
(`server.services.scoring.live.changed_teams`).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine
from persistence.db import begin_write
from persistence.models import Team, TeamMembership, User, utcnow
from protocol import team_topic
from server.services.errors import Conflict, NotFound
from server.services.pagination import decode_cursor, encode_cursor
from server.services.scoring.rules import RulesService
from server.services.topics.live_documents import Changed
from server.services.topics.locks import lock_states, lock_teams
from server.services.topics.outbox_relay import OutboxRelay

log = logging.getLogger("gamif.teams")


@dataclass(frozen=True, slots=True)
class TeamView:
    team: Team
    members: int


@dataclass(frozen=True, slots=True)
class Member:
    handle: str
    display_name: str
    joined_at: datetime


class _Live:
    """A team change's live part: the team whose document it changed, told after the commit."""

    def __init__(self, service: TeamsService, session: AsyncSession, engine: Engine | None) -> None:
        self.service, self.session, self.engine = service, session, engine
        self.changed: list[Changed] = []

    async def lock(self, team: Team, user_id: uuid.UUID | None = None) -> Team:
        """Lock the member's state row (if any), so that the member's scoring and this change apply one
        after the other (see the module docstring), then the team's row, so that changes of one team
        (an archive, a new member) apply one after the other; the team as committed (re-read). Nothing
        is published while they are held."""
        if self.engine is None or self.service.relay is None:
            return team
        if user_id is not None:
            await lock_states(self.session, [user_id], self.engine.version)
        (team,) = await lock_teams(self.session, [team.id], read=False)
        return team

    async def publish(self, team: Team) -> None:
        """Note that the team's document changed (pushed once the transaction has committed)."""
        if self.service.relay is None:
            return
        self.changed = [Changed(team_topic(team.slug))]


class TeamsService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: RulesService | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.rules = rules
        self.clock = clock
        self.relay: OutboxRelay | None = None
        """Where team changes go live (set by the app once the hub is open; needs ``rules``)."""

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
                raise Conflict(f"team {slug!r} already exists")
            team = Team(slug=slug, name=name, description=description)
            session.add(team)
            try:
                await session.flush()
            except IntegrityError:
                raise Conflict(f"team {slug!r} already exists") from None
        return TeamView(team, 0)

    async def update(self, slug: str, name: str | None, description: str | None) -> TeamView:
        async with self._writing() as (session, live):
            team = await live.lock(await self._team(session, slug))
            if team.archived_at is not None:
                raise Conflict(f"team {slug!r} is archived")
            if name is not None:
                team.name = name
            if description is not None:
                team.description = description
            await live.publish(team)
            counts = await self._member_counts(session, [team.id])
        return TeamView(team, counts.get(team.id, 0))

    async def archive(self, slug: str) -> TeamView:
        async with self._writing() as (session, live):
            team = await live.lock(await self._team(session, slug))
            if team.archived_at is None:
                team.archived_at = self.clock()
            await live.publish(team)
            counts = await self._member_counts(session, [team.id])
        return TeamView(team, counts.get(team.id, 0))

    async def add_member(self, slug: str, handle: str) -> None:
        async with self._writing() as (session, live):
            team = await self._team(session, slug)
            if team.archived_at is not None:
                raise Conflict(f"team {slug!r} is archived")
            user = await session.scalar(select(User).where(User.handle == handle))
            if user is None:
                raise NotFound.named(f"user {handle!r}")
            team = await live.lock(team, user.id)
            if team.archived_at is not None:
                raise Conflict(f"team {slug!r} is archived")
            current = await session.scalar(
                select(TeamMembership.id).where(
                    TeamMembership.team_id == team.id,
                    TeamMembership.user_id == user.id,
                    TeamMembership.left_at.is_(None),
                )
            )
            if current is None:  # adding a member twice is a no-op, not an error (PUT is idempotent)
                session.add(TeamMembership(team_id=team.id, user_id=user.id, joined_at=self.clock()))
                await live.publish(team)

    async def remove_member(self, slug: str, handle: str) -> None:
        async with self._writing() as (session, live):
            team = await self._team(session, slug)
            missing = NotFound.named(f"a current membership of {handle!r} in {slug!r}")
            user_id = await session.scalar(select(User.id).where(User.handle == handle))
            if user_id is None:
                raise missing
            team = await live.lock(team, user_id)
            membership = await session.scalar(
                select(TeamMembership).where(
                    TeamMembership.team_id == team.id,
                    TeamMembership.user_id == user_id,
                    TeamMembership.left_at.is_(None),
                )
            )
            if membership is None:
                raise missing
            membership.left_at = self.clock()
            await live.publish(team)

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[tuple[AsyncSession, _Live]]:
        """A write transaction; once it has committed, its live change goes out (a failed one wrote none)."""
        # The rules are read first, on a connection of their own: read inside the transaction, they
        # would need a second pooled connection while holding one, and enough concurrent changes
        # would starve the pool (every request holding one, waiting for another).
        engine = await self.rules.engine() if self.rules is not None and self.relay is not None else None
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            live = _Live(self, session, engine)
            yield session, live
        if self.relay is not None:
            await self.relay.publish_committed((), live.changed)

    @staticmethod
    async def _team(session: AsyncSession, slug: str) -> Team:
        team = await session.scalar(select(Team).where(Team.slug == slug))
        if team is None:
            raise NotFound.named(f"team {slug!r}")
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
