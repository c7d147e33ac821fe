"""A user's game state: everything the engine needs to score their next events.

Every part of the state is a function of the *set* of events applied (never of their order or of
how they were batched), which is what makes scoring order-independent and replayable. Values are
counted in thousandths of a unit ("milli-units") so that sums are exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MILLI = 1000


@dataclass(frozen=True, slots=True)
class StreakProgress:
    """Active days of one streak rule, and the current and best streak lengths (in active days)."""

    days: tuple[int, ...] = ()
    current: int = 0
    best: int = 0

    @property
    def last_day(self) -> int | None:
        return self.days[-1] if self.days else None


@dataclass(slots=True)
class UserState:
    user_id: str
    timezone: str = "UTC"
    xp: int = 0
    level: int = 1
    reward_xp: int = 0
    """XP from mission and badge rewards (the rest comes from metrics, after caps)."""
    seen: set[str] = field(default_factory=set)
    metric_totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    """metric -> (milli-units, events), all time."""
    days: dict[tuple[str, int], tuple[int, int, int]] = field(default_factory=dict)
    """(metric, local day) -> (milli-units, events, XP before the daily cap)."""
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    """window mission -> (milli-units, events) inside its window."""
    streaks: dict[str, StreakProgress] = field(default_factory=dict)
    badges: dict[str, int] = field(default_factory=dict)
    """badge -> tiers earned (1 for an untiered badge)."""
    repeat_badges: dict[tuple[str, int], int] = field(default_factory=dict)
    """(repeatable badge, period key) -> tiers earned in that period."""
    missions_done: set[tuple[str, int]] = field(default_factory=set)
    """(mission, period key) completed."""

    def copy(self) -> UserState:
        # Leaves are immutable (ints, tuples, frozen dataclasses): copying the containers suffices.
        return UserState(
            user_id=self.user_id,
            timezone=self.timezone,
            xp=self.xp,
            level=self.level,
            reward_xp=self.reward_xp,
            seen=set(self.seen),
            metric_totals=dict(self.metric_totals),
            days=dict(self.days),
            windows=dict(self.windows),
            streaks=dict(self.streaks),
            badges=dict(self.badges),
            repeat_badges=dict(self.repeat_badges),
            missions_done=set(self.missions_done),
        )

    def total(self, metric: str) -> float:
        """All-time total of a metric, in its units."""
        return self.metric_totals.get(metric, (0, 0))[0] / MILLI

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (sorted, so equal states serialise identically)."""
        return {
            "user_id": self.user_id,
            "timezone": self.timezone,
            "xp": self.xp,
            "level": self.level,
            "reward_xp": self.reward_xp,
            "seen": sorted(self.seen),
            "metric_totals": {k: list(v) for k, v in sorted(self.metric_totals.items())},
            "days": [[m, d, *v] for (m, d), v in sorted(self.days.items())],
            "windows": {k: list(v) for k, v in sorted(self.windows.items())},
            "streaks": {
                k: {"days": list(v.days), "current": v.current, "best": v.best}
                for k, v in sorted(self.streaks.items())
            },
            "badges": dict(sorted(self.badges.items())),
            "repeat_badges": [[b, p, t] for (b, p), t in sorted(self.repeat_badges.items())],
            "missions_done": [[m, p] for m, p in sorted(self.missions_done)],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState:
        return cls(
            user_id=data["user_id"],
            timezone=data["timezone"],
            xp=data["xp"],
            level=data["level"],
            reward_xp=data["reward_xp"],
            seen=set(data["seen"]),
            metric_totals={k: (v[0], v[1]) for k, v in data["metric_totals"].items()},
            days={(m, d): (u, n, x) for m, d, u, n, x in data["days"]},
            windows={k: (v[0], v[1]) for k, v in data["windows"].items()},
            streaks={
                k: StreakProgress(tuple(v["days"]), v["current"], v["best"])
                for k, v in data["streaks"].items()
            },
            badges=dict(data["badges"]),
            repeat_badges={(b, p): t for b, p, t in data["repeat_badges"]},
            missions_done={(m, p) for m, p in data["missions_done"]},
        )
