"""The scoring task: one batch of validated metric events, scored in one transaction.

The task itself is plumbing: it hands its payload to ``state.score_payload``, the scoring step the
worker process set up at start (`server.worker`), so that this layer needs nothing of the server's.
Delivery is at-least-once (`tasks.broker`); scoring is idempotent per event id, so a batch that runs
twice counts once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, Context, TaskiqDepends

SCORE_EVENTS = "gamif.score_events"

ScorePayload = Callable[[dict[str, Any]], Awaitable[dict[str, int]]]
"""What a worker's ``state.score_payload`` is: scores a payload, returns counts (accepted, duplicates)."""


def register_scoring(broker: AsyncBroker) -> AsyncTaskiqDecoratedTask[[dict[str, Any]], dict[str, int]]:
    @broker.task(task_name=SCORE_EVENTS)
    async def score_events(payload: dict[str, Any], context: Context = TaskiqDepends()) -> dict[str, int]:
        score: ScorePayload = context.state.score_payload
        return await score(payload)

    return score_events  # type: ignore[return-value]
