"""The two narrow views between the hub's node and its sessions: what a session may ask of the hub that
hosts it (`SessionHost`), and what the hub calls on the sessions it holds (`HostedSession`).

`server.hub.node` implements the first, `server.hub.session` the second; each imports only this module
of the other's side, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from server.config import Settings

from .frames import DeltaRun, LiveDelta
from .handlers import HubHandlers
from .presence import Presence
from .streams import Position, Streams


@dataclass(slots=True)
class HubStats:
    """Counters since the process started (``GET /api/v1/hub`` shows them)."""

    sessions: int = 0
    deltas_received: int = 0
    """Deltas the bus delivered for topics watched here (each fanned out to its watchers)."""
    deltas_sent: int = 0
    frames_sent: int = 0
    direct_writes: int = 0
    """Frames written straight to an idle connection (the broadcast fast path)."""
    slow_consumers: int = 0


class HostedSession(Protocol):
    """A session as its hub sees it: it is offered deltas, told to catch up, and timed."""

    def offer(self, delta: LiveDelta) -> None:
        """A live delta of a watched topic (must never block)."""
        ...

    def offer_run(self, run: DeltaRun) -> None:
        """Consecutive live deltas of one watched topic that arrived together (must never block)."""
        ...

    def catch_up(self) -> None:
        """The bus may have missed deltas: resynchronise every topic."""
        ...

    def check_deadlines(self, now: float, now_ms: int) -> None:
        """Close the session if one of its time limits passed (``now`` monotonic, ``now_ms`` wall clock)."""
        ...


class SessionHost(Protocol):
    """The hub as a session sees it."""

    @property
    def node_id(self) -> str: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def stats(self) -> HubStats: ...

    @property
    def handlers(self) -> HubHandlers:
        """The application's answers (identities, topics, ingest, notifications)."""
        ...

    @property
    def presence(self) -> Presence: ...

    @property
    def streams(self) -> Streams: ...

    def watch_deadlines(self, session: HostedSession) -> None: ...

    def unwatch_deadlines(self, session: HostedSession) -> None: ...

    def attach(self, session: HostedSession) -> None:
        """Count an authenticated session among the hub's (told to catch up when the bus reconnects)."""
        ...

    def detach(self, session: HostedSession) -> None: ...

    def later(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a chore that must outlive the session (leaving presence) as the hub's own task."""
        ...

    async def authorize(self, user_id: str, topic: str) -> None:
        """Returns if ``user_id`` may subscribe to ``topic``; else `Refusal`."""
        ...

    async def snapshot(self, topic: str) -> tuple[dict[str, Any], Position]:
        """The topic's document and the position it is the state at."""
        ...

    async def watch(self, topic: str, session: HostedSession) -> None:
        """Deliver ``topic``'s deltas to ``session`` from now on (returns once that is certain)."""
        ...

    def unwatch(self, topic: str, session: HostedSession) -> None: ...


__all__ = ["HostedSession", "HubStats", "SessionHost"]
