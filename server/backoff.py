"""Doubling delays between retries, capped: the one backoff of every retry loop of the server side (the
scoring batcher, the queue's reads and acknowledgements, the leaderboards' repair, live pushes).

Each loop keeps its own policy (its first and longest delay, when it gives up, what it logs): only the
arithmetic is here. Hand-written rather than `tenacity` or `backoff`: the loops log the next delay
before sleeping it, reset after a success, and one of them is an async generator, which a retry
decorator fits worse than these few lines. No jitter: the processes retrying one store are a handful,
not a herd.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_MAX_DOUBLINGS = 30
"""Past this many doublings any sane cap is reached: the exponent stays bounded."""


@dataclass(slots=True)
class Backoff:
    """``first``, twice it, four times it, ... at most ``most`` (seconds, or any unit the caller uses)."""

    first: float
    most: float
    failures: int = field(default=0)
    """Failures in a row so far: the next `step` waits `after` of them."""

    def after(self, failures: int) -> float:
        """The delay after ``failures`` failures in a row (``first`` after none)."""
        return min(self.first * (1 << min(max(failures, 0), _MAX_DOUBLINGS)), max(self.most, self.first))

    @property
    def delay(self) -> float:
        """The delay the next `step` returns."""
        return self.after(self.failures)

    def step(self) -> float:
        """The delay to wait now; the next one is twice as long (up to ``most``)."""
        delay = self.delay
        self.failures += 1
        return delay

    def reset(self) -> None:
        """After a success: the next delay is ``first`` again."""
        self.failures = 0


__all__ = ["Backoff"]
