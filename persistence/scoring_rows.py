"""The rows the engine's effects become: ledger lines, earned badges and mission progress.

One mapping for every writer of effects (a scoring batch, `persistence.scoring`; a challenge's rewards,
`persistence.challenge_results`), so an award reads the same in the ledger whoever decided it. What
is not stored as a row (a level-up, a streak) lives in the user's state.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from game import BadgeEarned, Effect, MissionProgressed, XpAwarded

from .scoring_writes import Row, ScoringWrites

BadgeRowKey = tuple[str, str, str]
"""An earned badge's identity within its user: badge id, tier, period (``""`` when none)."""


@dataclass(slots=True)
class EffectRows:
    """The rows of a transaction's effects, collected user by user, then written in bulk."""

    ledger: list[Row] = field(default_factory=list)
    """One line per non-zero XP award (a cap that absorbed it all leaves no line)."""
    badges: list[Row] = field(default_factory=list)
    missions: dict[tuple[uuid.UUID, str, str], Row] = field(default_factory=dict)
    """By user, mission and period: the last progress of a mission in the batch is what it stands at."""

    def add(self, user_id: uuid.UUID, effects: Iterable[Effect], now: datetime) -> None:
        """Collect the rows of one user's ``effects``, stamped ``now`` (the transaction's time)."""
        for effect in effects:
            explanation = effect.explanation
            if isinstance(effect, XpAwarded) and effect.amount:
                self.ledger.append(
                    {
                        "user_id": user_id,
                        "amount": effect.amount,
                        "source": effect.source,
                        "metric": effect.metric,
                        "day": effect.day,
                        "rule_id": explanation.rule_id,
                        "rule_version": explanation.rule_version,
                        "explanation": explanation.text,
                        "summary": explanation.summary or None,
                        "event_ids": list(explanation.event_ids),
                        "created_at": now,
                    }
                )
            elif isinstance(effect, BadgeEarned):
                self.badges.append(
                    {
                        "user_id": user_id,
                        "badge_id": effect.badge_id,
                        "tier": effect.tier or "",
                        "period": effect.period or "",
                        "secret": effect.secret,
                        "rule_version": explanation.rule_version,
                        "explanation": explanation.text,
                        "summary": explanation.summary or None,
                        "earned_at": now,
                    }
                )
            elif isinstance(effect, MissionProgressed):
                self.missions[user_id, effect.mission_id, effect.period] = {
                    "user_id": user_id,
                    "mission_id": effect.mission_id,
                    "period": effect.period,
                    "progress": effect.progress,
                    "goal": effect.goal,
                    "completed_at": now if effect.completed else None,
                    "updated_at": now,
                }

    async def write(self, session: AsyncSession, writes: ScoringWrites) -> dict[str, set[BadgeRowKey]]:
        """Insert what was collected (after the users' states); by user id (text), the badges this write
        inserted (a badge earned already, by a concurrent transaction, is not inserted twice)."""
        if self.ledger:
            await writes.insert_ledger(session, self.ledger)
        new_badges: dict[str, set[BadgeRowKey]] = defaultdict(set)
        if self.badges:
            for user_id, badge_id, tier, period in await writes.insert_badges(session, self.badges):
                new_badges[str(user_id)].add((badge_id, tier, period))
        if self.missions:
            await writes.upsert_missions(session, list(self.missions.values()))
        return new_badges


__all__ = ["BadgeRowKey", "EffectRows"]
