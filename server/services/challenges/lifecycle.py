"""Challenges move scheduled -> live -> finished on their own, without a tick loop.

`ChallengeLifecycle` performs the transitions (`persistence.challenge_results`: each exactly once,
whatever number of processes attempt it) and tells the live scoreboard after each commit. With a
relay, a finish also pushes the rewarded members' own state live as a scoring batch does, with the
scoring path's push (`server.services.scoring.live.ScoringPush`) as its before-commit hook: each member's
``user:{id}`` delta and events (``xp_awarded``, ``level_up``, ``badge_earned``) go into the live outbox in
the finishing transaction (with the notifications kept in it, so exactly once), and out through the outbox
relay after its commit, which also tells the live documents of their teams and (with notable moments)
the activity feed.
If the finish fails, nothing was written or published, and the finish is retried later.

`ChallengeClock` decides when: it sleeps exactly until the next boundary (the earliest ``starts_at`` of a
scheduled challenge or ``closes_at`` of an unfinished one, read from the database), runs the due
transitions, and sleeps again. A create or an edit may move the next boundary earlier, so it also wakes
when told (`wake`): in-process when embedded, through a Redis pub/sub channel (``<prefix>challenges:wake``)
when API processes and workers are apart. On start it first catches up with whatever fell due while no
process ran. A single sleep is capped (`MAX_SLEEP_SECONDS`) only as a safety net: against a lost wake
message or a wall clock that jumped; the boundaries themselves never need it.

Where it runs: in every ``gamif worker`` process, and in the embedded server. Several clocks running
at once is safe: a transition another process made first is simply not made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence import challenge_results
from persistence.models import utcnow
from server.metrics.families import CHALLENGE_TRANSITIONS
from server.services.background import Background
from server.services.challenges.notify import ChallengeNotifier, NoNotifier
from server.services.scoring.live import ScoringPush
from server.services.scoring.rules import RulesService
from server.services.topics.outbox_relay import OutboxRelay

log = logging.getLogger("gamif.challenges")

MAX_SLEEP_SECONDS = 300.0
"""The longest single sleep: a safety net (a missed wake, a clock jump), not the schedule."""
RETRY_SECONDS = 5.0
"""After a failed run (the database away, a challenge that cannot be finished), try again this soon."""

Sleep = Callable[[float], Awaitable[None]]


def wake_channel(prefix: str) -> str:
    """The Redis pub/sub channel that wakes every process's clock (a challenge was created or edited)."""
    return f"{prefix}challenges:wake"


class ChallengeLifecycle:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: RulesService,
        notifier: ChallengeNotifier | None = None,
        *,
        relay: OutboxRelay | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``relay``: the process's outbox relay, which publishes the rewarded members' live changes after
        the commit (none: not pushed)."""
        self.sessions = sessions
        self.rules = rules
        self.notifier = notifier or NoNotifier()
        self.relay = relay
        self.clock = clock

    async def start_due(self, now: datetime | None = None) -> list[str]:
        """Start the scheduled challenges whose start has come; the ids this call started."""
        started = await challenge_results.start_due(self.sessions, now or self.clock())
        if started:
            CHALLENGE_TRANSITIONS.labels("live").inc(len(started))
            log.info("challenges started: %s", ", ".join(started))
            self.notifier.changed(started)
        return started

    async def finish_due(self, now: datetime | None = None) -> list[str]:
        """Finish the challenges whose grace period has ended (each in its own transaction); the ids this
        call finished. One that fails does not hold up the others; the first failure is raised after."""
        now = now or self.clock()
        due = [item.id for item in await challenge_results.pending(self.sessions) if item.closes_at <= now]
        if not due:
            return []
        engine = await self.rules.engine()
        finished: list[str] = []
        failure: Exception | None = None
        for challenge_id in due:
            push = None if self.relay is None else ScoringPush()
            try:
                done = await challenge_results.finish(
                    self.sessions, engine, challenge_id, now, before_commit=push
                )
            except Exception as error:
                log.exception("challenge %s: could not finish (it stays live; retried later)", challenge_id)
                failure = failure or error
                continue
            if push is not None and self.relay is not None:
                await self.relay.publish_committed(push.entries, push.changed)
            if done is not None:
                finished.append(challenge_id)
        if finished:
            CHALLENGE_TRANSITIONS.labels("finished").inc(len(finished))
            log.info("challenges finished: %s", ", ".join(finished))
            self.notifier.changed(finished)
        if failure is not None:
            raise failure
        return finished

    async def next_boundary(self) -> datetime | None:
        """The next instant a transition falls due (maybe already past); None without pending challenges."""
        boundaries = [item.next_boundary for item in await challenge_results.pending(self.sessions)]
        return min(boundaries, default=None)


class ChallengeClock(Background):
    """Runs the lifecycle at each boundary; `wake` makes it look again at once (see the module doc)."""

    def __init__(
        self,
        lifecycle: ChallengeLifecycle,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Sleep = asyncio.sleep,
        max_sleep_seconds: float = MAX_SLEEP_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.lifecycle = lifecycle
        self.clock = clock
        self.sleep = sleep
        self.max_sleep_seconds = max_sleep_seconds
        self.retry_seconds = retry_seconds
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Look at the challenges again now (one was created or edited). Never blocks or raises."""
        self._woken.set()

    task_name = "challenge-clock"

    def _main(self) -> Coroutine[Any, Any, None]:
        return self.run()

    async def run(self) -> None:
        while True:
            await self._wait(await self.step())

    async def step(self) -> float:
        """Run what is due now; the seconds to sleep until the next boundary (capped)."""
        # Cleared before reading: a wake that arrives while this step runs makes the next wait return.
        self._woken.clear()
        try:
            now = self.clock()
            acted = bool(await self.lifecycle.start_due(now))
            acted |= bool(await self.lifecycle.finish_due(now))
            boundary = await self.lifecycle.next_boundary()
        except Exception:
            log.exception("challenge clock: run failed; retrying in %ss", self.retry_seconds)
            return self.retry_seconds
        if boundary is None:
            return self.max_sleep_seconds
        if boundary <= now and not acted:
            return self.retry_seconds  # due at this step's instant, yet nothing moved: do not spin
        # A boundary that passed while the step ran is due: no sleep then.
        delay = (boundary - self.clock()).total_seconds()
        return min(max(delay, 0.0), self.max_sleep_seconds)

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0 or self._woken.is_set():
            return
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        woken = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()


class RedisWakeups(Background):
    """Relays the Redis wake channel to a clock: subscribes (resubscribing after a lost connection, and
    waking the clock then, since a message may have been missed) and wakes it on each message."""

    def __init__(
        self, redis: Redis, prefix: str, on_wake: Callable[[], None], *, retry_seconds: float = 1.0
    ) -> None:
        self.redis = redis
        self.channel = wake_channel(prefix)
        self.on_wake = on_wake
        self.retry_seconds = retry_seconds

    task_name = "challenge-wakeups"

    def _main(self) -> Coroutine[Any, Any, None]:
        return self._run()

    async def _run(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.on_wake()
                while True:
                    # A bounded wait, shorter than the client's socket timeout: no traffic, just a poll.
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.on_wake()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("challenge wakeups: %r; resubscribing in %ss", error, self.retry_seconds)
                await asyncio.sleep(self.retry_seconds)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


class RedisWakePublisher:
    """The wake callback of API processes apart from the workers: publishes on the wake channel, in the
    background (a create or an edit is not held up, nor failed, by Redis)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.channel = wake_channel(prefix)
        self._pending: set[asyncio.Task[None]] = set()

    def __call__(self) -> None:
        task = asyncio.get_running_loop().create_task(self._publish())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self) -> None:
        try:
            await self.redis.publish(self.channel, b"wake")
        except Exception as error:  # the clocks' capped sleep catches up
            log.warning("challenge wake: could not publish (%r)", error)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


@contextlib.asynccontextmanager
async def running_clock(
    lifecycle: ChallengeLifecycle, *, redis: Redis | None = None, prefix: str = ""
) -> AsyncIterator[ChallengeClock]:
    """A started clock (it catches up at once), woken through Redis's wake channel when ``redis`` is
    given (else only by its `wake`); stopped on exit."""
    clock = ChallengeClock(lifecycle)
    wakeups = None if redis is None else RedisWakeups(redis, prefix, clock.wake)
    clock.start()
    if wakeups is not None:
        wakeups.start()
    try:
        yield clock
    finally:
        if wakeups is not None:
            await wakeups.aclose()
        await clock.aclose()
