"""Coalesced pushes of live documents (leaderboards, challenge scoreboards): a topic marked changed is
pushed at most once per interval, and changes that arrive while it waits join the same push, so a hot
topic costs its watchers a bounded number of frames a second however many events feed it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

Push = Callable[[str], Awaitable[object]]


class Coalescer:
    def __init__(
        self,
        push: Push,
        interval_ms: int,
        log: logging.Logger,
        *,
        gone: tuple[type[Exception], ...] = (),
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

    def touch(self, topic: str) -> None:
        """Mark ``topic`` changed (from a running event loop); its push follows within the interval."""
        self._dirty.add(topic)
        if topic not in self._pushers:
            self._pushers[topic] = asyncio.get_running_loop().create_task(self._pusher(topic))

    async def _pusher(self, topic: str) -> None:
        # One task per dirty topic: changes that arrive while it waits join the same push.
        try:
            while topic in self._dirty:
                wait = self._pushed_at.get(topic, 0.0) + self.interval_ms / 1000 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._dirty.discard(topic)
                self._pushed_at[topic] = time.monotonic()
                try:
                    await self.push(topic)
                except self.gone:
                    return
                except Exception as error:
                    # Try again next interval: the topic changed, and its screens have not seen it yet.
                    self.log.warning("could not push %s (%r); retrying", topic, error)
                    self._dirty.add(topic)
        finally:
            # In the same step as the last check of `_dirty`: a later `touch` starts a new task.
            self._pushers.pop(topic, None)

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
