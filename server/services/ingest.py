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
wrong with the request itself is still a problem answer and queues nothing: a malformed body (422), more
than ``ingest_max_batch`` events (422 ``too_many``), no credentials (401), an API key without
``metrics:write`` (403). Scoring happens in the background (`server.services.scoring_queue`); the
affected users' live screens get the results as deltas and events.

If the queue cannot be reached (Redis down), the answer is 503 with Retry-After and nothing was queued:
the sender retries, and event ids make that safe. The database down (its lookups fail) gives the same
503, from the API's handler of unreachable stores (`server.api.problems.store_down`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq.exceptions import SendTaskError

from game import Engine, MetricEvent, Source
from game.rules import check_self_reports, count_days, counting_since
from game.rules.self_reports import TOO_MANY_SELF_REPORTS
from persistence.models import MetricEventRow, User, utcnow
from persistence.scoring import Submission
from server.api import schemas
from server.api.endpoints import Principal
from server.api.problems import FieldError, Problem
from server.auth import Scope, allows
from server.config import Settings

from .rules import RulesService


class BatchQueue(Protocol):
    """Where the accepted events go (`server.services.scoring_queue.ScoringQueue`)."""

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
        self, principal: Principal, events: list[schemas.MetricEventIn], now: datetime | None = None
    ) -> schemas.MetricsOut:
        now = now or utcnow()
        limit = self.settings.ingest_max_batch
        if len(events) > limit:
            too_many = FieldError(
                field="events", message=f"at most {limit} events a request", code="too_many"
            )
            raise Problem(
                422, "validation", "Invalid request", f"more than {limit} events", errors=[too_many]
            )
        if principal.kind == "service" and not allows(principal.scopes, None, Scope.METRICS_WRITE, None):
            raise Problem(403, "forbidden", "Not allowed", "this API key may not write metrics")
        engine = await self.rules.engine()
        if principal.kind == "user":
            _check_self_report_count(engine, len(events))
        users, me = await self._users(principal, events)
        # Each event's status; None for an admitted one until we know whether it was already scored.
        statuses: list[schemas.EventStatusOut | None] = []
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
        scored = await self._already_scored(principal, submissions)
        fresh = [s for s in submissions if s.event.id not in scored]
        bounded = await self._bound_self_reports(engine, me, fresh, now) if me is not None else {}
        fresh = [s for s in fresh if s.event.id not in bounded]
        if fresh:
            try:
                await self.queue.enqueue(fresh, now)
            except (RedisError, OSError, SendTaskError) as error:
                raise Problem(
                    503,
                    "unavailable",
                    "Queue unavailable",
                    f"the scoring queue cannot be reached ({type(error).__name__}); nothing was queued: "
                    "send the batch again (its event ids make that safe)",
                    headers={"Retry-After": "5"},
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
        return schemas.MetricsOut(
            accepted=len(fresh),
            duplicates=sum(s.status == "duplicate" for s in out),
            rejected=sum(s.status == "rejected" for s in out),
            rule_version=engine.version,
            events=out,
        )

    def _admit(
        self,
        principal: Principal,
        item: schemas.MetricEventIn,
        users: dict[str, User],
        me: User | None,
        engine: Engine,
        now: datetime,
    ) -> Submission | schemas.EventStatusOut:
        """The event ready to queue, or why it is rejected (the first problem found)."""
        settings = self.settings

        def rejected(code: str, field: str | None, reason: str) -> schemas.EventStatusOut:
            return _status(item.id, "rejected", code, field, reason)

        if principal.kind == "service" and not allows(
            principal.scopes,
            None if principal.metrics is None else sorted(principal.metrics),
            Scope.METRICS_WRITE,
            item.metric,
        ):
            return rejected("scope", "metric", f"this API key may not write {item.metric!r}")
        user = _whose(principal, item, users, me)
        if isinstance(user, schemas.EventStatusOut):
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

    async def _already_scored(self, principal: Principal, submissions: list[Submission]) -> set[str]:
        """The ids of the submissions already scored. An event id is the sender's: it is unique per
        source (this API key, or this player) and user, so another sender's event of the same id is
        another event (a player cannot pre-empt an integration's id, nor one integration another's)."""
        if not submissions:
            return set()
        async with self.sessions() as session:
            rows = await session.execute(
                select(MetricEventRow.user_id, MetricEventRow.id).where(
                    MetricEventRow.reported_by == principal.label,
                    MetricEventRow.id.in_([s.event.id for s in submissions]),
                )
            )
            stored = {(str(user_id), event_id) for user_id, event_id in rows}
        return {s.event.id for s in submissions if (s.event.user_id, s.event.id) in stored}

    async def _bound_self_reports(
        self, engine: Engine, me: User, fresh: list[Submission], now: datetime
    ) -> dict[str, schemas.EventStatusOut]:
        """The player's reports that the rules' self-report bounds refuse (too old, or past a metric's
        daily limit counting what is stored), by event id, in request order."""
        rule = engine.rules.self_reports
        if not fresh:
            return {}
        async with self.sessions() as session:
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
        self, principal: Principal, events: list[schemas.MetricEventIn]
    ) -> tuple[dict[str, User], User | None]:
        """The users the batch names, by handle, and the calling player (None for a service)."""
        handles = {item.user for item in events if item.user is not None}
        me = None
        async with self.sessions() as session:
            found = {u.handle: u for u in await session.scalars(select(User).where(User.handle.in_(handles)))}
            if principal.kind == "user":
                me = await session.get(User, uuid.UUID(principal.id))
        return found, me


def _check_self_report_count(engine: Engine, count: int) -> None:
    """A player's request carries at most the rules' ``self_reports.max_per_request`` events."""
    limit = engine.rules.self_reports.max_per_request
    if count > limit:
        error = FieldError(
            field="events", message=f"at most {limit} self-reports a request", code=TOO_MANY_SELF_REPORTS
        )
        detail = f"more than {limit} self-reports (the rules' self_reports.max_per_request)"
        raise Problem(422, "validation", "Invalid request", detail, errors=[error])


def _whose(
    principal: Principal, item: schemas.MetricEventIn, users: dict[str, User], me: User | None
) -> User | schemas.EventStatusOut:
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
    status: schemas.EventStatus,
    code: str | None = None,
    field: str | None = None,
    reason: str | None = None,
) -> schemas.EventStatusOut:
    return schemas.EventStatusOut(id=event_id, status=status, code=code, reason=reason, field=field)
