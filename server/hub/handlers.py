"""What the hub asks of the application it serves, and the small types that cross between them.

The hub knows sessions, topics, streams, the bus and presence, and nothing of the business: who a token
belongs to, who may read a topic, what a topic's document is, what an ``ingest`` does and which
notifications a player has not read are the application's answers, given through `HubHandlers` when the
hub is built (as Centrifuge's node asks its OnConnecting, OnSubscribe and OnPublish handlers).

A request the application refuses raises `Refusal` with the protocol code the client gets: the hub
never sees the application's own errors, so translating them (one table) is the application's part.
Anything else a handler raises is a failure: the hub answers ``unavailable`` when
`HubHandlers.store_unavailable` says a store is down, else ``internal_error``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from protocol import ErrorCode, Ingest

from .streams import Position

Head = Callable[[], Awaitable[Position]]
"""Reads a topic's current stream position (a snapshot calls it once its rows are locked)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an authenticated session belongs to."""

    user_id: str
    handle: str
    display_name: str
    teams: tuple[str, ...]
    """Slugs of the teams the user belongs to now (presence scopes)."""
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A valid access token's user and expiry (a ``refresh`` reads no more)."""

    user_id: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class EventStatus:
    """One ingested event's answer, as the socket names it: accepted, or a duplicate or rejected with a
    code, a reason and its field."""

    id: str
    status: str
    code: str | None = None
    reason: str | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Ingested:
    """What an ``ingest`` did: the counts, the rule version that scores the events, one status per
    event in the order sent."""

    accepted: int
    duplicates: int
    rejected: int
    rule_version: int
    events: Sequence[EventStatus]


@dataclass(frozen=True, slots=True)
class Notice:
    """A kept notification (a level-up, a badge, a mission done) sent as the event it was."""

    id: int
    kind: str
    data: Mapping[str, Any]
    at_ms: int


class Refusal(Exception):
    """A request the application refuses on purpose, with the protocol code the hub answers it with.

    From `HubHandlers.authenticate` the code must be one that closes the session (``auth_failed``,
    ``token_expired``, ``forbidden``); from a topic's `HubHandlers.authorize` or `HubHandlers.snapshot`,
    ``forbidden_topic`` or ``unknown_topic``; from `HubHandlers.ingest`, any request error, with the
    ``field`` at fault or when to try again."""

    def __init__(
        self, code: ErrorCode, message: str, *, field: str | None = None, retry_after_ms: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after_ms = retry_after_ms


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Identity:
        """The identity of an ``auth``'s access token; `Refusal` with a closing code if it has none."""
        ...

    def verify(self, token: str) -> VerifiedToken:
        """A ``refresh``'s token checked without a database read; `Refusal` if it is not valid."""
        ...


class TopicSource(Protocol):
    """The application's topics (presence topics are the hub's own: never asked here)."""

    async def authorize(self, user_id: str, topic: str) -> None:
        """Returns if ``user_id`` may subscribe to ``topic``; else `Refusal`."""
        ...

    async def snapshot(self, topic: str, head: Head) -> tuple[dict[str, Any], Position]:
        """The topic's document and the stream position (read with ``head``) it is the state at;
        `Refusal` when the topic does not exist (any more)."""
        ...


class SocketIngest(Protocol):
    async def ingest(self, user_id: str, request: Ingest) -> Ingested:
        """A player's own metric events sent over the socket; `Refusal` for the request as a whole
        (``unsupported`` where the application takes none)."""
        ...


class Notices(Protocol):
    async def unread(self, user_id: str, limit: int) -> Sequence[Notice]:
        """At most ``limit`` notifications the player has not read, oldest first (sent once per session,
        when it subscribes to its own ``user:{id}`` topic)."""
        ...


class HubHandlers(Authenticator, TopicSource, SocketIngest, Notices, Protocol):
    """Everything the hub's sessions ask of the application."""

    def store_unavailable(self, error: BaseException) -> bool:
        """Whether an unexpected failure says a data store cannot be reached right now (the client is
        told ``unavailable``: try again) rather than a bug (``internal_error``)."""
        ...


__all__ = [
    "Authenticator",
    "EventStatus",
    "Head",
    "HubHandlers",
    "Identity",
    "Ingested",
    "Notice",
    "Notices",
    "Refusal",
    "SocketIngest",
    "TopicSource",
    "VerifiedToken",
]
