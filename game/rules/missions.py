"""Personal missions: a goal on one metric within a period, with rewards."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from .base import Rule, RuleId


class MissionRule(Rule):
    name: str
    description: str = ""
    metric: RuleId
    measure: Literal["units", "events"] = "units"
    goal: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    period: Literal["daily", "weekly", "monthly", "window"]
    starts: AwareDatetime | None = Field(default=None, description="with period: window")
    ends: AwareDatetime | None = Field(default=None, description="with period: window (exclusive)")
    reward_xp: Annotated[int, Field(ge=0)] = 0
    reward_badge: RuleId | None = None

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.period == "window":
            if self.starts is None or self.ends is None:
                raise ValueError("period: window needs both starts and ends")
            if self.ends <= self.starts:
                raise ValueError(
                    f"ends ({self.ends.isoformat()}) must be after starts ({self.starts.isoformat()})"
                )
        elif self.starts is not None or self.ends is not None:
            raise ValueError(f"starts and ends belong to period: window, not period: {self.period}")
        return self
