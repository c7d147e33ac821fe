"""The application's answers to the hub's questions (`server.hub.handlers.HubHandlers`): identities from
access tokens, topics from the topic directory, ingest over the socket through the ingest service, and the
kept notifications.

The hub knows no service, so its refusals are translated here: the services' refusals
(`server.services.errors`) to protocol codes in one table (`ERROR_CODES`), the directory's and the token
check's (which carry their code already) to the hub's `Refusal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from protocol import ErrorCode, Ingest
from server.api.schemas import MetricEventIn
from server.auth.principal import Principal
from server.hub.handlers import (
    EventStatus,
    Head,
    Identity,
    Ingested,
    Notice,
    Refusal,
    VerifiedToken,
)
from server.hub.streams import Position
from server.services.errors import DomainError, Invalid, Unavailable
from server.services.people.notifications import NotificationsService
from server.services.scoring.ingest import EventVerdict, IngestService
from server.services.store_outage import store_unavailable
from server.services.topics.directory import TopicDirectory
from server.services.topics.hub_access import HubAccess, HubAuthError
from server.services.topics.refused import TopicRefused

ERROR_CODES: dict[type[DomainError], ErrorCode] = {
    Unavailable: ErrorCode.UNAVAILABLE,
    Invalid: ErrorCode.INVALID_MESSAGE,
    DomainError: ErrorCode.INVALID_MESSAGE,
}
"""The one table from a service's refusal (`server.services.errors`) to the protocol's error code; a kind
without a row answers as its nearest listed parent. A refusal of a request as a whole that the client
cannot retry as is (e.g. over ``ingest_max_batch``) is an ``invalid_message``: an event's own problems
come back as its status instead."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def error_code(error: DomainError) -> ErrorCode:
    return next(ERROR_CODES[kind] for kind in type(error).__mro__ if kind in ERROR_CODES)


def refusal_of(error: DomainError) -> Refusal:
    """A service's refusal of a socket request as the hub answers it: its code, the first field at
    fault, and when to try again for a store or queue that is down."""
    code = error_code(error)
    if isinstance(error, Unavailable):
        return Refusal(code, error.detail, retry_after_ms=error.retry_after_seconds * 1000)
    first = error.errors[0] if error.errors else None
    field = None if first is None else first.field
    message = error.detail if first is None else f"{field}: {first.message}"
    return Refusal(code, message, field=field)


class AppHubHandlers:
    """`HubHandlers` over the services. ``ingest`` is None where this process takes no events over the
    socket (the hub answers ``unsupported``)."""

    def __init__(
        self,
        *,
        access: HubAccess,
        directory: TopicDirectory,
        notifications: NotificationsService,
        ingest: IngestService | None,
    ) -> None:
        self.access = access
        self.directory = directory
        self.notifications = notifications
        self._ingest = ingest

    async def authenticate(self, token: str) -> Identity:
        try:
            return await self.access.authenticate(token)
        except HubAuthError as error:
            raise Refusal(error.code, error.message) from None

    def verify(self, token: str) -> VerifiedToken:
        try:
            user_id, expires_at_ms = self.access.verify(token)
        except HubAuthError as error:
            raise Refusal(error.code, error.message) from None
        return VerifiedToken(user_id, expires_at_ms)

    async def authorize(self, user_id: str, topic: str) -> None:
        try:
            await self.directory.authorize(user_id, topic)
        except TopicRefused as refused:
            raise Refusal(refused.code, refused.message) from None

    async def snapshot(self, topic: str, head: Head) -> tuple[dict[str, Any], Position]:
        try:
            return await self.directory.snapshot(topic, head)
        except TopicRefused as refused:
            raise Refusal(refused.code, refused.message) from None

    async def ingest(self, user_id: str, request: Ingest) -> Ingested:
        if self._ingest is None:
            raise Refusal(ErrorCode.UNSUPPORTED, "ingest is not available on this node")
        events = metric_events(request)
        try:
            out = await self._ingest.ingest(Principal("user", user_id), events)
        except DomainError as refused:
            raise refusal_of(refused) from None
        return Ingested(
            accepted=out.accepted,
            duplicates=out.duplicates,
            rejected=out.rejected,
            rule_version=out.rule_version,
            events=[_event_status(verdict) for verdict in out.events],
        )

    async def unread(self, user_id: str, limit: int) -> Sequence[Notice]:
        unread = await self.notifications.unread_oldest_first(user_id, limit)
        return [
            Notice(note.id, note.kind, note.data, int(note.created_at.timestamp() * 1000)) for note in unread
        ]

    def store_unavailable(self, error: BaseException) -> bool:
        return store_unavailable(error)


def metric_events(request: Ingest) -> list[MetricEventIn]:
    """The HTTP API's events for an ``ingest``'s; a `Refusal` (``invalid_message``) naming the field of
    the first one the API would refuse (``events.3.occurred_at_ms``). The protocol's own checks
    (`protocol.IngestEvent`) should leave nothing to refuse here; this is what keeps a gap between the
    two a per-request error rather than a dropped connection."""
    events: list[MetricEventIn] = []
    for index, item in enumerate(request.events):
        field = "occurred_at_ms"
        try:
            # Exact milliseconds (no float rounding); the protocol bounds the time to years 1970-9999.
            occurred_at = _EPOCH + timedelta(milliseconds=item.occurred_at_ms)
            field = ""
            events.append(
                MetricEventIn(
                    id=item.id,
                    user=item.user,
                    metric=item.metric,
                    value=item.value,
                    occurred_at=occurred_at,
                    metadata=dict(item.metadata or {}),
                )
            )
        except (OverflowError, ValueError) as error:  # pydantic's ValidationError is a ValueError
            message = "is not a time this server can keep"
            if isinstance(error, ValidationError):
                first = error.errors(include_url=False)[0]
                field = ".".join(str(part) for part in first["loc"]) or field
                field = "occurred_at_ms" if field == "occurred_at" else field
                message = str(first["msg"]).removeprefix("Value error, ")
            path = f"events.{index}" + (f".{field}" if field else "")
            raise Refusal(ErrorCode.INVALID_MESSAGE, f"{path}: {message}", field=path) from None
    return events


def _event_status(verdict: EventVerdict) -> EventStatus:
    """An event's verdict as the socket names it (its time is ``occurred_at_ms`` there)."""
    field = "occurred_at_ms" if verdict.field == "occurred_at" else verdict.field
    return EventStatus(verdict.id, verdict.status, verdict.code, verdict.reason, field)


__all__ = ["ERROR_CODES", "AppHubHandlers", "error_code", "metric_events", "refusal_of"]
