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
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import (
    Engine,
    MetricEvent,
    Outcome,
    Rejection,
    UserState,
)
from game.rules import count_days, over_daily_limit

from .db import begin_write
from .models import MetricEventRow, table_of, utcnow
from .pacing import pace
from .scoring_rows import BadgeRowKey, EffectRows
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
            await pace()
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
                by_user: dict[str, list[tuple[EventKey, Submission]]] = defaultdict(list)
                for key in sorted(inserted):
                    index, submission = valid[key]
                    by_user[submission.event.user_id].append((key, submission))
                    statuses[index] = EventStatus(key[0], "accepted")
                if by_user:
                    order = {key: index for key, (index, _) in valid.items()}
                    scored, refused = await self._apply(session, engine, by_user, received_at, order)
                    for key, rejection in refused.items():
                        statuses[valid[key][0]] = EventStatus(
                            key[0], "rejected", rejection.code, rejection.reason
                        )
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
        by_user: dict[str, list[tuple[EventKey, Submission]]],
        now: datetime,
        order: Mapping[EventKey, int],
    ) -> tuple[dict[str, ScoredUser], dict[EventKey, Rejection]]:
        """Score each user's new events under their locked state row; also the self-reports refused
        here (past the rules' daily limit: their rows are deleted again). ``order``: each event's
        place in the batch as submitted."""
        writes = writes_for(session)
        # Make sure every user has a state row, then lock them all in a fixed order.
        locked = await writes.lock_states(session, sorted(uuid.UUID(u) for u in by_user), engine.version, now)
        befores: dict[str, tuple[str, UserState, int, Outcome]] = {}
        states: list[dict[str, Any]] = []
        rows = EffectRows()
        refused: dict[EventKey, Rejection] = {}
        events_of: dict[str, list[MetricEvent]] = {}
        for user_id, rule_version, stored, timezone in locked:
            await pace()  # a user's engine run is short; a slice's users together are not
            user_key = str(user_id)
            mine = by_user[user_key]
            if any(submission.event.source == "self" for _, submission in mine):
                over = await _over_daily_limit(session, engine, user_id, timezone, mine, now, order)
                if over:
                    refused |= over
                    mine = [(key, submission) for key, submission in mine if key not in over]
            events_of[user_key] = [submission.event for _, submission in mine]
            state = load_state(engine, user_key, timezone, stored)
            outcome = apply_all(engine, state, events_of[user_key])
            befores[user_key] = (timezone, state, rule_version, outcome)
            states.append(
                {
                    "user_id": user_id,
                    "xp": outcome.state.xp,
                    "level": outcome.state.level,
                    "rule_version": engine.version,
                    "state": dump_state(outcome.state),
                    # The wall clock, not the batch's time (when its events were accepted, maybe long
                    # before): the live documents' reconciliation asks which states changed lately.
                    "updated_at": utcnow(),
                }
            )
            rows.add(user_id, outcome.effects, now)
        if refused:
            await _delete_events(session, list(refused))
        if states:
            await writes.update_states(session, states)
        new_badges = await rows.write(session, writes)
        scored = {
            user_key: ScoredUser(
                user_key,
                timezone,
                before,
                version,
                outcome,
                frozenset(new_badges.get(user_key, ())),
                _accepted(events_of[user_key], outcome),
            )
            for user_key, (timezone, before, version, outcome) in befores.items()
        }
        return scored, refused


async def _over_daily_limit(
    session: AsyncSession,
    engine: Engine,
    user_id: uuid.UUID,
    timezone: str,
    mine: list[tuple[EventKey, Submission]],
    now: datetime,
    order: Mapping[EventKey, int],
) -> dict[EventKey, Rejection]:
    """The rules' daily limit on self-reports, enforced again here, under the user's row lock: ingest
    checks it when it answers, but two requests in flight at once were each checked without the other.
    Counted: the stored self-reports of the days concerned (committed ones, and this batch's), first
    come first served: by the time ingest received them, then in the order submitted."""
    selfs = sorted(
        ((key, submission) for key, submission in mine if submission.event.source == "self"),
        key=lambda item: (item[1].received_at or now, order[item[0]]),
    )
    moments = [submission.event.occurred_at for _, submission in selfs]
    # A local day spans at most 24 h of UTC around any moment in it.
    low, high = min(moments) - timedelta(days=1), max(moments) + timedelta(days=1)
    events = table_of(MetricEventRow)
    stored = await session.execute(
        select(events.c.id, events.c.reported_by, events.c.metric, events.c.occurred_at).where(
            events.c.user_id == user_id,
            events.c.source == "self",
            events.c.occurred_at >= low,
            events.c.occurred_at <= high,
        )
    )
    batch = {key for key, _ in selfs}
    user_key = str(user_id)
    held = [(metric, at) for event_id, by, metric, at in stored if (event_id, user_key, by) not in batch]
    over = over_daily_limit(
        engine.rules.self_reports,
        [submission.event for _, submission in selfs],
        timezone=timezone,
        counted=count_days(held, timezone),
    )
    return {selfs[index][0]: rejection for index, rejection in over.items()}


async def _delete_events(session: AsyncSession, keys: list[EventKey]) -> None:
    events = table_of(MetricEventRow)
    await session.execute(
        delete(events).where(
            events.c.id == bindparam("key_id"),
            events.c.user_id == bindparam("key_user"),
            events.c.reported_by == bindparam("key_by"),
        ),
        [{"key_id": i, "key_user": uuid.UUID(u), "key_by": by} for i, u, by in keys],
    )


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
