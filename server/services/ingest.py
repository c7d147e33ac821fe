"""Metric ingest: validate and authorise a whole batch, then score it (all or nothing).

A batch with any bad event is refused as a whole (422, or 403 for what the caller may not do), with
every problem named by its field, and nothing is written. A valid batch is scored in one
transaction; each event comes back `accepted` or `duplicate` (its id was already scored).

With a publisher, the affected users' live screens get their deltas and events, published from inside
the transaction (see `server.services.live`). A publish that fails fails the ingest (nothing is written,
the sender retries: event ids make that safe), so that no screen misses a change it cannot detect.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import MetricEvent, Source
from persistence.models import User, utcnow
from persistence.scoring import Scorer, Submission
from server.api import schemas
from server.api.endpoints import Principal
from server.api.problems import FieldError, Problem
from server.auth import Scope, allows
from server.config import Settings
from server.hub.publish import Publisher

from .rules import RulesService
from .scoring_step import ScoringStep

# Engine rejection codes, by the field they are about.
_FIELD_OF = {"unknown_metric": "metric", "invalid_value": "value", "above_max_value": "value"}


class IngestService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        scorer: Scorer,
        rules: RulesService,
        settings: Settings,
        publisher: Publisher | None = None,
    ) -> None:
        self.sessions = sessions
        self.scorer = scorer
        self.rules = rules
        self.settings = settings
        self.publisher = publisher

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
        result = await ScoringStep(self.scorer, self.rules, self.publisher).run(submissions, now)
        return schemas.MetricsOut(
            accepted=result.accepted,
            duplicates=sum(1 for s in result.statuses if s.status == "duplicate"),
            rule_version=result.rule_version,
            events=[
                schemas.EventStatusOut(
                    id=s.id, status="accepted" if s.status == "accepted" else "duplicate", reason=s.reason
                )
                for s in result.statuses
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
