"""The scoring step, shared by the ingest request and the workers: score validated events in one
transaction, recording their challenge scores (`server.services.challenges.scoring`) and writing the live
changes (users' deltas; which teams and whether the feed changed) into the outbox inside it (see
`server.services.scoring.live`); after the commit, publish them through the outbox relay, and tell the
challenge scoreboard and the leaderboards. Also the queue's payload: validated events as plain JSON
data."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from game import MetricEvent
from persistence.models import utcnow
from persistence.scoring import ScoredBatch, Scorer, ScoreResult, Submission
from server.metrics.families import EVENT_PUBLISH_LATENCY, SCORING_BATCH_DURATION, SCORING_BATCH_EVENTS
from server.services.challenges.notify import ChallengeNotifier, NoNotifier
from server.services.challenges.scoring import ChallengeScoring
from server.services.scoring.live import ScoringPush
from server.services.scoring.rules import RulesService
from server.services.topics.outbox_relay import OutboxRelay


class BoardRecorder(Protocol):
    """Told each committed batch once: `LiveBoards` (on Redis) records it in the Redis boards,
    `EmbeddedBoards` marks the leaderboard topics it changed."""

    async def record(
        self, submissions: Sequence[Submission], result: ScoreResult, received_at: datetime
    ) -> None: ...


class ScoringStep:
    """``relay``: the process's outbox relay, which publishes each committed batch's live changes (None:
    nothing is pushed live, and no notification is kept); ``boards``: the leaderboards told of each
    committed batch (`BoardRecorder`); ``notifier``: told which challenges' scores each committed batch
    changed."""

    def __init__(
        self,
        scorer: Scorer,
        rules: RulesService,
        relay: OutboxRelay | None,
        boards: BoardRecorder | None = None,
        notifier: ChallengeNotifier | None = None,
    ) -> None:
        self.scorer = scorer
        self.rules = rules
        self.relay = relay
        self.boards = boards
        self.notifier: ChallengeNotifier = notifier or NoNotifier()

    async def run(self, submissions: Sequence[Submission], now: datetime | None = None) -> ScoreResult:
        engine = await self.rules.engine()
        received_at = now or utcnow()  # also the ledger lines' created_at
        challenges = ChallengeScoring()
        push = None if self.relay is None else ScoringPush()

        async def before_commit(batch: ScoredBatch) -> None:
            # Both inside the transaction; the challenge scores first, so the push is the last step
            # before the commit (nothing published for a batch that fails recording them).
            await challenges(batch)
            if push is not None:
                await push(batch)

        # If this raises, nothing was committed: no live change was published, none is left to publish.
        started = time.perf_counter()
        result = await self.scorer.score(engine, submissions, received_at, before_commit=before_commit)
        if push is not None and self.relay is not None:
            # Committed: the live changes go out now (or, if the streams are away, with a sweep).
            await self.relay.publish_committed(push.entries, push.changed)
            if push.entries:
                # One observation per ingested batch (they share their receipt time), not per event.
                published = utcnow()
                for received in {s.received_at or received_at for s in submissions}:
                    EVENT_PUBLISH_LATENCY.observe(max(0.0, (published - received).total_seconds()))
        SCORING_BATCH_EVENTS.observe(len(submissions))
        SCORING_BATCH_DURATION.observe(time.perf_counter() - started)
        if challenges.changed:
            self.notifier.changed(sorted(challenges.changed))  # committed: the scoreboard may read them
        if self.boards is not None:
            # After the commit, once: a rolled-back batch must not count, and a re-sent one is a duplicate.
            await self.boards.record(submissions, result, received_at)
        return result


def to_payload(submissions: Sequence[Submission], received_at: datetime) -> dict[str, Any]:
    """Validated events as the scoring task's argument (JSON: taskiq's default serializer), with when
    the API accepted them (the ledger's time, whenever a worker gets to them)."""
    return {
        "received_at": received_at.isoformat(),
        "events": [
            {
                "id": s.event.id,
                "user_id": s.event.user_id,
                "metric": s.event.metric,
                "value": s.event.value,
                "occurred_at": s.event.occurred_at.isoformat(),
                "source": s.event.source,
                "reported_by": s.reported_by,
                "metadata": s.meta,
            }
            for s in submissions
        ],
    }


def received_at_of(payload: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(payload["received_at"])


def from_payload(payload: dict[str, Any]) -> list[Submission]:
    received_at = received_at_of(payload)
    return [
        Submission(
            MetricEvent(
                item["id"],
                item["user_id"],
                item["metric"],
                item["value"],
                datetime.fromisoformat(item["occurred_at"]),
                item["source"],
            ),
            item["reported_by"],
            dict(item.get("metadata") or {}),
            received_at,
        )
        for item in payload["events"]
    ]
