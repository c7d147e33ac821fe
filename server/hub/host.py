"""The two narrow views between the hub's node and its sessions: what a session may ask of the hub that
hosts it (`SessionHost`), and what the hub calls on the sessions it holds (`HostedSession`).

`server.hub.node` implements the first, `server.hub.session` the second; each imports only this module
of the other's side, so neither imports the other.
"""

from __future__ import annotations

import bisect
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.config import Settings

from .frames import DeltaRun, LiveDelta
from .handlers import HubHandlers
from .presence import Presence
from .streams import Position, Streams

SEND_BUFFER_PEAK_BOUNDS = (0, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304)
"""Bucket bounds (bytes) of the sessions' send-buffer high-water marks (`HubStats.send_buffer_peaks`)."""

_STANDARD_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012})


@dataclass(slots=True)
class HubStats:
    """Counters since the process started, plain integers bumped where things happen (``GET /api/v1/hub``
    shows some; the application's Prometheus collector reads them all when it is scraped, so that the
    fan-out pays an integer addition, not a metrics library call, per frame)."""

    sessions: int = 0
    deltas_received: int = 0
    """Deltas the bus delivered for topics watched here (each fanned out to its watchers)."""
    deltas_sent: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    """Bytes of the frames written to the connections."""
    direct_writes: int = 0
    """Frames written straight to an idle connection (the broadcast fast path)."""
    slow_consumers: int = 0
    auth_failures: dict[str, int] = field(default_factory=dict)
    """Refused ``auth`` requests, by error code (a bounded set: `protocol.ErrorCode`)."""
    closes: dict[tuple[str, str], int] = field(default_factory=dict)
    """Ended sessions by (who closed: ``server`` or ``client``, close code); a client's code outside the
    standard ones counts as ``other`` (a client chooses it: the label set stays bounded)."""
    send_buffer_peaks: list[int] = field(default_factory=lambda: [0] * (len(SEND_BUFFER_PEAK_BOUNDS) + 1))
    """Ended sessions by the most bytes that waited for them at once: one count per bucket of
    `SEND_BUFFER_PEAK_BOUNDS` (at most that many bytes), the last for more."""
    send_buffer_peak_sum: int = 0

    def auth_failed(self, code: str) -> None:
        self.auth_failures[code] = self.auth_failures.get(code, 0) + 1

    def closed(self, by: str, code: int) -> None:
        shown = str(code) if by == "server" or code in _STANDARD_CLOSE_CODES else "other"
        key = (by, shown)
        self.closes[key] = self.closes.get(key, 0) + 1

    def session_ended(self, peak_bytes: int) -> None:
        self.send_buffer_peaks[bisect.bisect_left(SEND_BUFFER_PEAK_BOUNDS, peak_bytes)] += 1
        self.send_buffer_peak_sum += peak_bytes


class HostedSession(Protocol):
    """A session as its hub sees it: it is offered deltas, told to catch up, and timed."""

    @property
    def encoding(self) -> str:
        """The subprotocol it speaks (``gamif.v1.msgpack`` or ``gamif.v1.json``)."""
        ...

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


__all__ = ["SEND_BUFFER_PEAK_BOUNDS", "HostedSession", "HubStats", "SessionHost"]
