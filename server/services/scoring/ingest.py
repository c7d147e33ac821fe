"""Metric ingest: validate, authorise and queue a batch for scoring, answering each event on its own.

The answer comes at once (202), one status per event, in request order:

- ``accepted``: queued; scored in the background exactly once, whatever is re-sent;
- ``duplicate``: not queued again: its id repeats an earlier event of the request
  (``duplicate_in_batch``) or was already scored (``already_scored``);
- ``rejected``: not queued, with a machine ``code``, a human ``reason`` and the ``field`` it is about:
  ``scope``, ``no_account``, ``not_yours``, ``missing``, ``unknown_user``, ``in_the_future``,
  ``too_old``, or the engine's own (`game.Engine.check`: ``unknown_metric``, ``source_not_allowed``,
  ``invalid_value``, ``above_max_value``, ...).

One bad event does not hold up the others: a sender resends (or drops) only the rejected ones. What is
wrong with the request itself is refused as a whole and queues nothing: more than ``ingest_max_batch``
events (`Invalid`, ``too_many``: the API's 422), an API key without ``metrics:write`` (`Forbidden`, 403);
the API refuses a malformed body (422) and missing credentials (401) before. Scoring happens in the
background (`tasks.scoring_queue`); the affected users' live screens get the results as deltas
and events.

If the queue cannot be reached (Redis down), it raises `QueueUnavailable` (503 with Retry-After) and nothing
was queued: the sender retries, and event ids make that safe. The database down (its lookups fail) gives
the same 503, from the API's handler of unreachable stores (`server.api.problems.store_down`).

The service takes plain events (`EventInput`: the API's validated `MetricEventIn` is one, without a copy on
this hot path) and answers plain dataclasses (`IngestOutcome`), which the API and the hub each put in
their own words.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq.exceptions import SendTaskError

from game import Engine, MetricEvent, Source
from game.rules import check_self_reports, count_days, counting_since
from game.rules.self_reports import TOO_MANY_SELF_REPORTS
from persistence.models import MetricEventRow, User, utcnow
from persistence.scoring import Submission
from server.auth import Scope, allows
from server.auth.principal import Principal
from server.config import Settings
from server.metrics.families import REDIS_ERRORS, count_ingest
from server.services.errors import FieldIssue, Forbidden, Invalid, QueueUnavailable
from server.services.scoring.rules import RulesService

EventStatus = Literal["accepted", "duplicate", "rejected"]


class EventInput(Protocol):
    """What ingest reads of an event. The caller has validated it as the API does (`MetricEventIn`: a
    handle-shaped user, a finite value, an aware time, no NUL in any text)."""

    @property
    def id(self) -> str: ...
    @property
    def user(self) -> str | None: ...
    @property
    def metric(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def metadata(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An `EventInput` made by the server itself (the demo pulse), not read from a request."""

    id: str
    user: str | None
    metric: str
    value: float
    occurred_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventVerdict:
    """One event's answer: accepted, or a duplicate or rejected with a code, a reason and its field."""

    id: str
    status: EventStatus
    code: str | None = None
    reason: str | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    accepted: int
    duplicates: int
    rejected: int
    rule_version: int
    events: list[EventVerdict]
    """One per event sent, in the same order."""


class BatchQueue(Protocol):
    """Where the accepted events go (`tasks.scoring_queue.ScoringQueue`)."""

    async def enqueue(self, submissions: Sequence[Submission], received_at: datetime) -> None: ...


# Engine rejection codes, by the field they are about (a code not listed here names no field).
_FIELD_OF = {
    "invalid_event": "id",
    "wrong_user": "user",
    "unknown_metric": "metric",
    "source_not_allowed": "metric",
    "naive_timestamp": "occurred_at",
    "invalid_value": "value",
    "above_max_value": "value",
}


class IngestService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: RulesService,
        settings: Settings,
        queue: BatchQueue,
    ) -> None:
        self.sessions = sessions
        self.rules = rules
        self.settings = settings
        self.queue = queue

    async def ingest(
        self, principal: Principal, events: Sequence[EventInput], now: datetime | None = None
    ) -> IngestOutcome:
        now = now or utcnow()
        limit = self.settings.ingest_max_batch
        if len(events) > limit:
            too_many = FieldIssue(
                field="events", message=f"at most {limit} events a request", code="too_many"
            )
            raise Invalid(f"more than {limit} events", [too_many])
        if principal.kind == "service" and not allows(principal.scopes, None, Scope.METRICS_WRITE, None):
            raise Forbidden("this API key may not write metrics")
        engine = await self.rules.engine()
        if principal.kind == "user":
            _check_self_report_count(engine, len(events))
        # One connection for the request's reads (the users, what is already scored, the self-report
        # counts): each checkout costs round trips of its own.
        async with self.sessions() as session:
            return await self._ingest(session, principal, events, engine, now)

    async def _ingest(
        self,
        session: AsyncSession,
        principal: Principal,
        events: Sequence[EventInput],
        engine: Engine,
        now: datetime,
    ) -> IngestOutcome:
        users, me = await self._users(session, principal, events)
        # Each event's status; None for an admitted one until we know whether it was already scored.
        statuses: list[EventVerdict | None] = []
        submissions: list[Submission] = []
        first_index: dict[str, int] = {}
        for index, item in enumerate(events):
            if item.id in first_index:
                reason = f"repeats the id of events.{first_index[item.id]} in this request"
                statuses.append(_status(item.id, "duplicate", "duplicate_in_batch", "id", reason))
                continue
            first_index[item.id] = index
            admitted = self._admit(principal, item, users, me, engine, now)
            if isinstance(admitted, Submission):
                submissions.append(admitted)
                statuses.append(None)
            else:
                statuses.append(admitted)
        scored = await self._already_scored(session, principal, submissions)
        fresh = [s for s in submissions if s.event.id not in scored]
        bounded = await self._bound_self_reports(session, engine, me, fresh, now) if me is not None else {}
        fresh = [s for s in fresh if s.event.id not in bounded]
        await session.close()  # the reads are done: no connection is held across the enqueue
        if fresh:
            try:
                await self.queue.enqueue(fresh, now)
            except (RedisError, OSError, SendTaskError) as error:
                REDIS_ERRORS.labels("ingest").inc()
                raise QueueUnavailable(
                    f"the scoring queue cannot be reached ({type(error).__name__}); nothing was queued: "
                    "send the batch again (its event ids make that safe)",
                    retry_after_seconds=5,
                ) from None
        out = [
            status
            or bounded.get(item.id)
            or (
                _status(item.id, "duplicate", "already_scored", "id", "already scored")
                if item.id in scored
                else _status(item.id, "accepted")
            )
            for item, status in zip(events, statuses, strict=True)
        ]
        count_ingest((s.status, s.code) for s in out)
        return IngestOutcome(
            accepted=len(fresh),
            duplicates=sum(s.status == "duplicate" for s in out),
            rejected=sum(s.status == "rejected" for s in out),
            rule_version=engine.version,
            events=out,
        )

    def _admit(
        self,
        principal: Principal,
        item: EventInput,
        users: dict[str, User],
        me: User | None,
        engine: Engine,
        now: datetime,
    ) -> Submission | EventVerdict:
        """The event ready to queue, or why it is rejected (the first problem found)."""
        settings = self.settings

        def rejected(code: str, field: str | None, reason: str) -> EventVerdict:
            return _status(item.id, "rejected", code, field, reason)

        if principal.kind == "service" and not allows(
            principal.scopes,
            None if principal.metrics is None else sorted(principal.metrics),
            Scope.METRICS_WRITE,
            item.metric,
        ):
            return rejected("scope", "metric", f"this API key may not write {item.metric!r}")
        user = _whose(principal, item, users, me)
        if isinstance(user, EventVerdict):
            return user
        if item.occurred_at > now + timedelta(seconds=settings.ingest_max_future_seconds):
            ahead = int((item.occurred_at - now).total_seconds())
            reason = f"is {ahead} s ahead; at most {settings.ingest_max_future_seconds} s allowed"
            return rejected("in_the_future", "occurred_at", reason)
        if item.occurred_at < now - timedelta(days=settings.ingest_max_age_days):
            return rejected("too_old", "occurred_at", f"is older than {settings.ingest_max_age_days} days")
        source: Source = "self" if principal.kind == "user" else "integration"
        event = MetricEvent(item.id, str(user.id), item.metric, item.value, item.occurred_at, source)
        rejection = engine.check(event)
        if rejection is not None:
            return rejected(rejection.code, _FIELD_OF.get(rejection.code), rejection.reason)
        return Submission(event, principal.label, dict(item.metadata))

    async def _already_scored(
        self, session: AsyncSession, principal: Principal, submissions: list[Submission]
    ) -> set[str]:
        """The ids of the submissions already scored. An event id is the sender's: it is unique per
        source (this API key, or this player) and user, so another sender's event of the same id is
        another event (a player cannot pre-empt an integration's id, nor one integration another's)."""
        if not submissions:
            return set()
        rows = await session.execute(
            select(MetricEventRow.user_id, MetricEventRow.id).where(
                MetricEventRow.reported_by == principal.label,
                MetricEventRow.id.in_([s.event.id for s in submissions]),
            )
        )
        stored = {(str(user_id), event_id) for user_id, event_id in rows}
        return {s.event.id for s in submissions if (s.event.user_id, s.event.id) in stored}

    async def _bound_self_reports(
        self, session: AsyncSession, engine: Engine, me: User, fresh: list[Submission], now: datetime
    ) -> dict[str, EventVerdict]:
        """The player's reports that the rules' self-report bounds refuse (too old, or past a metric's
        daily limit counting what is stored), by event id, in request order."""
        rule = engine.rules.self_reports
        if not fresh:
            return {}
        stored = await session.execute(
            select(MetricEventRow.metric, MetricEventRow.occurred_at).where(
                MetricEventRow.user_id == me.id,
                MetricEventRow.source == "self",
                MetricEventRow.occurred_at >= counting_since(rule, now),
            )
        )
        counted = count_days([(metric, at) for metric, at in stored], me.timezone)
        events = [s.event for s in fresh]
        refused = check_self_reports(rule, events, as_of=now, timezone=me.timezone, counted=counted)
        return {
            r.event_id: _status(r.event_id, "rejected", r.code, "occurred_at", r.reason)
            for r in refused.values()
        }

    async def _users(
        self, session: AsyncSession, principal: Principal, events: Sequence[EventInput]
    ) -> tuple[dict[str, User], User | None]:
        """The users the batch names, by handle, and the calling player (None for a service)."""
        handles = {item.user for item in events if item.user is not None}
        found: dict[str, User] = {}
        if handles:
            found = {u.handle: u for u in await session.scalars(select(User).where(User.handle.in_(handles)))}
        me = await session.get(User, uuid.UUID(principal.id)) if principal.kind == "user" else None
        return found, me


def _check_self_report_count(engine: Engine, count: int) -> None:
    """A player's request carries at most the rules' ``self_reports.max_per_request`` events."""
    limit = engine.rules.self_reports.max_per_request
    if count > limit:
        error = FieldIssue(
            field="events", message=f"at most {limit} self-reports a request", code=TOO_MANY_SELF_REPORTS
        )
        detail = f"more than {limit} self-reports (the rules' self_reports.max_per_request)"
        raise Invalid(detail, [error])


def _whose(
    principal: Principal, item: EventInput, users: dict[str, User], me: User | None
) -> User | EventVerdict:
    """Whose work the event is, or why it is rejected."""
    if principal.kind == "user":
        if me is None:
            return _status(item.id, "rejected", "no_account", "user", "your account is gone")
        if item.user is not None and item.user != me.handle:
            return _status(item.id, "rejected", "not_yours", "user", "players may only report their own work")
        return me
    if item.user is None:
        return _status(item.id, "rejected", "missing", "user", "whose work? give the user's handle")
    user = users.get(item.user)
    if user is None or user.disabled_at is not None:
        return _status(item.id, "rejected", "unknown_user", "user", f"unknown user {item.user!r}")
    return user


def _status(
    event_id: str,
    status: EventStatus,
    code: str | None = None,
    field: str | None = None,
    reason: str | None = None,
) -> EventVerdict:
    return EventVerdict(id=event_id, status=status, code=code, reason=reason, field=field)
