"""The scoring step, shared by the ingest request and the workers: score validated events in one
transaction, recording their challenge scores (`server.services.challenges.scoring`) and pushing the results
live (see `server.services.scoring.live`) inside it, taking the push back if the transaction fails, and
telling the challenge scoreboard after the commit. Also the queue's payload: validated events as plain JSON
data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from game import MetricEvent
from persistence.models import utcnow
from persistence.scoring import ScoredBatch, Scorer, ScoreResult, Submission
from server.hub.publish import Publisher
from server.services.challenges.notify import ChallengeNotifier, NoNotifier
from server.services.challenges.scoring import ChallengeScoring
from server.services.scoring.live import ScoringPush
from server.services.scoring.rules import RulesService


class BoardRecorder(Protocol):
    """Told each committed batch once: `LiveBoards` (on Redis) records it in the Redis boards,
    `EmbeddedBoards` marks the leaderboard topics it changed."""

    async def record(
        self, submissions: Sequence[Submission], result: ScoreResult, received_at: datetime
    ) -> None: ...


class ScoringStep:
    """``boards``: the leaderboards told of each committed batch (`BoardRecorder`); ``notifier``: told
    which challenges' scores each committed batch changed."""

    def __init__(
        self,
        scorer: Scorer,
        rules: RulesService,
        publisher: Publisher | None,
        boards: BoardRecorder | None = None,
        notifier: ChallengeNotifier | None = None,
    ) -> None:
        self.scorer = scorer
        self.rules = rules
        self.publisher = publisher
        self.boards = boards
        self.notifier: ChallengeNotifier = notifier or NoNotifier()

    async def run(self, submissions: Sequence[Submission], now: datetime | None = None) -> ScoreResult:
        engine = await self.rules.engine()
        received_at = now or utcnow()  # also the ledger lines' created_at
        challenges = ChallengeScoring()
        push = None if self.publisher is None else ScoringPush(self.publisher)

        async def before_commit(batch: ScoredBatch) -> None:
            # Both inside the transaction; the challenge scores first, so the push is the last step
            # before the commit (nothing published for a batch that fails recording them).
            await challenges(batch)
            if push is not None:
                await push(batch)

        try:
            result = await self.scorer.score(engine, submissions, received_at, before_commit=before_commit)
        except BaseException:
            if push is not None:
                await push.undo()  # published, then not committed: screens must reload those topics
            raise
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
