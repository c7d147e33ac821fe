"""Team challenges, as admins define and edit them (the lifecycle tasks move their states later).

A definition is validated in three layers: its shape (pydantic, `game.challenges.ChallengeDefinition`),
the rules (`game.challenges.check`: metrics and badges exist), and the world (teams exist and are active,
the window has not already ended). All of a layer's problems are reported at once, each at its field.

Edits are optimistic: each names the version it was made from, and a stale one is refused (409), so two
admins cannot overwrite each other silently. What may change depends on the state: anything but the id
while scheduled; once live only what does not change the scores so far (name, description, rewards,
completion_reward, and ends_at, later only); nothing once finished.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from game.challenges import ChallengeDefinition, check
from persistence.db import begin_write
from persistence.models import Challenge, Team, utcnow
from server.services.errors import Conflict, FieldIssue, Invalid, NotFound
from server.services.pagination import bad_cursor, decode_cursor, encode_cursor
from server.services.scoring.rules import RulesService
from server.services.validation import validated

SCHEDULED, LIVE, CLOSING, FINISHED = "scheduled", "live", "closing", "finished"
LIVE_EDITABLE = frozenset({"name", "description", "rewards", "completion_reward", "ends_at"})
"""What a live challenge may still change: nothing that would change the scores already counted."""


@dataclass(frozen=True, slots=True)
class ChallengeView:
    row: Challenge
    definition: ChallengeDefinition
    state: str
    """The stored state, except "closing": live, and past its end (within its grace period)."""


class ChallengesService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: RulesService,
        *,
        clock: Callable[[], datetime] = utcnow,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.rules = rules
        self.clock = clock
        self.wake = wake
        """Called after a create or an edit commits: the lifecycle clock may have a nearer boundary now
        (`challenge_lifecycle`). Must not block or raise."""

    async def create(self, definition: ChallengeDefinition, created_by: uuid.UUID | None) -> ChallengeView:
        # The rules are read on a connection of their own, before the write transaction takes one.
        rules = await self.rules.rules()
        taken = Conflict(f"challenge {definition.id!r} already exists")
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            if await session.get(Challenge, definition.id) is not None:
                raise taken
            problems = [_problem(p.field, p.message, "unknown") for p in check(definition, rules)]
            problems += await self._teams_problems(session, definition)
            problems += self._window_problems(definition)
            _refuse(problems)
            row = Challenge(
                id=definition.id,
                definition=definition.model_dump(mode="json"),
                state=SCHEDULED,
                starts_at=definition.starts_at,
                ends_at=definition.ends_at,
                version=1,
                created_by=created_by,
                created_at=self.clock(),
            )
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:  # created meanwhile by another request
                raise taken from None
        self._wake_clock()
        return self._view(row)

    async def get(self, challenge_id: str) -> ChallengeView:
        async with self.sessions() as session:
            row = await session.get(Challenge, challenge_id)
        if row is None:
            raise NotFound.named(f"challenge {challenge_id!r}")
        return self._view(row)

    async def page(
        self, cursor: str | None, limit: int, state: str | None
    ) -> tuple[list[ChallengeView], str | None]:
        """Newest first by start (ties by id, descending); ``state`` may be the derived "closing"."""
        statement = (
            select(Challenge).order_by(Challenge.starts_at.desc(), Challenge.id.desc()).limit(limit + 1)
        )
        after = _decode_position(cursor)
        if after is not None:
            starts_at, challenge_id = after
            statement = statement.where(
                or_(
                    Challenge.starts_at < starts_at,
                    and_(Challenge.starts_at == starts_at, Challenge.id < challenge_id),
                )
            )
        if state is not None:
            statement = statement.where(self._state_is(state))
        async with self.sessions() as session:
            rows = list(await session.scalars(statement))
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = encode_cursor(f"{last.starts_at.isoformat()}|{last.id}")
        return [self._view(row) for row in page], next_cursor

    async def update(self, challenge_id: str, version: int, changes: dict[str, Any]) -> ChallengeView:
        """Apply ``changes`` (JSON fields of the definition) to the challenge, made from ``version``."""
        rules = await self.rules.rules()
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            row = await session.scalar(
                select(Challenge).where(Challenge.id == challenge_id).with_for_update()
            )
            if row is None:
                raise NotFound.named(f"challenge {challenge_id!r}")
            if version != row.version:
                raise Conflict(
                    f"challenge {challenge_id!r} was edited meanwhile: version {row.version} is current"
                )
            if row.state == FINISHED:
                raise Conflict(f"challenge {challenge_id!r} is finished: it can no longer be edited")
            before = ChallengeDefinition.model_validate(row.definition)
            after = validated(ChallengeDefinition, row.definition | changes, "body")
            changed = {name for name in changes if getattr(after, name) != getattr(before, name)}
            if not changed:
                return self._view(row)  # nothing to change: no new version either
            problems = self._state_problems(row.state, before, after, changed)
            # What did not change is not judged again: the rules, the teams and the clock may have
            # moved since it was accepted, and an edit of the name should not fail for that.
            problems += [
                _problem(p.field, p.message, "unknown")
                for p in check(after, rules)
                if p.field.split(".")[0] in changed
            ]
            if "teams" in changed:
                problems += await self._teams_problems(session, after)
            if "ends_at" in changed:
                problems += self._window_problems(after)
            _refuse(problems)
            row.definition = after.model_dump(mode="json")
            row.starts_at, row.ends_at = after.starts_at, after.ends_at
            row.version += 1
        self._wake_clock()
        return self._view(row)

    def _wake_clock(self) -> None:
        if self.wake is not None:
            self.wake()

    # -- validation against the state and the world ------------------------------------------------

    @staticmethod
    def _state_problems(
        state: str, before: ChallengeDefinition, after: ChallengeDefinition, changed: Collection[str]
    ) -> list[FieldIssue]:
        if "id" in changed:  # the route refuses it already; the service keeps the guarantee
            return [_problem("id", "cannot change: it names the challenge's topic and URLs", "locked")]
        if state != LIVE:
            return []
        problems = [
            _problem(name, "cannot change once the challenge is live", "locked")
            for name in sorted(changed)
            if name not in LIVE_EDITABLE
        ]
        if "ends_at" in changed and after.ends_at < before.ends_at:
            message = f"may only move later once the challenge is live (now {before.ends_at.isoformat()})"
            problems.append(_problem("ends_at", message, "locked"))
        return problems

    async def _teams_problems(
        self, session: AsyncSession, definition: ChallengeDefinition
    ) -> list[FieldIssue]:
        if definition.teams is None:
            return []
        rows = await session.execute(
            select(Team.slug, Team.archived_at).where(Team.slug.in_(definition.teams))
        )
        archived = {slug: archived_at is not None for slug, archived_at in rows}
        problems = []
        for index, slug in enumerate(definition.teams):
            if slug not in archived:
                problems.append(_problem(f"teams.{index}", f"unknown team {slug!r}", "unknown_team"))
            elif archived[slug]:
                problems.append(_problem(f"teams.{index}", f"team {slug!r} is archived", "archived_team"))
        return problems

    def _window_problems(self, definition: ChallengeDefinition) -> list[FieldIssue]:
        if definition.ends_at <= self.clock():
            return [_problem("ends_at", "already past: the window would be over before it began", "past")]
        return []

    # -- reading -----------------------------------------------------------------------------------

    def _state_is(self, state: str) -> ColumnElement[bool]:
        now = self.clock()
        if state == LIVE:
            return and_(Challenge.state == LIVE, Challenge.ends_at > now)
        if state == CLOSING:
            return and_(Challenge.state == LIVE, Challenge.ends_at <= now)
        return Challenge.state == state

    def _view(self, row: Challenge) -> ChallengeView:
        definition = ChallengeDefinition.model_validate(row.definition)
        state = CLOSING if row.state == LIVE and self.clock() >= definition.ends_at else row.state
        return ChallengeView(row, definition, state)


def _problem(field: str, message: str, code: str) -> FieldIssue:
    return FieldIssue(field=field, message=message, code=code)


def _refuse(problems: list[FieldIssue]) -> None:
    if problems:
        fields = ", ".join(dict.fromkeys(p.field for p in problems))
        raise Invalid(f"invalid challenge: {fields}", problems)


def _decode_position(cursor: str | None) -> tuple[datetime, str] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    starts_at, _, challenge_id = position.partition("|")
    try:
        when = datetime.fromisoformat(starts_at)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or not challenge_id:
        raise bad_cursor()
    return when, challenge_id
