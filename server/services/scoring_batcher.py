"""Group scoring: the queued batches a worker holds at once are scored in one transaction.

A worker runs several scoring tasks at a time (``gamif worker --concurrency``). Each hands its batch to
the process's `ScoringBatcher` and waits; the batcher scores everything waiting as one group, one
transaction, while the next group gathers (two groups at a time: one computes while the other waits on
the stores). When the queue is quiet a batch is scored the moment it
arrives (a group of one: no added wait); under load, groups grow, and what a transaction costs per
player (locking and rewriting the state row, the live document diff, the leaderboard update) is paid
once per group instead of once per queued batch.

Each task returns only once its group has committed, so its queue message is acknowledged after the
commit (at-least-once; scoring is idempotent per event id). A store that is down (a restart, a
failover) makes the group wait and retry, rolled back each time, until it goes through. A group that
fails for another reason is split: each batch is scored on its own, so a bad batch fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from persistence.scoring import ScoreResult, Submission

from .scoring_step import ScoringStep

# Failures that pass: connections refused, dropped or timed out (the stores restart, fail over, stall).
TRANSIENT = (RedisError, OSError, TimeoutError, OperationalError, InterfaceError)
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
"""A deadlock or a serialization failure: the database rolled the transaction back; running it again
succeeds (the batch must be retried, never dropped: its events were accepted)."""


def transient(error: BaseException) -> bool:
    """Whether scoring the group again later will do: a store was unavailable, or the database chose
    this transaction to break a deadlock."""
    if isinstance(error, TRANSIENT):
        return True
    if isinstance(error, DBAPIError):
        return getattr(error.orig, "sqlstate", None) in RETRY_SQLSTATES
    return False


_RETRY_FIRST = 0.1
_RETRY_MAX = 5.0

log = logging.getLogger("gamif.scoring")


def _future() -> asyncio.Future[ScoreResult]:
    return asyncio.get_running_loop().create_future()


@dataclass(slots=True)
class _Waiting:
    submissions: Sequence[Submission]
    received_at: datetime
    done: asyncio.Future[ScoreResult] = field(default_factory=_future)


class ScoringBatcher:
    """Scores batches in groups of up to ``max_events`` events (a larger batch is a group of its own)."""

    def __init__(self, step: ScoringStep, max_events: int = 20_000, in_flight: int = 2) -> None:
        self.step = step
        self.max_events = max_events
        self.in_flight = in_flight
        """Groups scored at once: while one waits on the database or Redis, the next computes (two
        groups with players in common still apply one after the other, on the players' row locks)."""
        self._waiting: list[_Waiting] = []
        self._runners: set[asyncio.Task[None]] = set()
        self.groups = 0
        """Groups scored so far (transactions committed, for the logs and tests)."""

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
                for item in group:
                    item.done.set_exception(error)
                raise
            for item, result in zip(group, results, strict=True):
                if isinstance(result, BaseException):
                    item.done.set_exception(result)
                else:
                    item.done.set_result(result)

    def _take(self) -> list[_Waiting]:
        group: list[_Waiting] = []
        size = 0
        while self._waiting:
            count = len(self._waiting[0].submissions)
            if group and size + count > self.max_events:
                break
            group.append(self._waiting.pop(0))
            size += count
        return group

    async def _score_group(self, group: list[_Waiting]) -> Sequence[ScoreResult | Exception]:
        submissions = [s for item in group for s in item.submissions]
        # The group's time: its ledger lines' and badges' (each event keeps its own received_at).
        now = max(item.received_at for item in group)
        try:
            result = await self._with_retries(submissions, now)
        except Exception as error:
            if len(group) == 1:
                return [error]
            log.exception("scoring: a group of %d batches failed; scoring them one by one", len(group))
            return [await self._alone(item) for item in group]
        self.groups += 1
        return _split(result, [len(item.submissions) for item in group])

    async def _alone(self, item: _Waiting) -> ScoreResult | Exception:
        try:
            result = await self._with_retries(item.submissions, item.received_at)
        except Exception as error:  # this batch's own failure, for its own task
            return error
        self.groups += 1
        return result

    async def _with_retries(self, submissions: Sequence[Submission], now: datetime) -> ScoreResult:
        """Score, retrying with backoff while a store is unreachable (rolled back each time)."""
        delay = _RETRY_FIRST
        while True:
            try:
                return await self.step.run(submissions, now)
            except Exception as error:
                if not transient(error):
                    raise
                log.warning("scoring: a store is unavailable or busy (%r); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)


def _split(result: ScoreResult, sizes: list[int]) -> list[ScoreResult]:
    """The group's result as each batch's: its statuses, and the outcomes of the group."""
    parts, start = [], 0
    for size in sizes:
        parts.append(ScoreResult(result.statuses[start : start + size], result.outcomes, result.rule_version))
        start += size
    return parts
