"""Repairing the Redis leaderboards by themselves after a record failed.

A committed batch is recorded once in Redis (`persistence.leaderboards`): the record is not idempotent,
so a failed one (Redis down or cut mid-reply, the team history unreadable) is not retried. Instead the
boards are marked dirty, first in this process, then in Redis (``{prefix}lb-state:dirty``) as soon as
it answers, and a repair rebuilds them from the database, the source of truth: the same rebuild as
`gamif leaderboards rebuild`, in its exclusive form, which swaps the new boards in only if no batch was
recorded and no other failure happened meanwhile (else it tries again), and clears the mark. Live
topics then get the difference as one delta. Any process that records and finds the mark at its first
record (say, after a restart that interrupted a repair) repairs too.

The policy is bounded: attempts back off from `FIRST_DELAY_S`, doubling to `MAX_DELAY_S`, for as long
as the boards are dirty (they are wrong until then: stopping would leave them so). The log lines an
operator can alert on start with "leaderboards dirty:" (an error on the failed record, warnings for
failed attempts, an error from `ALERT_AFTER` attempts on) and "leaderboards repaired:" when done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.leaderboards import Leaderboards
from persistence.models import utcnow
from server.backoff import Backoff
from server.services.background import Background

log = logging.getLogger("gamif.leaderboards")

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
ALERT_AFTER = 5
"""Failed repair attempts in a row from which each is logged as an error."""


class BoardsRepair(Background):
    """One per `LiveBoards`: told of failed records, rebuilds the boards once Redis and the database
    answer."""

    task_name = "leaderboards-repair"

    def __init__(
        self,
        leaderboards: Leaderboards,
        sessions: async_sessionmaker[AsyncSession],
        refresh: Callable[[], Awaitable[int]],
        *,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.leaderboards = leaderboards
        self.sessions = sessions
        self.refresh = refresh
        """Pushes the live topics after a rebuild; how many changed."""
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.clock = clock
        self.pending: str | None = None
        """A failure of this process not yet marked in Redis (what failed)."""
        self.repairs = 0
        """Rebuilds this process completed."""
        self.repaired = asyncio.Event()
        """Set whenever a repair loop ends with the boards clean (cleared when a new one starts)."""

    def failed(self, reason: str) -> None:
        """A record failed (the batch has committed): mark the boards dirty and repair them."""
        log.error(
            "leaderboards dirty: a batch could not be recorded (%s); the boards will be rebuilt from the "
            "database by themselves once Redis and the database answer",
            reason,
        )
        self.pending = reason
        self.resume()

    def resume(self) -> None:
        """Run the repair loop if it is not running (a dirty mark was found)."""
        self.repaired.clear()
        self.start()

    async def aclose(self) -> None:
        running = self._task is not None
        await super().aclose()
        if self.pending is not None:
            # Redis never answered: no other process knows. Say so where an operator looks.
            log.error(
                "leaderboards dirty: stopping before Redis could be told (%s); run `gamif leaderboards "
                "rebuild`",
                self.pending,
            )
        elif running:
            log.warning("leaderboards dirty: stopping mid-repair; the next process that records resumes it")

    def _main(self) -> Coroutine[Any, Any, None]:
        return self._run()

    async def _run(self) -> None:
        try:
            await self._repair_until_clean()
            self.repaired.set()
        finally:
            self._task = None  # a later failure starts a new loop

    async def _repair_until_clean(self) -> None:
        backoff = Backoff(self.first_delay_s, self.max_delay_s)
        while True:
            await asyncio.sleep(backoff.step())
            try:
                if await self._attempt():
                    return
                backoff.reset()  # repaired, but a newer failure is pending
                continue
            except Exception as error:
                problem = error
            log.log(
                logging.ERROR if backoff.failures >= ALERT_AFTER else logging.WARNING,
                "leaderboards dirty: repair attempt %d failed (%r); next in %.0f s",
                backoff.failures,
                problem,
                backoff.delay,
            )

    async def _attempt(self) -> bool:
        """One repair; whether the boards are clean (and no failure of this process is pending)."""
        if self.pending is not None:
            reason, self.pending = self.pending, None
            try:
                await self.leaderboards.mark_dirty(reason)
            except BaseException:
                self.pending = self.pending or reason
                raise
        dirty = await self.leaderboards.dirty()
        if dirty is not None:
            stats = await self.leaderboards.rebuild(self.sessions, now=self.clock(), exclusive=True)
            changed = await self.refresh()
            self.repairs += 1
            log.info(
                "leaderboards repaired: rebuilt %d boards from the database (dirty since %s); %d live "
                "topic(s) updated",
                stats.boards,
                dirty,
                changed,
            )
        return self.pending is None
