"""What the engine decided, and why: every effect carries an explanation a person can read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

Words = str | Callable[[], str]
"""Words, or how to render them when first read."""


class Explanation:
    """Which rule (id and rule-set version) decided, on which events, with the arithmetic in words
    (``text``), and a short human summary of the award (``summary``: "Merged a pull request",
    "Mission: Review three pull requests today"), for screens that show the arithmetic on demand.

    A summary names no date and no XP amount: a screen formats those in its viewer's locale, from the
    award's own fields. The words are rendered on first read: everything they say is fixed when the
    engine decides, but a replay or backtest that never reads them should not pay for formatting them.
    """

    __slots__ = ("_render", "_render_summary", "_summary", "_text", "event_ids", "rule_id", "rule_version")

    def __init__(
        self,
        rule_id: str,
        rule_version: int,
        event_ids: tuple[str, ...],
        text: Words,
        summary: Words = "",
    ) -> None:
        self.rule_id = rule_id
        self.rule_version = rule_version
        self.event_ids = event_ids
        self._text: str | None = text if isinstance(text, str) else None
        self._render: Callable[[], str] | None = None if isinstance(text, str) else text
        self._summary: str | None = summary if isinstance(summary, str) else None
        self._render_summary: Callable[[], str] | None = None if isinstance(summary, str) else summary

    @property
    def text(self) -> str:
        if self._text is None:
            assert self._render is not None
            self._text, self._render = self._render(), None
        return self._text

    @property
    def summary(self) -> str:
        if self._summary is None:
            assert self._render_summary is not None
            self._summary, self._render_summary = self._render_summary(), None
        return self._summary

    def _key(self) -> tuple[str, int, tuple[str, ...], str, str]:
        return (self.rule_id, self.rule_version, self.event_ids, self.text, self.summary)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Explanation) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Explanation({self.rule_id!r}, v{self.rule_version}, {self.text!r})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "event_ids": list(self.event_ids),
            "text": self.text,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class Effect:
    kind: ClassVar[str] = "effect"
    explanation: Explanation


@dataclass(frozen=True, slots=True)
class XpAwarded(Effect):
    """XP added to the user's total (0 when a cap absorbed it: the explanation says so)."""

    kind: ClassVar[str] = "xp_awarded"
    amount: int
    source: str
    """"metric", "mission", "badge", or the source of a granted reward ("challenge")."""
    metric: str | None = None
    day: str | None = None


@dataclass(frozen=True, slots=True)
class LevelUp(Effect):
    kind: ClassVar[str] = "level_up"
    level_from: int
    level_to: int
    xp: int


@dataclass(frozen=True, slots=True)
class BadgeEarned(Effect):
    kind: ClassVar[str] = "badge_earned"
    badge_id: str
    name: str
    tier: str | None
    period: str | None
    secret: bool


@dataclass(frozen=True, slots=True)
class MissionProgressed(Effect):
    kind: ClassVar[str] = "mission_progress"
    mission_id: str
    period: str
    progress: float
    goal: float
    completed: bool


@dataclass(frozen=True, slots=True)
class MissionCompleted(Effect):
    kind: ClassVar[str] = "mission_completed"
    mission_id: str
    period: str
    reward_xp: int
    reward_badge: str | None


@dataclass(frozen=True, slots=True)
class StreakExtended(Effect):
    kind: ClassVar[str] = "streak_extended"
    streak_id: str
    length: int
    best: int


@dataclass(frozen=True, slots=True)
class StreakBroken(Effect):
    """The user came back after more missed days than the streak's freezes: a new streak starts."""

    kind: ClassVar[str] = "streak_broken"
    streak_id: str
    previous_length: int


def effect_dict(effect: Effect) -> dict[str, Any]:
    """A JSON-ready form of an effect, its kind first."""
    data: dict[str, Any] = {"kind": effect.kind}
    for item in fields(effect):
        value = getattr(effect, item.name)
        data[item.name] = value.as_dict() if isinstance(value, Explanation) else value
    return data
