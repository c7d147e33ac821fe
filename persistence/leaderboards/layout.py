"""Periods, key names and the encodings of scores and times (see the package docstring)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal

from game.periods import WeekStart, period_dates, week_start_index, zone
from game.state import MILLI

Period = Literal["daily", "weekly", "monthly", "all_time"]
PERIODS: tuple[Period, ...] = ("all_time", "daily", "weekly", "monthly")

Scope = Literal["user", "team", "team_avg"]
"""``user``: a user's own score; ``team``: the sum of the team's members' contributions;
``team_avg``: that sum divided by the number of members who contributed (see the package docstring)."""
SCOPES: tuple[Scope, ...] = ("user", "team", "team_avg")

XP_BOARD = "xp"
BOARD_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

KINDS = ("u", "ut", "t", "ta", "tt", "tn", "tm")
"""The keys of one board and period, in the order the record script receives them: users (zset), users'
times (hash), team sums (zset), team averages (zset), teams' times (hash), team member counts (hash),
team-member pairs (set)."""
ZSET_OF_SCOPE: dict[Scope, str] = {"user": "u", "team": "t", "team_avg": "ta"}
TIMES_OF_SCOPE: dict[Scope, str] = {"user": "ut", "team": "tt", "team_avg": "tt"}

MAX_UNITS = 2**53
"""Scores are exact below this, in units (XP, or thousandths of a metric): a double's integer range."""
CODE_DIGITS = 13
"""A time code is the milliseconds since the Unix epoch in this many digits (1970 to 2286)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MS = 10**CODE_DIGITS


def cast_period(period: str) -> Period:
    for known in PERIODS:
        if period == known:
            return known
    raise ValueError(f"not a leaderboard period: {period!r}")


def cast_scope(scope: str) -> Scope:
    for known in SCOPES:
        if scope == known:
            return known
    raise ValueError(f"not a leaderboard scope: {scope!r}")


def check_board(board: str) -> str:
    if not BOARD_PATTERN.fullmatch(board):
        raise ValueError(f"not a board name (xp or a metric id): {board!r}")
    return board


# ------------------------------------------------------------------------------------- scores and times


def to_units(board: str, amount: float) -> int:
    """A board's integer units: XP as is (it must be whole), metric values in thousandths (rounded), so
    that sums are exact and 0.1 + 0.2 ties with 0.3 (as in ``server.services.topics.rows``)."""
    if board == XP_BOARD:
        if not float(amount).is_integer():
            raise ValueError(f"XP must be whole: {amount!r}")
        units = int(amount)
    else:
        units = round(float(amount) * MILLI)
    if abs(units) >= MAX_UNITS:
        raise ValueError(f"amount out of range for exact scores: {amount!r}")
    return units


def from_units(board: str, units: float) -> int | float:
    """Units back to the board's numbers: whole numbers as integers (``3``, not ``3.0``)."""
    value = units if board == XP_BOARD else units / MILLI
    return int(value) if float(value).is_integer() else value


def time_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, rounded down (exact: no float arithmetic)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not accepted: give a timezone")
    ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    if not 0 <= ms < _MAX_MS:
        raise ValueError(f"time out of the leaderboards' range (1970 to 2286): {moment.isoformat()}")
    return ms


def time_code(ms: int) -> str:
    """The fixed-width text of a time: it sorts as the time does, character by character."""
    return f"{ms:0{CODE_DIGITS}d}"


def unix_seconds_ceil(moment: datetime) -> int:
    return -((_EPOCH - moment) // timedelta(seconds=1))


# ---------------------------------------------------------------------------------------------- periods


@dataclass(frozen=True, slots=True)
class PeriodSpan:
    """One period of a kind: ``label`` names it (``all``, ``2026-11-23`` for a day or for the week starting
    that day, ``2026-11`` for a month); ``[start, end)`` in UTC, both None for ``all_time``."""

    period: Period
    label: str
    start: datetime | None
    end: datetime | None

    @property
    def key(self) -> str:
        """The key's period part: ``all``, ``d:2026-11-23``, ``w:2026-11-23``, ``m:2026-11``."""
        return "all" if self.period == "all_time" else f"{self.period[0]}:{self.label}"

    def contains(self, moment: datetime) -> bool:
        return self.start is None or self.end is None or self.start <= moment < self.end


ALL_TIME = PeriodSpan("all_time", "all", None, None)


class Calendar:
    """Periods in one timezone: days are local calendar days, weeks start on ``week_starts``, months are
    calendar months. Which period an instant belongs to is decided by its local date (never ambiguous);
    a period's bounds are its first local midnight (the first one, when a DST change repeats it)."""

    def __init__(self, timezone: str = "UTC", week_starts: WeekStart = "monday") -> None:
        self._week_start = week_start_index(week_starts)  # raises for anything but monday or sunday
        self.timezone = timezone
        self.week_starts = week_starts
        self._zone = zone(timezone)
        # Spans by (period, local date): the local date is all that decides.
        self._span = lru_cache(maxsize=4096)(self._span_of)

    def span(self, period: Period, moment: datetime) -> PeriodSpan:
        """The period of kind ``period`` containing ``moment`` (an aware datetime)."""
        if period == "all_time":
            return ALL_TIME
        if moment.tzinfo is None:
            raise ValueError("naive datetimes are not accepted: give a timezone")
        return self._span(period, moment.astimezone(self._zone).date())

    def local_date(self, moment: datetime) -> date:
        """The local date of an aware datetime: every period containing it is decided by this alone."""
        if moment.tzinfo is None:
            raise ValueError("naive datetimes are not accepted: give a timezone")
        return moment.astimezone(self._zone).date()

    def _span_of(self, period: Period, day: date) -> PeriodSpan:
        if period not in ("daily", "weekly", "monthly"):
            raise ValueError(f"not a leaderboard period: {period!r}")
        start, end = period_dates(day, period, self._week_start)
        label = f"{start.year:04d}-{start.month:02d}" if period == "monthly" else start.isoformat()
        return PeriodSpan(period, label, self._midnight(start), self._midnight(end))

    def _midnight(self, day: date) -> datetime:
        # fold=0: the first 00:00 when it repeats; a skipped 00:00 maps to the instant of the jump.
        return datetime(day.year, day.month, day.day, tzinfo=self._zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class KeyNames:
    """Key names under ``prefix`` (``gamif:`` in production)."""

    prefix: str

    def key(self, board: str, kind: str, span: PeriodSpan) -> str:
        return f"{self.prefix}lb:{board}:{kind}:{span.key}"

    def group(self, board: str, span: PeriodSpan) -> list[str]:
        """The keys of one board and period, in `KINDS` order."""
        return [self.key(board, kind, span) for kind in KINDS]

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every leaderboard key (and nothing else) under the prefix."""
        return glob_escape(self.prefix) + "lb:*"

    # Outside ``lb:*``: a rebuild replaces the boards, not these.
    @property
    def records(self) -> str:
        """A counter every `record` increments (in its script): a repair knows whether one ran meanwhile."""
        return f"{self.prefix}lb-state:records"

    @property
    def dirty(self) -> str:
        """Set while the boards may disagree with the database (a record failed): what, and when."""
        return f"{self.prefix}lb-state:dirty"


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
