"""The demo pulse: in `gamif run` / `gamif demo` only, the serving process ingests one plausible sample
event every few seconds (a random demo person, a review done or a pull request merged, occurring now), so
that a fresh demo's dashboards, leaderboards and the demo challenge's scoreboard visibly move.

It goes through the normal ingest path (`IngestService.ingest`, then the scoring queue), as the seeded
demo integration's API key would, so what it shows is what an integration's events produce. It never
takes the server down: a failed tick is logged and the next one comes as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import sample_users
from persistence.models import ServiceAccount, utcnow
from server.auth.principal import Principal
from server.services.background import Background
from server.services.scoring.ingest import IngestService, NewEvent

log = logging.getLogger("gamif.demo")

DEMO_INTEGRATION = "demo integration"
"""The service account the demo seeding creates (one unrevoked at a time, its key kept in the data
directory: `server.cli.demo_key`); the pulse reports as it."""
PULSE_METRICS: tuple[tuple[str, int], ...] = (("reviews_done", 3), ("prs_merged", 1))
"""(metric, largest value) of the pulse's events: what the demo challenge counts, at a plausible size."""


class DemoPulse(Background):
    def __init__(
        self,
        ingest: IngestService,
        sessions: async_sessionmaker[AsyncSession],
        seconds: float,
        handles: Sequence[str],
        *,
        seed: int = 0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ingest = ingest
        self.sessions = sessions
        self.seconds = seconds
        self.handles = list(handles)
        self.clock = clock
        self.random = random.Random(seed)  # reproducible demos; the event ids stay unique regardless
        self.sent = 0
        """Events the ingest accepted so far."""
        self._warned = False

    task_name = "demo-pulse"

    def _main(self) -> Coroutine[Any, Any, None]:
        return self.run()

    async def run(self) -> None:
        while True:
            # Sleep first: a server that just started answers its first requests undisturbed.
            await asyncio.sleep(self.seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("demo pulse: an event could not be ingested (trying again next time)")

    async def tick(self) -> bool:
        """Ingest one sample event; whether it was accepted."""
        principal = await self._principal()
        if principal is None or not self.handles:
            return False
        metric, largest = self.random.choice(PULSE_METRICS)
        event = NewEvent(
            id=f"demo-pulse-{uuid.uuid4().hex}",
            user=self.random.choice(self.handles),
            metric=metric,
            value=float(self.random.randint(1, largest)),
            occurred_at=self.clock(),
        )
        answer = await self.ingest.ingest(principal, [event])
        if answer.accepted:
            self.sent += 1
            return True
        status = answer.events[0]
        log.warning("demo pulse: event %s (%s): %s", status.status, status.code, status.reason)
        return False

    async def _principal(self) -> Principal | None:
        """The demo integration, as its API key would authenticate it (read each time: a start that
        replaces a revoked or lost key retires the previous one)."""
        async with self.sessions() as session:
            account = await session.scalar(
                select(ServiceAccount).where(
                    ServiceAccount.name == DEMO_INTEGRATION, ServiceAccount.revoked_at.is_(None)
                )
            )
        if account is None:
            if not self._warned:  # once: the pulse then idles instead of filling the log
                log.warning("demo pulse: no %r service account (was the demo seeded?)", DEMO_INTEGRATION)
                self._warned = True
            return None
        metrics = None if account.metrics is None else frozenset(account.metrics)
        return Principal("service", str(account.id), "service", frozenset(account.scopes), metrics)


@contextlib.asynccontextmanager
async def running_pulse(
    ingest: IngestService,
    sessions: async_sessionmaker[AsyncSession],
    seconds: float,
    *,
    seed: int = 0,
) -> AsyncIterator[DemoPulse | None]:
    """The pulse, running while the context is open (None when ``seconds`` is 0: off)."""
    if seconds <= 0:
        yield None
        return
    pulse = DemoPulse(ingest, sessions, seconds, list(sample_users()), seed=seed)
    pulse.start()
    try:
        yield pulse
    finally:
        await pulse.aclose()
