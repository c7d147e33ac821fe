"""The scoring service: a batch of metric events becomes stored events, ledger lines, badges,
mission progress and new user states, in one transaction, exactly once per event id.

How "exactly once" holds, also under concurrency:
1. events are inserted with ON CONFLICT DO NOTHING, in key order (so two transactions inserting
   overlapping batches wait on each other instead of deadlocking); only the rows this transaction
   inserted are scored, the rest are duplicates. An event's key is its id *scoped to its sender and
   user* (id, user, ``reported_by``): another sender's event of the same id is another event;
2. the affected users' state rows are then locked (SELECT ... FOR UPDATE on PostgreSQL, the database
   write lock on SQLite) in user-id order, so two batches of one user apply one after the other;
3. everything commits together, or nothing does.

Live screens: an optional ``before_commit`` hook runs inside the transaction once everything is written
(and flushed), while the users' rows are still locked, and sees each user's state before and after. The
server publishes its deltas from there, so that a topic's deltas are ordered as the states they describe
(the hook is a plain callable: this package knows nothing of the hub).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import BadgeEarned, Engine, MetricEvent, MissionProgressed, Outcome, UserState, XpAwarded

from .db import begin_write
from .models import utcnow
from .scoring_writes import EventKey, writes_for

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass(frozen=True, slots=True)
class Submission:
    """An event to score, its user resolved (`event.user_id` is the user's UUID as text)."""

    event: MetricEvent
    reported_by: str
    meta: dict[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None
    """When the API accepted it (default: the batch's time)."""


@dataclass(frozen=True, slots=True)
class EventStatus:
    id: str
    status: Status
    code: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class ScoreResult:
    statuses: list[EventStatus]
    """One per submission, in the order submitted."""
    outcomes: dict[str, Outcome]
    """Per user id, what the engine decided (for pushing to live screens)."""
    rule_version: int

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.statuses if s.status == "accepted")


BadgeRowKey = tuple[str, str, str]
"""A ``badges_earned`` row's identity within a user: ``(badge_id, tier, period)``, ``""`` for none."""


@dataclass(frozen=True, slots=True)
class ScoredUser:
    """One user's part of a scored batch, as the before-commit hook sees it."""

    user_id: str
    timezone: str
    before: UserState
    """The state before the batch (a new user's empty state if it had none)."""
    before_rule_version: int
    """The rule version ``before`` was scored with (``user_states.rule_version`` before this batch)."""
    outcome: Outcome
    """What the engine decided: the state after (``outcome.state``), scored with ``engine.version``."""
    new_badges: frozenset[BadgeRowKey]
    """The ``badges_earned`` rows this transaction inserted (an award the table already had is not one)."""
    events: tuple[MetricEvent, ...] = ()
    """The user's events this batch scored (accepted: not seen before), in event-id order."""


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """What a before-commit hook gets: the open transaction's session (reads see this batch's writes),
    the engine that scored, the batch's time (``received_at``, ``earned_at`` of its badges) and, by user
    id, each affected user."""

    session: AsyncSession
    engine: Engine
    now: datetime
    users: Mapping[str, ScoredUser]


BeforeCommit = Callable[[ScoredBatch], Awaitable[None]]
"""Runs inside the scoring transaction after its writes, the users' rows locked; raising rolls it back."""


class Scorer:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def score(
        self,
        engine: Engine,
        submissions: Sequence[Submission],
        now: datetime | None = None,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> ScoreResult:
        """Score a batch in one transaction. ``before_commit`` (if given) runs last inside it, when at least
        one event was accepted; an exception from it, or from the commit, propagates (nothing is written)."""
        received_at = now or utcnow()
        statuses: dict[int, EventStatus] = {}
        valid: dict[EventKey, tuple[int, Submission]] = {}
        for index, submission in enumerate(submissions):
            event = submission.event
            rejection = engine.check(event)
            key = event_key(submission)
            if rejection is not None:
                statuses[index] = EventStatus(event.id, "rejected", rejection.code, rejection.reason)
            elif key in valid:
                statuses[index] = EventStatus(
                    event.id, "duplicate", "duplicate_in_batch", "sent twice in this batch"
                )
            else:
                valid[key] = (index, submission)
        outcomes: dict[str, Outcome] = {}
        if valid:
            async with self.sessions() as session, session.begin():
                await begin_write(session)
                inserted = await self._insert_events(session, engine, valid, received_at)
                for key, (index, _) in valid.items():
                    if key not in inserted:
                        statuses[index] = EventStatus(key[0], "duplicate", "already_scored", "already scored")
                by_user: dict[str, list[MetricEvent]] = defaultdict(list)
                for key in sorted(inserted):
                    index, submission = valid[key]
                    by_user[submission.event.user_id].append(submission.event)
                    statuses[index] = EventStatus(key[0], "accepted")
                if by_user:
                    scored = await self._apply(session, engine, by_user, received_at)
                    outcomes = {user_id: user.outcome for user_id, user in scored.items()}
                    if before_commit is not None:
                        await session.flush()
                        await before_commit(ScoredBatch(session, engine, received_at, scored))
        return ScoreResult([statuses[i] for i in range(len(submissions))], outcomes, engine.version)

    async def _insert_events(
        self,
        session: AsyncSession,
        engine: Engine,
        valid: dict[EventKey, tuple[int, Submission]],
        received_at: datetime,
    ) -> set[EventKey]:
        rows = [
            {
                "id": submission.event.id,
                "user_id": uuid.UUID(submission.event.user_id),
                "metric": submission.event.metric,
                "value": float(submission.event.value),
                "occurred_at": submission.event.occurred_at,
                "received_at": submission.received_at or received_at,
                "source": submission.event.source,
                "reported_by": submission.reported_by,
                "rule_version": engine.version,
                "metadata": submission.meta,
            }
            for _, (_, submission) in sorted(valid.items())
        ]
        return await writes_for(session).insert_events(session, rows)

    async def _apply(
        self,
        session: AsyncSession,
        engine: Engine,
        by_user: dict[str, list[MetricEvent]],
        now: datetime,
    ) -> dict[str, ScoredUser]:
        writes = writes_for(session)
        # Make sure every user has a state row, then lock them all in a fixed order.
        locked = await writes.lock_states(session, sorted(uuid.UUID(u) for u in by_user), engine.version, now)
        befores: dict[str, tuple[str, UserState, int, Outcome]] = {}
        states: list[dict[str, Any]] = []
        ledger: list[dict[str, Any]] = []
        badges: list[dict[str, Any]] = []
        missions: dict[tuple[uuid.UUID, str, str], dict[str, Any]] = {}
        for user_id, rule_version, stored, timezone in locked:
            user_key = str(user_id)
            state = load_state(engine, user_key, timezone, stored)
            outcome = apply_all(engine, state, by_user[user_key])
            befores[user_key] = (timezone, state, rule_version, outcome)
            states.append(
                {
                    "user_id": user_id,
                    "xp": outcome.state.xp,
                    "level": outcome.state.level,
                    "rule_version": engine.version,
                    "state": dump_state(outcome.state),
                    "updated_at": now,
                }
            )
            for effect in outcome.effects:
                explanation = effect.explanation
                if isinstance(effect, XpAwarded) and effect.amount:
                    ledger.append(
                        {
                            "user_id": user_id,
                            "amount": effect.amount,
                            "source": effect.source,
                            "metric": effect.metric,
                            "day": effect.day,
                            "rule_id": explanation.rule_id,
                            "rule_version": explanation.rule_version,
                            "explanation": explanation.text,
                            "event_ids": list(explanation.event_ids),
                            "created_at": now,
                        }
                    )
                elif isinstance(effect, BadgeEarned):
                    badges.append(
                        {
                            "user_id": user_id,
                            "badge_id": effect.badge_id,
                            "tier": effect.tier or "",
                            "period": effect.period or "",
                            "secret": effect.secret,
                            "rule_version": explanation.rule_version,
                            "explanation": explanation.text,
                            "earned_at": now,
                        }
                    )
                elif isinstance(effect, MissionProgressed):
                    missions[user_id, effect.mission_id, effect.period] = {
                        "user_id": user_id,
                        "mission_id": effect.mission_id,
                        "period": effect.period,
                        "progress": effect.progress,
                        "goal": effect.goal,
                        "completed_at": now if effect.completed else None,
                        "updated_at": now,
                    }
        if states:
            await writes.update_states(session, states)
        if ledger:
            await writes.insert_ledger(session, ledger)
        new_badges: dict[str, set[BadgeRowKey]] = defaultdict(set)
        if badges:
            for user_id, badge_id, tier, period in await writes.insert_badges(session, badges):
                new_badges[str(user_id)].add((badge_id, tier, period))
        if missions:
            await writes.upsert_missions(session, list(missions.values()))
        return {
            user_key: ScoredUser(
                user_key,
                timezone,
                before,
                version,
                outcome,
                frozenset(new_badges.get(user_key, ())),
                _accepted(by_user[user_key], outcome),
            )
            for user_key, (timezone, before, version, outcome) in befores.items()
        }


def event_key(submission: Submission) -> EventKey:
    """What makes an event the same event: its id, for its user, from its sender."""
    return (submission.event.id, submission.event.user_id, submission.reported_by)


def apply_all(engine: Engine, state: UserState, events: list[MetricEvent]) -> Outcome:
    """Apply a user's new events. The engine takes an id once per batch, but two senders may use the
    same id for one user (both are new here: they were inserted under different keys), so an id met
    again goes into a further round; the engine's result does not depend on the batching."""
    rounds: list[list[MetricEvent]] = []
    occurrences: dict[str, int] = {}
    for event in events:
        nth = occurrences.get(event.id, 0)
        occurrences[event.id] = nth + 1
        if nth == len(rounds):
            rounds.append([])
        rounds[nth].append(event)
    outcome = engine.apply(state, rounds[0] if rounds else [])
    for more in rounds[1:]:
        fresh = outcome.state.copy()
        fresh.seen.clear()  # the stored events are the record of what was scored, not the state
        following = engine.apply(fresh, more)
        outcome = Outcome(
            following.state,
            outcome.effects + following.effects,
            outcome.accepted + following.accepted,
            outcome.duplicates + following.duplicates,
            outcome.rejected + following.rejected,
        )
    return outcome


def _accepted(events: list[MetricEvent], outcome: Outcome) -> tuple[MetricEvent, ...]:
    accepted = set(outcome.accepted)
    return tuple(event for event in events if event.id in accepted)


def load_state(engine: Engine, user_id: str, timezone: str, stored: dict[str, Any]) -> UserState:
    """A user's engine state from its stored form (`user_states.state`; empty for a new user)."""
    if not stored:
        return engine.new_state(user_id, timezone)
    # metric_events is the record of which ids were scored: the state does not carry them.
    return UserState.from_dict({**stored, "seen": [], "user_id": user_id, "timezone": timezone})


def dump_state(state: UserState) -> dict[str, Any]:
    """The stored form of an engine state: everything but the seen ids."""
    data = state.to_dict()
    del data["seen"]
    return data
