"""The scoring task: one batch of validated metric events, scored in one transaction.

The task itself is plumbing: it hands its payload to ``state.score_payload``, the scoring step the
worker process set up at start (`tasks.worker`), so that this layer needs nothing of the server's.

Nothing accepted is lost: taskiq acknowledges a task that raised, so this task acknowledges its message
itself (``ack_type`` manual), and only once the batch has committed, or has been written to the
dead-letter stream because it cannot be scored (`Unscorable`, or a payload that does not decode). A
task that ends any other way (its worker is stopped or killed) leaves its message pending, and another
worker claims it (`tasks.broker`). Delivery is therefore at-least-once; scoring is idempotent per event
id, so a batch that runs twice counts once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, Context, TaskiqDepends
from taskiq.acks import AcknowledgeType

from .broker import ReliableStreamBroker

SCORE_EVENTS = "gamif.score_events"

ScorePayload = Callable[[dict[str, Any]], Awaitable[dict[str, int]]]
"""What a worker's ``state.score_payload`` is: scores a payload, returns counts (accepted, duplicates)."""

log = logging.getLogger("gamif.scoring")


class Unscorable(Exception):
    """A batch that failed ``attempts`` times for another reason than a store being down: retrying it
    will not help; it goes to the dead-letter stream, where an admin can see it and replay it (`gamif
    queue`) once the cause is fixed."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


def register_scoring(broker: AsyncBroker) -> AsyncTaskiqDecoratedTask[[dict[str, Any]], dict[str, int]]:
    # The label travels with each message; `gamif worker` also runs with manual acks for every task.
    @broker.task(task_name=SCORE_EVENTS, ack_type=AcknowledgeType.MANUAL.value)
    async def score_events(payload: dict[str, Any], context: Context = TaskiqDepends()) -> dict[str, int]:
        score: ScorePayload = context.state.score_payload
        try:
            counts = await score(payload)
        except Unscorable as error:
            counts = await _dead_letter(context, payload, error.reason, error.attempts)
        except Exception as error:
            # Not an outage (the scoring step waits those out): a payload that does not decode, say.
            # Raising would leave the message to be claimed and fail again, forever.
            log.exception("scoring: a batch failed")
            counts = await _dead_letter(
                context, payload, f"{type(error).__name__}: {error}".splitlines()[0], 1
            )
        if context.is_ackable:
            await context.ack()  # committed or dead-lettered: only now (`ReliableStreamBroker` retries it)
        return counts

    return score_events  # type: ignore[return-value]


async def _dead_letter(
    context: Context, payload: dict[str, Any], reason: str, attempts: int
) -> dict[str, int]:
    events = payload.get("events") if isinstance(payload, dict) else None
    count = len(events) if isinstance(events, list) else 0
    broker = context.broker
    if not isinstance(broker, ReliableStreamBroker):
        # A broker with no dead-letter stream. Not gamif's embedded one: its scoring function keeps the
        # batches it cannot score itself (`tasks.scoring_queue.embedded_score_payload`).
        log.error("scoring: a batch of %d events cannot be scored and is dropped: %s", count, reason)
        return {"accepted": 0, "duplicates": 0, "dead_lettered": count}
    raw = broker.formatter.dumps(context.message).message
    entry = await broker.dead_letter(raw, reason=reason, attempts=attempts, events=count)
    log.error(
        "scoring: a batch of %d events cannot be scored (%s, %d attempts): moved to the dead-letter stream "
        "%s as %s; see `gamif queue list`",
        count,
        reason,
        attempts,
        broker.dead_letter_name,
        entry,
    )
    return {"accepted": 0, "duplicates": 0, "dead_lettered": count}
