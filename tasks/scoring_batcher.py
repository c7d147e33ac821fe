"""Group scoring: the queued batches a worker holds at once are scored in one transaction.

A worker runs several scoring tasks at a time (``gamif worker --concurrency``). Each hands its batch to
the process's `ScoringBatcher` and waits; the batcher scores everything waiting as one group, one
transaction, while the next group gathers (two groups at a time: one computes while the other waits on
the stores). When the queue is quiet a batch is scored the moment it
arrives (a group of one: no added wait); under load, groups grow, and what a transaction costs per
player (locking and rewriting the state row, the live document diff, the leaderboard update) is paid
once per group instead of once per queued batch.

Sliced (``split_batches``, the embedded server's): no transaction scores more than ``max_events`` events,
a larger batch being scored in slices, one transaction each, and the event loop gets control between
groups. The server that scores embedded also serves the WebSockets on that loop: a slice bounds how long
scoring holds it (`gamif load embedded-ingest` measures it). Nothing else changes: each event is scored
once whatever its slice (idempotent per event id; the engine's result does not depend on the batching),
and a batch still succeeds, or fails for its dead letter, as a whole (the slices it committed before a
failure count once when it is replayed).

Each task returns only once its group has committed, so its queue message is acknowledged after the
commit (at-least-once; scoring is idempotent per event id). The retry policy:

- a store that is down (a restart, a failover) or a deadlock: the group waits and retries with backoff,
  rolled back each time, without limit (its events were accepted: giving up would lose them); every
  attempt logs a warning with its count, and an error once the outage lasts ``ALERT_AFTER_S``;
- any other failure: a group of several batches is split, and each batch is scored on its own, so a
  bad batch fails alone; a batch that still fails after ``max_attempts`` attempts raises `Unscorable`,
  for the task to put it in the dead-letter stream (`tasks.scoring`) instead of retrying it forever.

How well arrivals are grouped shows in an info line at most every ``STATS_SECONDS`` while the worker
scores (`GroupStats`): events, groups, their mean and largest size, and the queued batches they came
from. Counted as groups commit, written by the commit that ends the window: no timer, nothing when idle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from persistence.scoring import ScoreResult, Submission
from server.backoff import Backoff
from server.services.store_outage import describe, worth_retrying
from tasks.scoring import Unscorable
from tasks.scoring_step import ScoringStep

transient = worth_retrying
"""Whether scoring the group again later will do (`server.services.store_outage.worth_retrying`)."""

_RETRY_FIRST = 0.1
_RETRY_MAX = 5.0
ALERT_AFTER_S = 60.0
"""A batch held up by a store outage this long logs errors rather than warnings: alert on them."""

STATS_SECONDS = 10.0
"""How often, at most, the group statistics are logged (`GroupStats`)."""

log = logging.getLogger("gamif.scoring")


@dataclass(slots=True)
class GroupStats:
    """The committed groups of one window, for the periodic info line: per-event arrivals that the
    batcher gathers into large transactions show as many batches per group, a quiet queue as groups of
    one batch. A window opens with the first group after the last line and is written by the first
    group that commits ``every`` seconds or more after it opened (so a worker that scores nothing
    writes nothing, and the line says over how long its counts are)."""

    every: float = STATS_SECONDS
    clock: Callable[[], float] = time.monotonic
    opened: float | None = None
    events: int = 0
    groups: int = 0
    batches: int = 0
    largest: int = 0

    def committed(self, events: int, batches: int) -> None:
        now = self.clock()
        if self.opened is not None and now - self.opened >= self.every:
            self._write(now - self.opened)
        if self.opened is None:
            self.opened = now
        self.events += events
        self.groups += 1
        self.batches += batches
        self.largest = max(self.largest, events)

    def _write(self, seconds: float) -> None:
        log.info(
            "scoring: %d events in %d groups (mean %.1f, max %d per group) from %d queued batches, "
            "in the last %.0f s",
            self.events,
            self.groups,
            self.events / self.groups,
            self.largest,
            self.batches,
            seconds,
        )
        self.opened, self.events, self.groups, self.batches, self.largest = None, 0, 0, 0, 0


def _future() -> asyncio.Future[ScoreResult]:
    return asyncio.get_running_loop().create_future()


@dataclass(slots=True)
class _Waiting:
    submissions: Sequence[Submission]
    received_at: datetime
    done: asyncio.Future[ScoreResult] = field(default_factory=_future)
    taken: int = 0
    """Submissions handed to groups so far (all of them, unless the batch is being scored in slices)."""
    parts: dict[int, ScoreResult] = field(default_factory=dict)
    """The results of its slices scored so far, by where each starts."""

    def finish(self, start: int, result: ScoreResult) -> None:
        """One slice committed: the batch is done when every slice is."""
        if self.done.done():  # another slice of it failed: the batch failed
            return
        self.parts[start] = result
        if sum(len(part.statuses) for part in self.parts.values()) == len(self.submissions):
            self.done.set_result(_join([self.parts[key] for key in sorted(self.parts)]))

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


@dataclass(frozen=True, slots=True)
class _Part:
    """What of a waiting batch a group scores: all of it, or a slice."""

    item: _Waiting
    start: int
    end: int

    @property
    def submissions(self) -> Sequence[Submission]:
        item = self.item
        return (
            item.submissions
            if (self.start, self.end) == (0, len(item.submissions))
            else (item.submissions[self.start : self.end])
        )


class ScoringBatcher:
    """Scores batches in groups of up to ``max_events`` events (a larger batch is a group of its own, or,
    with ``split_batches``, scored in slices of ``max_events``)."""

    def __init__(
        self,
        step: ScoringStep,
        max_events: int = 20_000,
        in_flight: int = 2,
        max_attempts: int = 5,
        *,
        split_batches: bool = False,
    ) -> None:
        self.step = step
        self.max_events = max_events
        self.split_batches = split_batches
        self.max_attempts = max_attempts
        """Attempts at a batch that fails for another reason than a store outage before it is given up
        (`Unscorable`)."""
        self.in_flight = in_flight
        """Groups scored at once: while one waits on the database or Redis, the next computes (two
        groups with players in common still apply one after the other, on the players' row locks)."""
        self._waiting: list[_Waiting] = []
        self._runners: set[asyncio.Task[None]] = set()
        self.groups = 0
        """Groups scored so far (transactions committed, for the logs and tests)."""
        self.stats = GroupStats()

    async def score(self, submissions: Sequence[Submission], received_at: datetime) -> ScoreResult:
        """Score one queued batch with whatever else is waiting; its own statuses, in its order."""
        waiting = _Waiting(submissions, received_at)
        self._waiting.append(waiting)
        # done(), not the set's size: a finished runner leaves the set only when its callback runs.
        if sum(not runner.done() for runner in self._runners) < self.in_flight:
            runner = asyncio.create_task(self._run())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        return await asyncio.shield(waiting.done)  # a cancelled task must not cancel its group

    async def _run(self) -> None:
        while self._waiting:
            group = self._take()
            try:
                results = await self._score_group(group)
            except BaseException as error:  # cancelled (the worker stops): so are the waiting tasks
                for part in group:
                    self._give_up(part.item, error)
                raise
            for part, result in zip(group, results, strict=True):
                if isinstance(result, BaseException):
                    self._give_up(part.item, result)
                else:
                    part.item.finish(part.start, result)
            if self.split_batches:
                # Control to the loop between groups, however little the stores made this one wait.
                await asyncio.sleep(0)

    def _give_up(self, item: _Waiting, error: BaseException) -> None:
        """A batch failed: so does the rest of it, not scored yet (it is dead-lettered whole)."""
        item.fail(error)
        if item in self._waiting:
            self._waiting.remove(item)

    def _take(self) -> list[_Part]:
        group: list[_Part] = []
        size = 0
        while self._waiting and size < self.max_events:
            item = self._waiting[0]
            left = len(item.submissions) - item.taken
            if group and size + left > self.max_events and not self.split_batches:
                break
            count = left if not self.split_batches else min(left, self.max_events - size)
            group.append(_Part(item, item.taken, item.taken + count))
            item.taken += count
            size += count
            if item.taken == len(item.submissions):
                self._waiting.pop(0)
        return group

    async def _score_group(self, group: list[_Part]) -> Sequence[ScoreResult | Exception]:
        submissions = [s for part in group for s in part.submissions]
        # The group's time: its ledger lines' and badges' (each event keeps its own received_at).
        now = max(part.item.received_at for part in group)
        try:
            # A group of several batches is split at its first failure that is not an outage.
            if len(group) == 1:
                result = await self._with_retries(submissions, now, self.max_attempts)
            else:
                result = await self._with_retries(submissions, now, 1, split=True)
        except Exception as error:
            if len(group) == 1:
                return [error]
            log.warning(
                "scoring: a group of %d batches failed (%s); scoring them one by one",
                len(group),
                describe(error),
            )
            return [await self._alone(part) for part in group]
        self.groups += 1
        self.stats.committed(len(submissions), len(group))
        return _split(result, [part.end - part.start for part in group])

    async def _alone(self, part: _Part) -> ScoreResult | Exception:
        try:
            result = await self._with_retries(part.submissions, part.item.received_at, self.max_attempts)
        except Exception as error:  # this batch's own failure, for its own task
            return error
        self.groups += 1
        self.stats.committed(part.end - part.start, 1)
        return result

    async def _with_retries(
        self, submissions: Sequence[Submission], now: datetime, attempts: int, *, split: bool = False
    ) -> ScoreResult:
        """Score, retrying with backoff (rolled back each time): while a store is unavailable without
        limit; after another failure up to ``attempts`` attempts in all, then `Unscorable` (or, for a
        group that will be split, ``split``, the failure itself)."""
        backoff = Backoff(_RETRY_FIRST, _RETRY_MAX)
        started = time.monotonic()
        attempt = failures = 0
        while True:
            attempt += 1
            try:
                return await self.step.run(submissions, now)
            except Exception as error:
                waited = time.monotonic() - started
                delay = backoff.step()
                if transient(error):
                    level = logging.ERROR if waited >= ALERT_AFTER_S else logging.WARNING
                    log.log(
                        level,
                        "scoring: a store is unavailable or busy (%s); %d events waiting for %.0f s, "
                        "attempt %d, retrying in %.1f s",
                        describe(error),
                        len(submissions),
                        waited,
                        attempt,
                        delay,
                    )
                else:
                    failures += 1
                    if failures >= attempts:
                        if split:
                            raise
                        log.error(
                            "scoring: a batch of %d events failed %d times (%s): giving it up",
                            len(submissions),
                            failures,
                            describe(error),
                            exc_info=error,
                        )
                        raise Unscorable(describe(error), failures) from error
                    log.warning(
                        "scoring: a batch of %d events failed (%s); attempt %d of %d, retrying in %.1f s",
                        len(submissions),
                        describe(error),
                        failures,
                        attempts,
                        delay,
                    )
                await asyncio.sleep(delay)


def _split(result: ScoreResult, sizes: list[int]) -> list[ScoreResult]:
    """The group's result as each batch's: its statuses, and the outcomes of the group."""
    parts, start = [], 0
    for size in sizes:
        parts.append(ScoreResult(result.statuses[start : start + size], result.outcomes, result.rule_version))
        start += size
    return parts


def _join(parts: list[ScoreResult]) -> ScoreResult:
    """A batch scored in slices: its statuses in order, and each user's latest outcome (the state it
    was left in; only counts are read from a joined result)."""
    if len(parts) == 1:
        return parts[0]
    outcomes = {}
    for part in parts:
        outcomes.update(part.outcomes)
    return ScoreResult([s for part in parts for s in part.statuses], outcomes, parts[-1].rule_version)
