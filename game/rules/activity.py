"""Streak definitions and time-boxed XP boosts."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AwareDatetime, Field, model_validator

from .base import Rule, RuleId


class StreakRule(Rule):
    """Consecutive active days in the user's timezone.

    A day is active when the user logs at least `min_events` events of the streak's metrics that day.
    `freezes` is how many missed days in a row a streak survives (2 lets a weekend pass); missed days
    keep a streak alive but do not lengthen it. The length of a streak is its number of active days.
    """

    name: str
    description: str = ""
    metrics: list[RuleId] | None = Field(
        default=None, min_length=1, description="leave out: any metric counts"
    )
    min_events: Annotated[int, Field(ge=1)] = 1
    freezes: Annotated[int, Field(ge=0, le=365)] = 0


class BoostRule(Rule):
    """Multiplies the XP of events that occurred in [starts, ends). Boosts do not stack: the largest wins."""

    name: str
    multiplier: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
    metrics: list[RuleId] | None = Field(default=None, min_length=1, description="leave out: every metric")
    starts: AwareDatetime
    ends: AwareDatetime

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.ends <= self.starts:
            raise ValueError(
                f"ends ({self.ends.isoformat()}) must be after starts ({self.starts.isoformat()})"
            )
        return self
