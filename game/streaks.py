"""Streak arithmetic: runs of active days where no gap is longer than the streak's freezes."""

from __future__ import annotations

from collections.abc import Iterable

from .state import StreakProgress


def add_days(progress: StreakProgress, new_days: Iterable[int], freezes: int) -> StreakProgress:
    """The streak after some days became active (days already active are ignored)."""
    fresh = sorted(set(new_days).difference(progress.days))
    if not fresh:
        return progress
    last = progress.last_day
    if last is None or fresh[0] > last:
        # The common case, days arriving in order: extend the last run without rescanning history.
        current, best = progress.current, progress.best
        for day in fresh:
            current = current + 1 if last is not None and day - last - 1 <= freezes else 1
            best = max(best, current)
            last = day
        return StreakProgress(progress.days + tuple(fresh), current, best)
    return measure(tuple(sorted((*progress.days, *fresh))), freezes)


def measure(days: tuple[int, ...], freezes: int) -> StreakProgress:
    current = best = 0
    previous: int | None = None
    for day in days:
        current = current + 1 if previous is not None and day - previous - 1 <= freezes else 1
        best = max(best, current)
        previous = day
    return StreakProgress(days, current, best)


def current_as_of(progress: StreakProgress, today: int, freezes: int) -> int:
    """The current streak as seen on `today` (a local day ordinal): 0 once too many days were missed."""
    last = progress.last_day
    if last is None or today - last - 1 > freezes:
        return 0
    return progress.current
