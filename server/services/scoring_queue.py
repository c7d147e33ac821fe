"""Where validated metric batches go to be scored.

Embedded (no Redis): taskiq's in-memory broker, which scores in this process, in the background.
With Redis: the Redis stream that `gamif worker` processes read (`tasks.broker`), shared by every API
process. Either way the request that enqueued has already answered (202): a screen learns of the
result from its live deltas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker

from persistence.scoring import Submission
from server.config import Settings
from tasks.broker import ReliableStreamBroker
from tasks.scoring import ScorePayload, register_scoring

from .scoring_step import ScoringStep, from_payload, received_at_of, to_payload

# Failures that pass: connections refused, dropped or timed out (the stores restart, fail over, stall).
_TRANSIENT = (RedisError, OSError, TimeoutError, OperationalError, InterfaceError)
_RETRY_FIRST = 0.1
_RETRY_MAX = 5.0

log = logging.getLogger("gamif.scoring")


def queue_name(settings: Settings) -> str:
    return f"{settings.redis_prefix}tasks:score"


def stream_broker(settings: Settings) -> ReliableStreamBroker:
    assert settings.redis_url is not None
    return ReliableStreamBroker(
        settings.redis_url,
        queue_name=queue_name(settings),
        claim_idle_ms=settings.worker_claim_idle_ms,
        socket_timeout=4.0,  # under redis-py's 5 s default, above the 1 s blocking reads
    )


def score_payload(step: ScoringStep) -> ScorePayload:
    """The scoring task's implementation: a payload in, counts out.

    taskiq acknowledges a task even when it fails, so a batch must not fail for a passing reason: while
    PostgreSQL or Redis is unreachable (a restart, a failover, a network cut) the batch is retried here
    with backoff, its transaction rolled back each time, until it goes through. If the worker stops
    meanwhile, the batch was never acknowledged: another worker takes it over."""

    async def score(payload: dict[str, Any]) -> dict[str, int]:
        submissions, received_at = from_payload(payload), received_at_of(payload)
        delay = _RETRY_FIRST
        while True:
            try:
                result = await step.run(submissions, received_at)
            except _TRANSIENT as error:
                log.warning(
                    "scoring: a store is unavailable (%r); retrying the batch in %.1f s", error, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            duplicates = sum(1 for s in result.statuses if s.status == "duplicate")
            return {"accepted": result.accepted, "duplicates": duplicates}

    return score


class ScoringQueue:
    def __init__(self, broker: AsyncBroker, task: AsyncTaskiqDecoratedTask[[dict[str, Any]], dict[str, int]]):
        self.broker = broker
        self.task = task

    @property
    def embedded(self) -> bool:
        return isinstance(self.broker, InMemoryBroker)

    async def enqueue(self, submissions: Sequence[Submission], received_at: datetime) -> None:
        await self.task.kiq(to_payload(submissions, received_at))

    async def drain(self) -> None:
        """Wait until what this process queued in embedded mode has been scored (tests, shutdown)."""
        if isinstance(self.broker, InMemoryBroker):
            await self.broker.wait_all()


@contextlib.asynccontextmanager
async def open_queue(settings: Settings, step: ScoringStep) -> AsyncIterator[ScoringQueue]:
    broker: AsyncBroker
    if settings.redis_url is None:
        broker = InMemoryBroker()
        broker.state.score_payload = score_payload(step)
    else:
        broker = stream_broker(settings)  # this process only enqueues: `gamif worker` scores
    task = register_scoring(broker)
    await broker.startup()
    queue = ScoringQueue(broker, task)
    try:
        yield queue
    finally:
        await queue.drain()  # embedded: finish what was accepted before stopping
        await broker.shutdown()
