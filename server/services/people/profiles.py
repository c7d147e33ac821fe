"""Read models: a user's own progress (/me), public profiles, and the explained XP ledger."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, UserState
from persistence.models import (
    BadgeAward,
    LedgerEntry,
    MissionProgressRow,
    Team,
    TeamMembership,
    User,
    UserStateRow,
    utcnow,
)
from persistence.scoring import load_state
from server.services.errors import NotFound
from server.services.pagination import decode_int_cursor, encode_cursor
from server.services.people import read_models as documents
from server.services.people.admin_users import has_real_email


def user_out(user: User, with_email: bool = False) -> documents.UserOut:
    return documents.UserOut(
        id=str(user.id),
        handle=user.handle,
        display_name=user.display_name,
        email=user.email if with_email and has_real_email(user.email) else None,
        timezone=user.timezone,
        avatar_url=user.avatar_url,
        role=user.role,
        created_at=user.created_at,
    )


class ProfilesService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def me(self, engine: Engine, user_id: str, now: datetime | None = None) -> documents.MeOut:
        now = now or utcnow()
        async with self.sessions() as session:
            user = await session.get(User, uuid.UUID(user_id))
            if user is None:
                raise NotFound.named("the user")
            state = await self._state(session, engine, user)
            badges = await self._badges(session, engine, user.id)
            teams = await self._teams(session, user.id)
            progress_rows = {
                (row.mission_id, row.period): row
                for row in await session.scalars(
                    select(MissionProgressRow).where(MissionProgressRow.user_id == user.id)
                )
            }
        rules = engine.rules
        missions = []
        for mission_id, mission in rules.missions.items():
            period = engine.mission_period(mission_id, now, user.timezone)
            if period is None:
                continue
            row = progress_rows.get((mission_id, period))
            missions.append(
                documents.MissionOut(
                    mission_id=mission_id,
                    name=mission.name,
                    period=period,
                    progress=row.progress if row else 0.0,
                    goal=mission.goal,
                    completed=bool(row and row.completed_at),
                    reward_xp=mission.reward_xp,
                )
            )
        return documents.MeOut(
            user=user_out(user, with_email=True),
            level=self._level(engine, state),
            badges=badges,
            locked_badges=self._locked(engine, state),
            streaks=self._streaks(engine, state, now),
            missions=missions,
            teams=teams,
            rule_version=engine.version,
        )

    async def profile(self, engine: Engine, handle: str, now: datetime | None = None) -> documents.ProfileOut:
        now = now or utcnow()
        async with self.sessions() as session:
            user = await session.scalar(select(User).where(User.handle == handle, User.disabled_at.is_(None)))
            if user is None:
                raise NotFound.named(f"user {handle!r}")
            state = await self._state(session, engine, user)
            badges = await self._badges(session, engine, user.id)
            teams = await self._teams(session, user.id)
        return documents.ProfileOut(
            handle=user.handle,
            display_name=user.display_name,
            avatar_url=user.avatar_url,
            level=self._level(engine, state),
            badges=badges,
            streaks=self._streaks(engine, state, now),
            teams=teams,
        )

    async def ledger(
        self, user_id: str, cursor: str | None, limit: int
    ) -> tuple[list[LedgerEntry], str | None]:
        """A page of the user's ledger, newest first, and the cursor of the next (None on the last)."""
        before = decode_int_cursor(cursor)
        statement = (
            select(LedgerEntry)
            .where(LedgerEntry.user_id == uuid.UUID(user_id))
            .order_by(LedgerEntry.id.desc())
            .limit(limit + 1)
        )
        if before is not None:
            statement = statement.where(LedgerEntry.id < before)
        async with self.sessions() as session:
            rows = list(await session.scalars(statement))
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
        return page, next_cursor

    # -- parts -------------------------------------------------------------------------------------

    @staticmethod
    async def _state(session: AsyncSession, engine: Engine, user: User) -> UserState:
        row = await session.get(UserStateRow, user.id)
        return load_state(engine, str(user.id), user.timezone, row.state if row else {})

    @staticmethod
    async def _badges(session: AsyncSession, engine: Engine, user_id: uuid.UUID) -> list[documents.BadgeOut]:
        rows = await session.scalars(
            select(BadgeAward)
            .where(BadgeAward.user_id == user_id, BadgeAward.revoked_at.is_(None))
            .order_by(BadgeAward.earned_at, BadgeAward.id)
        )
        badges = engine.rules.badges
        return [
            documents.BadgeOut(
                badge_id=row.badge_id,
                name=badges[row.badge_id].name if row.badge_id in badges else row.badge_id,
                tier=row.tier or None,
                period=row.period or None,
                secret=row.secret,
                earned_at=row.earned_at,
                explanation=row.explanation,
                summary=row.summary,
            )
            for row in rows
        ]

    @staticmethod
    async def _teams(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
        slugs = await session.scalars(
            select(Team.slug)
            .join(TeamMembership, TeamMembership.team_id == Team.id)
            .where(TeamMembership.user_id == user_id, TeamMembership.left_at.is_(None))
            .order_by(Team.slug)
        )
        return list(slugs)

    @staticmethod
    def _level(engine: Engine, state: UserState) -> documents.LevelOut:
        progress = engine.progress(state)
        return documents.LevelOut(
            level=progress.level,
            xp=progress.xp,
            level_xp=progress.level_xp,
            next_level_xp=progress.next_level_xp,
            progress=round(progress.fraction, 4),
        )

    @staticmethod
    def _locked(engine: Engine, state: UserState) -> list[documents.LockedBadgeOut]:
        locked = []
        for badge_id, badge in engine.rules.badges.items():
            have = state.badges.get(badge_id, 0)
            tiers = list(badge.tiers) if badge.tiers else None
            complete = have >= len(tiers or [None])
            if badge.secret and not have:
                continue  # hidden until earned
            if complete and badge.repeat is None:
                continue
            locked.append(
                documents.LockedBadgeOut(
                    badge_id=badge_id,
                    name=badge.name,
                    description=badge.description,
                    tiers=tiers,
                    earned_tiers=(tiers or [])[:have],
                )
            )
        return locked

    @staticmethod
    def _streaks(engine: Engine, state: UserState, now: datetime) -> list[documents.StreakOut]:
        return [
            documents.StreakOut(
                streak_id=streak_id,
                name=rule.name,
                current=engine.streak_as_of(state, streak_id, now),
                best=state.streaks[streak_id].best if streak_id in state.streaks else 0,
                freezes=rule.freezes,
            )
            for streak_id, rule in engine.rules.streaks.items()
        ]
