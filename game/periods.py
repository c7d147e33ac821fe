"""Local days, weeks and months: the periods caps, streaks, missions and repeatable badges count in, and
the UTC bounds of the period containing a moment, which leaderboards and their documents count in.

Days are proleptic Gregorian ordinals (`date.toordinal()`) so that consecutive days differ by one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PeriodKind = str  # "daily" | "weekly" | "monthly"
WeekStart = Literal["monday", "sunday"]


class UnknownTimezone(ValueError):
    pass


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory such as "America"
        raise UnknownTimezone(
            f"unknown timezone {name!r} (use an IANA name such as 'Europe/Paris')"
        ) from None


def week_start_index(week_starts: str) -> int:
    """A rule set's ``week_starts`` as `period_key` counts it: 0 for Monday, 6 for Sunday."""
    if week_starts == "monday":
        return 0
    if week_starts == "sunday":
        return 6
    raise ValueError(f"week_starts is monday or sunday, not {week_starts!r}")


def local_day(moment: datetime, tz: ZoneInfo) -> int:
    return moment.astimezone(tz).toordinal()


def period_key(day: int, period: PeriodKind, week_start: int) -> int:
    """The key of the period that contains `day`: its first day's ordinal (month: year * 12 + month)."""
    if period == "daily":
        return day
    if period == "weekly":
        # date.fromordinal(1) is a Monday; week_start is 0 for Monday, 6 for Sunday.
        return day - (day - 1 - week_start) % 7
    first = date.fromordinal(day)
    return first.year * 12 + first.month - 1


def period_days(key: int, period: PeriodKind) -> range:
    """The day ordinals of a period, given its key."""
    if period == "daily":
        return range(key, key + 1)
    if period == "weekly":
        return range(key, key + 7)
    year, month0 = divmod(key, 12)
    start = date(year, month0 + 1, 1).toordinal()
    following = key + 1
    end = date(following // 12, following % 12 + 1, 1).toordinal()
    return range(start, end)


def period_dates(day: date, period: PeriodKind, week_start: int) -> tuple[date, date]:
    """The daily, weekly or monthly period containing ``day``: its first day and the day after its last
    (``[start, end)``), in whatever calendar ``day`` was read in. The one reckoning of period bounds: the
    engine's caps and missions, the leaderboards' keys and the live documents all agree on it."""
    days = period_days(period_key(day.toordinal(), period, week_start), period)
    return date.fromordinal(days.start), date.fromordinal(days.stop)


def period_bounds(period: str, now: datetime, week_starts: str) -> tuple[datetime | None, datetime | None]:
    """The UTC calendar period containing ``now`` (``daily``, ``weekly`` or ``monthly``; a week starts on
    ``week_starts``): ``[start, end)`` as UTC midnights, ``(None, None)`` for ``all_time``, which has no
    bounds."""
    if period == "all_time":
        return None, None
    start, end = period_dates(now.astimezone(UTC).date(), period, week_start_index(week_starts))
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )


def period_label(key: int, period: PeriodKind) -> str:
    if period == "daily":
        return date.fromordinal(key).isoformat()
    if period == "weekly":
        return "week of " + date.fromordinal(key).isoformat()
    year, month0 = divmod(key, 12)
    return f"{year:04d}-{month0 + 1:02d}"


@lru_cache(maxsize=4096)
def day_label(day: int) -> str:
    return date.fromordinal(day).isoformat()
