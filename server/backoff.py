"""Doubling delays between retries, capped: the one backoff of every retry loop of the server side (the
scoring batcher, the queue's reads and acknowledgements, the leaderboards' repair, live pushes).

Each loop keeps its own policy (its first and longest delay, when it gives up, what it logs): only the
arithmetic is here. Hand-written rather than `tenacity` or `backoff`: the loops log the next delay
before sleeping it, reset after a success, and one of them is an async generator, which a retry
decorator fits worse than these few lines.

Jitter is optional, and off by default: the processes retrying one store are usually a handful, not a
herd. The hub's bus turns it on: every hub node of a cluster loses its Redis pub/sub connection at the
same moment (a Redis restart, a failover) and would otherwise reconnect in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

_MAX_DOUBLINGS = 30
"""Past this many doublings any sane cap is reached: the exponent stays bounded."""


@dataclass(slots=True)
class Backoff:
    """``first``, twice it, four times it, ... at most ``most`` (seconds, or any unit the caller uses).

    With ``jitter`` (a fraction, 0 to 1), each delay `step` returns is drawn uniformly between
    ``(1 - jitter)`` times the delay and the delay itself: 0.5 waits between half and all of it."""

    first: float
    most: float
    failures: int = field(default=0)
    """Failures in a row so far: the next `step` waits `after` of them."""
    jitter: float = field(default=0.0, kw_only=True)
    uniform: Callable[[], float] = field(default=random.random, kw_only=True, repr=False)
    """A draw in [0, 1) (injectable, so that tests see exact delays)."""

    def __post_init__(self) -> None:
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def after(self, failures: int) -> float:
        """The delay after ``failures`` failures in a row (``first`` after none)."""
        return min(self.first * (1 << min(max(failures, 0), _MAX_DOUBLINGS)), max(self.most, self.first))

    @property
    def delay(self) -> float:
        """The delay the next `step` returns (its most, with jitter)."""
        return self.after(self.failures)

    def step(self) -> float:
        """The delay to wait now (jittered, if asked); the next one is twice as long (up to ``most``)."""
        delay = self.delay
        self.failures += 1
        if self.jitter:
            return delay * (1 - self.jitter * self.uniform())
        return delay

    def reset(self) -> None:
        """After a success: the next delay is ``first`` again."""
        self.failures = 0


__all__ = ["Backoff"]
