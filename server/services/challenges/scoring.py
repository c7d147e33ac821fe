"""Challenge scores in the scoring transaction: the before-commit hook that adds a batch's accepted events
to the challenges they count for (`persistence.challenge_scores`), and remembers which challenges changed
so that the caller tells the scoreboard once the transaction has committed.

Use one per scoring call, like `ScoringPush`::

    record = ChallengeScoring()
    result = await scorer.score(engine, submissions, now, before_commit=record)
    notifier.changed(record.changed)  # after the commit only: a rolled-back batch changed nothing
"""

from __future__ import annotations

from persistence import challenge_scores
from persistence.scoring import ScoredBatch


class ChallengeScoring:
    """The before-commit hook (`persistence.scoring.BeforeCommit`) recording challenge scores."""

    def __init__(self) -> None:
        self.changed: set[str] = set()
        """The ids of the challenges whose scores the batch changed (valid once the transaction commits)."""

    async def __call__(self, batch: ScoredBatch) -> None:
        users = [
            challenge_scores.ScoredEvents(user.events, user.outcome.effects) for user in batch.users.values()
        ]
        self.changed = await challenge_scores.record(batch.session, batch.engine.rules, users, batch.now)
