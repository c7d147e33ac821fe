"""Badges and the criteria that earn them.

A criterion is one of a small set of kinds, written as data:

- ``metric_total``: the total of a metric's values reaches ``threshold``;
- ``event_count``: the number of events (of one metric, or of any) reaches ``count``;
- ``streak``: a streak (see ``streaks``) reaches ``days`` days;
- ``level``: the user reaches ``level``;
- ``badge``: another badge is earned (optionally at least a given tier);
- ``all`` / ``any``: every one / at least one of a list of criteria;
- ``granted``: never earned by activity; a mission hands it out as a reward.

A tiered badge leaves the goal of its criterion out and lists one goal per tier instead.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from .base import Rule, RuleId

Goal = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Period = Literal["daily", "weekly", "monthly"]


class MetricTotal(Rule):
    kind: Literal["metric_total"]
    metric: RuleId
    threshold: Goal | None = None


class EventCount(Rule):
    kind: Literal["event_count"]
    metric: RuleId | None = Field(default=None, description="leave out to count events of every metric")
    count: Annotated[int, Field(ge=1)] | None = None


class StreakDays(Rule):
    kind: Literal["streak"]
    streak: RuleId
    days: Annotated[int, Field(ge=1)] | None = None


class LevelReached(Rule):
    kind: Literal["level"]
    level: Annotated[int, Field(ge=2)] | None = None


class BadgeEarned(Rule):
    kind: Literal["badge"]
    badge: RuleId
    tier: str | None = None


class AllOf(Rule):
    kind: Literal["all"]
    of: list[Criterion] = Field(min_length=1)


class AnyOf(Rule):
    kind: Literal["any"]
    of: list[Criterion] = Field(min_length=1)


class Granted(Rule):
    kind: Literal["granted"]


Criterion = Annotated[
    MetricTotal | EventCount | StreakDays | LevelReached | BadgeEarned | AllOf | AnyOf | Granted,
    Field(discriminator="kind"),
]
GoalCriterion = MetricTotal | EventCount | StreakDays | LevelReached
PERIOD_SCOPED = (MetricTotal, EventCount)


def goal_of(criterion: GoalCriterion) -> float | None:
    """The number a goal-bearing criterion asks for (None when tiers give it)."""
    match criterion:
        case MetricTotal():
            return criterion.threshold
        case EventCount():
            return criterion.count
        case StreakDays():
            return criterion.days
        case LevelReached():
            return criterion.level


class BadgeRule(Rule):
    name: str
    description: str = ""
    icon: str | None = None
    criteria: Criterion
    tiers: dict[str, Goal] | None = Field(default=None, min_length=1)
    secret: bool = Field(default=False, description="hidden from the user until earned")
    repeat: Period | None = Field(
        default=None, description="earnable again each period (counts only that period)"
    )
    xp: Annotated[int, Field(ge=0)] = Field(
        default=0, description="XP granted each time it is earned (per tier)"
    )

    @model_validator(mode="after")
    def _goals(self) -> Self:
        criterion = self.criteria
        if isinstance(criterion, GoalCriterion):
            goal = goal_of(criterion)
            if self.tiers is None and goal is None:
                raise ValueError(f"criteria of kind {criterion.kind!r} need a goal, or the badge needs tiers")
            if self.tiers is not None and goal is not None:
                raise ValueError("a tiered badge takes its goals from tiers: leave the goal out of criteria")
        elif self.tiers is not None:
            raise ValueError(f"tiers need a criterion with a goal, not kind {criterion.kind!r}")
        if self.tiers is not None:
            goals = list(self.tiers.values())
            if any(b <= a for a, b in itertools.pairwise(goals)):
                raise ValueError(
                    f"tier goals must increase from the first tier to the last, got {self.tiers}"
                )
        if self.repeat is not None and not isinstance(criterion, PERIOD_SCOPED):
            raise ValueError(
                "a repeatable badge needs a metric_total or event_count criterion (counted per period)"
            )
        return self


AllOf.model_rebuild()
AnyOf.model_rebuild()
