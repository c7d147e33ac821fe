"""Metric ingest: validate and authorise a whole batch, then queue it for scoring (all or nothing).

A batch with any bad event is refused as a whole (422, or 403 for what the caller may not do), with
every problem named by its field, and nothing is queued. A valid batch is queued at once and answered
202: each event `accepted` (queued; scored exactly once, whatever is re-sent) or `duplicate` (its id
was already scored). Scoring happens in the background (`server.services.scoring_queue`); the
affected users' live screens get the results as deltas and events.

If the queue cannot be reached (Redis down), the answer is 503 with Retry-After and nothing was queued:
the sender retries, and event ids make that safe.
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

from game import MetricEvent, Source
from persistence.models import MetricEventRow, User, utcnow
from persistence.scoring import Submission
from server.api import schemas
from server.api.endpoints import Principal
from server.api.problems import FieldError, Problem
from server.auth import Scope, allows
from server.config import Settings

from .rules import RulesService


class BatchQueue(Protocol):
    """Where a valid batch goes (`server.services.scoring_queue.ScoringQueue`)."""

    async def enqueue(self, submissions: Sequence[Submission], received_at: datetime) -> None: ...


# Engine rejection codes, by the field they are about.
_FIELD_OF = {"unknown_metric": "metric", "invalid_value": "value", "above_max_value": "value"}


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
        settings = self.settings
        if len(events) > settings.ingest_max_batch:
            raise _invalid(
                [
                    FieldError(
                        field="events",
                        message=f"at most {settings.ingest_max_batch} events a request",
                        code="too_many",
                    )
                ]
            )
        engine = await self.rules.engine()
        users, me = await self._users(principal, events)
        invalid: list[FieldError] = []
        denied: list[FieldError] = []
        first_index: dict[str, int] = {}
        submissions: list[Submission] = []
        latest = now + timedelta(seconds=settings.ingest_max_future_seconds)
        earliest = now - timedelta(days=settings.ingest_max_age_days)
        for index, item in enumerate(events):
            where = f"events.{index}"
            if item.id in first_index:
                invalid.append(
                    FieldError(
                        field=f"{where}.id",
                        message=f"repeats events.{first_index[item.id]}.id",
                        code="duplicate_id",
                    )
                )
                continue
            first_index[item.id] = index
            if item.occurred_at > latest:
                ahead = int((item.occurred_at - now).total_seconds())
                invalid.append(
                    FieldError(
                        field=f"{where}.occurred_at",
                        message=f"is {ahead} s ahead; at most {settings.ingest_max_future_seconds} s allowed",
                        code="in_the_future",
                    )
                )
            elif item.occurred_at < earliest:
                invalid.append(
                    FieldError(
                        field=f"{where}.occurred_at",
                        message=f"is older than {settings.ingest_max_age_days} days",
                        code="too_old",
                    )
                )
            user = self._whose(principal, item, users, me, where, invalid, denied)
            if user is None:
                continue
            source: Source = "self" if principal.kind == "user" else "integration"
            if principal.kind == "service" and not allows(
                principal.scopes,
                None if principal.metrics is None else sorted(principal.metrics),
                Scope.METRICS_WRITE,
                item.metric,
            ):
                denied.append(
                    FieldError(
                        field=f"{where}.metric",
                        message=f"this API key may not write {item.metric!r}",
                        code="scope",
                    )
                )
                continue
            event = MetricEvent(item.id, str(user.id), item.metric, item.value, item.occurred_at, source)
            rejection = engine.check(event)
            if rejection is not None:
                target = denied if rejection.code == "source_not_allowed" else invalid
                field = _FIELD_OF.get(rejection.code, "metric")
                target.append(
                    FieldError(field=f"{where}.{field}", message=rejection.reason, code=rejection.code)
                )
                continue
            submissions.append(Submission(event, principal.label, dict(item.metadata)))
        if denied:
            raise Problem(403, "forbidden", "Not allowed", _summary(denied), errors=denied + invalid)
        if invalid:
            raise _invalid(invalid)
        async with self.sessions() as session:
            scored = set(
                await session.scalars(
                    select(MetricEventRow.id).where(MetricEventRow.id.in_([s.event.id for s in submissions]))
                )
            )
        fresh = [s for s in submissions if s.event.id not in scored]
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
        return schemas.MetricsOut(
            accepted=len(fresh),
            duplicates=len(submissions) - len(fresh),
            rule_version=engine.version,
            events=[
                schemas.EventStatusOut(id=s.event.id, status="duplicate", reason="already scored")
                if s.event.id in scored
                else schemas.EventStatusOut(id=s.event.id, status="accepted", reason=None)
                for s in submissions
            ],
        )

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

    @staticmethod
    def _whose(
        principal: Principal,
        item: schemas.MetricEventIn,
        users: dict[str, User],
        me: User | None,
        where: str,
        invalid: list[FieldError],
        denied: list[FieldError],
    ) -> User | None:
        if principal.kind == "user":
            if me is None:
                denied.append(
                    FieldError(field=f"{where}.user", message="your account is gone", code="no_account")
                )
                return None
            if item.user is not None and item.user != me.handle:
                denied.append(
                    FieldError(
                        field=f"{where}.user",
                        message="players may only report their own work",
                        code="not_yours",
                    )
                )
                return None
            return me
        if item.user is None:
            invalid.append(
                FieldError(
                    field=f"{where}.user", message="whose work? give the user's handle", code="missing"
                )
            )
            return None
        user = users.get(item.user)
        if user is None or user.disabled_at is not None:
            invalid.append(
                FieldError(field=f"{where}.user", message=f"unknown user {item.user!r}", code="unknown_user")
            )
            return None
        return user


def _summary(errors: list[FieldError]) -> str:
    shown = ", ".join(e.field for e in errors[:5]) + (" …" if len(errors) > 5 else "")
    return f"{len(errors)} problem{'s' if len(errors) != 1 else ''}: {shown}"


def _invalid(errors: list[FieldError]) -> Problem:
    return Problem(422, "validation", "Invalid request", _summary(errors), errors=errors)
