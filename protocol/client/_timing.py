"""The SDK's decisions about time, as pure code: when to reconnect, when to ping, when to give up on a
pong, how fast to send, when to refresh the token. Every function takes the time (milliseconds of a
monotonic clock, or the server's clock where it says so) instead of reading a clock, so that the tests can
walk through a schedule without sleeping."""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from protocol.errors import BACKOFF_RESET_MS, CloseCode, close_info, reconnect_delay_ms

__all__ = [
    "REFRESH_MARGIN_MS",
    "REFRESH_RETRY_MS",
    "Heartbeat",
    "ReconnectPlan",
    "Reconnects",
    "TokenBucket",
    "handshake_close_code",
    "refresh_delay_ms",
]

# ------------------------------------------------------------------------------------- reconnecting


@dataclass(frozen=True, slots=True)
class ReconnectPlan:
    delay_ms: int | None
    """How long to wait before the next attempt; None: do not reconnect (the client ends)."""
    new_token: bool
    """Ask the token provider for a new token before the attempt (4001, 4004)."""


class Reconnects:
    """PROTOCOL.md §17, for one client across its connections.

    ``attempt`` is the ``n`` of the backoff: it counts up with every reconnection attempt that does not
    reach ``welcome``, and goes back to 0 once a connection has been authenticated for 60 s. (An attempt
    that reaches ``welcome`` but lasts less leaves it as it is: that is the letter of §17.) The first
    connection is not a reconnection: its failure is followed by attempt 0."""

    def __init__(self, random: Callable[[], float] = _random.random) -> None:
        self.attempt = 0
        self._random = random
        self._welcomed_at_ms: float | None = None
        self._reconnecting = False
        self._auth_failed = False
        """A 4001 since the last welcome: a second one means the new token failed too."""

    def welcomed(self, now_ms: float) -> None:
        self._welcomed_at_ms = now_ms
        self._auth_failed = False

    def closed(self, code: int, now_ms: float) -> ReconnectPlan:
        """The connection (or the attempt) ended with ``code`` (1006 for a failed handshake or a drop)."""
        welcomed_at = self._welcomed_at_ms
        if welcomed_at is not None and now_ms - welcomed_at >= BACKOFF_RESET_MS:
            self.attempt = 0
        elif welcomed_at is None and self._reconnecting:
            self.attempt += 1
        self._welcomed_at_ms = None
        self._reconnecting = True
        if code == CloseCode.AUTH_FAILED:
            if self._auth_failed:  # "if the new token fails too, stop and ask the user"
                return ReconnectPlan(None, False)
            self._auth_failed = True
        delay = reconnect_delay_ms(code, self.attempt, self._random())
        return ReconnectPlan(delay, delay is not None and close_info(code).new_token)


def handshake_close_code(http_status: int) -> int | None:
    """A refused upgrade as a close code (§2): 5xx and 429 mean "try again later" (handled as 1006);
    any other status means "do not retry automatically" (None)."""
    return int(CloseCode.ABNORMAL) if http_status >= 500 or http_status == 429 else None


# ---------------------------------------------------------------------------------------- heartbeat

MIN_PING_INTERVAL_MS = 1000
"""§14: a client SHOULD NOT ping more often than once a second."""


class Heartbeat:
    """§14 on the client side: send something at least every ``interval_ms`` (a ``ping`` when nothing else
    went out), and drop the connection when a ``ping`` gets no ``pong`` within ``interval_ms``."""

    def __init__(self, interval_ms: int, now_ms: float) -> None:
        self.interval_ms = interval_ms
        self._last_sent_ms = now_ms
        self._last_ping_ms = -math.inf
        self._ping_sent_ms: float | None = None
        """When the oldest unanswered ping went out."""

    def sent(self, now_ms: float, *, ping: bool = False) -> None:
        self._last_sent_ms = now_ms
        if ping:
            self._last_ping_ms = now_ms
            if self._ping_sent_ms is None:
                self._ping_sent_ms = now_ms

    def pong(self, now_ms: float) -> float | None:
        """A pong arrived: the round trip of the ping it answers, in milliseconds."""
        sent, self._ping_sent_ms = self._ping_sent_ms, None
        return None if sent is None else now_ms - sent

    def next(self, now_ms: float) -> tuple[Literal["ping", "drop"], float]:
        """What to do next, and in how many milliseconds (0 or less: now)."""
        if self._ping_sent_ms is not None:
            return "drop", self._ping_sent_ms + self.interval_ms - now_ms
        due = max(self._last_sent_ms + self.interval_ms, self._last_ping_ms + MIN_PING_INTERVAL_MS)
        return "ping", due - now_ms


# ----------------------------------------------------------------------------------- rate limiting

PACING_MARGIN = 0.9
"""The client paces itself below the server's bucket: network jitter can bunch frames that left evenly,
and a run of refused messages ends in 4029."""


class TokenBucket:
    """The server's rate limiter (§15) replayed on the client, so that it never sends a message the server
    would drop: a resume with 100 topics is 101 messages, over the burst of 40."""

    def __init__(self, rate_per_second: float, burst: float, now_ms: float) -> None:
        self.rate_per_second = rate_per_second * PACING_MARGIN
        self.burst = max(1.0, math.floor(burst * PACING_MARGIN))
        self._tokens = self.burst  # full when the connection opens, as on the server
        self._last_ms = now_ms

    def configure(self, rate_per_second: float, burst: float, now_ms: float) -> None:
        """The limits ``welcome`` announced (the tokens already spent stay spent)."""
        self._refill(now_ms)
        self.rate_per_second = rate_per_second * PACING_MARGIN
        self.burst = max(1.0, math.floor(burst * PACING_MARGIN))
        self._tokens = min(self._tokens, self.burst)

    def _refill(self, now_ms: float) -> None:
        elapsed = max(0.0, now_ms - self._last_ms)
        self._tokens = min(self.burst, self._tokens + elapsed / 1000 * self.rate_per_second)
        self._last_ms = now_ms

    def delay_ms(self, now_ms: float) -> float:
        """How long until a message may go out (0: now)."""
        self._refill(now_ms)
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate_per_second * 1000

    def take(self, now_ms: float) -> None:
        self._refill(now_ms)
        self._tokens -= 1


# ----------------------------------------------------------------------------------- token refresh

REFRESH_MARGIN_MS = 60_000
"""§18: refresh no later than 60 s before the token expires."""
REFRESH_RETRY_MS = 5_000
"""After a failed refresh, try again this much later at the soonest (the old token holds until it
expires, and then the server closes with 4004 and the client reconnects with a new one)."""


def refresh_delay_ms(expires_at_ms: int, server_now_ms: float, *, failures: int = 0) -> int:
    """How long to wait before refreshing the token (§18): at 80% of its remaining lifetime, and no later
    than 60 s before it expires, but not before half of it; both times are on the server's clock. After
    ``failures`` failed refreshes in a row, not sooner than `REFRESH_RETRY_MS`."""
    remaining = expires_at_ms - server_now_ms
    # Never sooner than half the remaining life: a token of a minute or less would otherwise be
    # refreshed at once, and its successor too, in a loop.
    delay = max(0, math.floor(max(remaining * 0.5, min(remaining * 0.8, remaining - REFRESH_MARGIN_MS))))
    return max(delay, REFRESH_RETRY_MS) if failures else delay
