"""What a challenge is, as data: which teams compete, on which metrics, how they score, when, how it is
won, and what it pays. Readable by a product person; validated like the rules (unknown keys are errors).

    id: november-reviews
    name: November review sprint
    metrics: [reviews_done]
    scoring: sum                  # sum | average_per_member | points (the XP the rules award for them)
    starts_at: 2026-11-02T09:00:00+01:00
    ends_at: 2026-11-30T18:00:00+01:00
    timezone: Europe/Paris        # how times are shown; the window is the two instants above
    mode: highest                 # highest (at the end) | first_to_goal | cooperative (everyone together)
    teams: [platform, web]        # absent: every team
    rewards:
      - {rank: 1, xp: 200, badge: sprint-winner}
      - {rank: 2, xp: 100}

The window includes its start and excludes its end: an event at ``starts_at`` counts, one at
``ends_at`` does not. Late events (stamped inside the window, arriving after it) count until
``grace_seconds`` after the end, when the results are frozen.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from game.rules import RuleSet

ChallengeId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
"""A slug: it names the ``challenge:{id}`` topic and URLs."""
TeamSlug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
MetricId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
BadgeId = MetricId

MAX_GRACE_SECONDS = 7 * 86_400


class Scoring(StrEnum):
    SUM = "sum"
    """A team's score is the sum of its members' values of the metrics."""
    AVERAGE_PER_MEMBER = "average_per_member"
    """The sum divided by the team's member count (so a big team has no edge)."""
    POINTS = "points"
    """The XP the rules award for the metrics' events (caps and tiers included)."""


class Mode(StrEnum):
    HIGHEST = "highest"
    """The highest score when the window ends wins."""
    FIRST_TO_GOAL = "first_to_goal"
    """The first team to reach ``goal`` wins; the others rank by score."""
    COOPERATIVE = "cooperative"
    """Every eligible team together against ``goal``: all win, or none."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Reward(_Model):
    xp: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    badge: BadgeId | None = None
    """A badge of the rules, earned by each member of the rewarded team."""

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.xp == 0 and self.badge is None:
            raise ValueError("a reward needs xp, a badge, or both")
        return self


class RankReward(Reward):
    rank: Annotated[int, Field(ge=1, le=100)]
    """Paid to each member of the teams at this rank (tied teams share a rank, and each is paid)."""


class ChallengeDefinition(_Model):
    id: ChallengeId
    name: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=2000)] = ""
    metrics: Annotated[tuple[MetricId, ...], Field(min_length=1, max_length=10)]
    scoring: Scoring = Scoring.SUM
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    timezone: str = "UTC"
    mode: Mode = Mode.HIGHEST
    goal: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    teams: Annotated[tuple[TeamSlug, ...], Field(min_length=2, max_length=100)] | None = None
    """The competing teams; absent: every team (two at least when the challenge starts)."""
    min_members: Annotated[int, Field(ge=1, le=10_000)] = 1
    """A team with fewer members when the challenge starts does not take part."""
    rewards: Annotated[tuple[RankReward, ...], Field(max_length=100)] = ()
    completion_reward: Reward | None = None
    """Paid to each member of every team that reaches ``goal`` (first_to_goal, cooperative)."""
    grace_seconds: Annotated[int, Field(ge=0, le=MAX_GRACE_SECONDS)] = 3_600

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a zone directory such as "America" is found but is not a zone.
            raise ValueError(f"unknown timezone {value!r} (an IANA name, e.g. Europe/Paris)") from None
        return value

    @field_validator("metrics", "teams")
    @classmethod
    def _distinct(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each may appear once")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise _FieldError("ends_at", "must be after starts_at")
        if self.mode is Mode.HIGHEST:
            if self.goal is not None:
                raise _FieldError("goal", "only first_to_goal and cooperative challenges have a goal")
            if self.completion_reward is not None:
                raise _FieldError("completion_reward", "only challenges with a goal pay for completing")
        elif self.goal is None:
            raise _FieldError("goal", f"a {self.mode.value} challenge needs a goal")
        if self.mode is Mode.COOPERATIVE and self.rewards:
            raise _FieldError("rewards", "a cooperative challenge has no ranks: use completion_reward")
        ranks = [reward.rank for reward in self.rewards]
        if len(set(ranks)) != len(ranks):
            raise _FieldError("rewards", "each rank may be rewarded once")
        return self

    @property
    def closes_at(self) -> datetime:
        """When late events stop counting and the results are frozen."""
        return self.ends_at + timedelta(seconds=self.grace_seconds)

    def counts_at(self, occurred_at: datetime) -> bool:
        """Whether an event stamped ``occurred_at`` is inside the window (start included, end not)."""
        return self.starts_at <= occurred_at < self.ends_at


class _FieldError(ValueError):
    """A cross-field problem, naming the field it is about (pydantic reports it at the model's root;
    `check` moves it to the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ChallengeProblem(_Model):
    field: str
    """Dotted path in the definition: ``ends_at``, ``metrics.1``, ``rewards.0.badge``."""
    message: str


def check(definition: ChallengeDefinition, rules: RuleSet) -> list[ChallengeProblem]:
    """What the rules say is wrong with a structurally valid definition: unknown metrics and badges."""
    problems = [
        ChallengeProblem(field=f"metrics.{index}", message=f"unknown metric {metric!r}")
        for index, metric in enumerate(definition.metrics)
        if metric not in rules.metrics
    ]
    for index, reward in enumerate(definition.rewards):
        if reward.badge is not None and reward.badge not in rules.badges:
            problems.append(
                ChallengeProblem(field=f"rewards.{index}.badge", message=f"unknown badge {reward.badge!r}")
            )
    completion = definition.completion_reward
    if completion is not None and completion.badge is not None and completion.badge not in rules.badges:
        problems.append(
            ChallengeProblem(field="completion_reward.badge", message=f"unknown badge {completion.badge!r}")
        )
    return problems
