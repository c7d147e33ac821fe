"""Coalesced pushes of live documents (leaderboards, challenge scoreboards): a topic marked changed is
pushed at most once per interval, and changes that arrive while it waits join the same push, so a hot
topic costs its watchers a bounded number of frames a second however many events feed it.

A push that fails (a store down) is tried again after a doubling delay (the interval, twice it, ... at
most `MAX_BACKOFF_MS`), at most `MAX_ATTEMPTS` times in a row; then the topic is given up, with an
error line saying so, until its next change. Nothing is lost by giving up: a push publishes the
difference from the last published document to the current one, so the next change's push carries
everything the screens missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from server.backoff import Backoff
from server.metrics.families import PUBLISH_FAILURES

Push = Callable[[str], Awaitable[object]]

MAX_ATTEMPTS = 8
"""Consecutive failed pushes of a topic before it is given up (until it changes again)."""
MAX_BACKOFF_MS = 30_000


class Coalescer:
    def __init__(
        self,
        push: Push,
        interval_ms: int,
        log: logging.Logger,
        *,
        gone: tuple[type[Exception], ...] = (),
        max_attempts: int = MAX_ATTEMPTS,
        max_backoff_ms: int = MAX_BACKOFF_MS,
    ) -> None:
        self.push = push
        """Publishes a topic's change (called with the interval already respected here)."""
        self.interval_ms = interval_ms
        self.log = log
        self.gone = gone
        """Exceptions meaning the topic no longer exists: stop pushing it rather than retry."""
        self._dirty: set[str] = set()
        self._pushers: dict[str, asyncio.Task[None]] = {}
        self._pushed_at: dict[str, float] = {}
        self.max_attempts = max_attempts
        self.max_backoff_ms = max_backoff_ms
        self._backoff = Backoff(interval_ms, max_backoff_ms)
        self.given_up = 0
        """Topics given up so far (each after `max_attempts` failures in a row)."""

    def touch(self, topic: str) -> None:
        """Mark ``topic`` changed (from a running event loop); its push follows within the interval."""
        self._dirty.add(topic)
        if topic not in self._pushers:
            self._pushers[topic] = asyncio.get_running_loop().create_task(self._pusher(topic))

    def _delay_ms(self, failures: int) -> int:
        """The wait before a push after ``failures`` failed ones in a row: the interval, doubling."""
        return int(self._backoff.after(failures))

    async def _pusher(self, topic: str) -> None:
        # One task per dirty topic: changes that arrive while it waits join the same push.
        failures = 0
        try:
            while topic in self._dirty:
                wait = self._pushed_at.get(topic, 0.0) + self._delay_ms(failures) / 1000 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._dirty.discard(topic)
                self._pushed_at[topic] = time.monotonic()
                try:
                    await self.push(topic)
                except self.gone:
                    return
                except Exception as error:
                    PUBLISH_FAILURES.labels("push").inc()
                    failures += 1
                    if failures >= self.max_attempts:
                        # Bounded: a store that stays down must not keep a task per topic retrying.
                        self.given_up += 1
                        self._dirty.discard(topic)
                        self.log.error(
                            "push given up: %s failed %d times in a row (last: %r); its screens stay "
                            "as they are until it changes again",
                            topic,
                            failures,
                            error,
                        )
                        return
                    # The topic changed and its screens have not seen it: again, a while later.
                    self.log.warning(
                        "could not push %s (%r); attempt %d of %d in %d ms",
                        topic,
                        error,
                        failures + 1,
                        self.max_attempts,
                        self._delay_ms(failures),
                    )
                    self._dirty.add(topic)
                else:
                    failures = 0
        finally:
            # In the same step as the last check of `_dirty`: a later `touch` starts a new task.
            self._pushers.pop(topic, None)

    async def settled(self) -> None:
        """Until every topic marked so far has been pushed, each at its interval (or given up): what a
        caller that must see the pushes done awaits, rather than sleeping and hoping."""
        while self._pushers:
            # asyncio.wait, not gather: a caller that stops waiting must not cancel the pushes.
            await asyncio.wait(list(self._pushers.values()))

    async def aclose(self, final: Push) -> None:
        """Stop, then push what is pending at once with ``final`` (a process stopping)."""
        pending = list(self._pushers.values())
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        dirty, self._dirty = sorted(self._dirty), set()
        for topic in dirty:
            with contextlib.suppress(Exception):
                await final(topic)
