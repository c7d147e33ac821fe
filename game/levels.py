"""Level arithmetic on a rule set's threshold table."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LevelProgress:
    """Where a user stands: level, XP into it, and what the next level needs (None at the top)."""

    level: int
    xp: int
    level_xp: int
    next_level_xp: int | None

    @property
    def fraction(self) -> float:
        """Progress from this level to the next, 0.0 to 1.0 (1.0 at the top level)."""
        if self.next_level_xp is None:
            return 1.0
        return (self.xp - self.level_xp) / (self.next_level_xp - self.level_xp)


def level_for(thresholds: Sequence[int], xp: int) -> int:
    """The level total XP reaches. thresholds[0] is 0 (level 1) and thresholds increase."""
    return max(1, bisect_right(thresholds, xp))


def progress_for(thresholds: Sequence[int], xp: int) -> LevelProgress:
    level = level_for(thresholds, xp)
    following = thresholds[level] if level < len(thresholds) else None
    return LevelProgress(level, xp, thresholds[level - 1], following)
