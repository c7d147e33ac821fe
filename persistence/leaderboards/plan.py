"""Awards, and what they change: the one place that decides which keys an award touches and by how much.

`record` sends a plan of a batch to the record script; `rebuild` folds a plan of every award into the
final contents of each key. Both go through `Plan.add`, so that a rebuild reproduces live boards exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from .layout import PERIODS, Calendar, PeriodSpan, check_board, time_ms, to_units, unix_seconds_ceil

_WORD = re.compile(r"\S+", re.ASCII)
K = TypeVar("K", tuple[int, str], tuple[int, str, str])


@dataclass(frozen=True, slots=True)
class Award:
    """One user's gain on one board at one moment.

    ``board``: ``xp`` or a metric id. ``amount``: XP (whole), or a metric value (kept in thousandths).
    ``at``: the moment it counts for, which decides its periods and its place among ties: for XP when it
    was awarded (the ledger's ``created_at``), for a metric when the work happened (``occurred_at``), as
    ``server.services.topics.rows`` counts them. ``teams``: the slugs of the teams the user belonged to
    at ``at`` (`TeamHistory.teams_at`); the award also counts for each of them."""

    user_id: str
    board: str
    amount: int | float
    at: datetime
    teams: Sequence[str] = ()


@dataclass(slots=True)
class Group:
    """One board in one period, and the unix time its keys expire at (None: never)."""

    board: str
    span: PeriodSpan
    expire_at: int | None


@dataclass(slots=True)
class Plan:
    """Awards merged by board, period and member: a sum of units and the latest time (ms) for each user,
    and for each (team, contributing user). Merging loses nothing: a board keeps exactly these."""

    calendar: Calendar
    retention: timedelta
    now_s: int
    """Periods whose keys would have expired by this unix time are skipped."""
    groups: list[Group] = field(default_factory=list)
    users: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    """(group index, user id) -> [units, latest ms]."""
    teams: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)
    """(group index, team slug, user id) -> [units, latest ms]."""
    _index: dict[tuple[str, PeriodSpan], int] = field(default_factory=dict)

    def add(self, award: Award) -> None:
        self.extend((award,))

    def extend(self, awards: Iterable[Award]) -> None:
        # Awards of one user on one board on one local day fall into the same keys of every period:
        # merged first (units summed, the latest time kept), they are planned once. Same result.
        merged: dict[tuple[str, str, tuple[str, ...], date], list[Any]] = {}
        for award in awards:
            board = check_board(award.board)
            # The record script reads members and slugs as space-separated words.
            if not _WORD.fullmatch(award.user_id) or not all(_WORD.fullmatch(team) for team in award.teams):
                raise ValueError(f"user ids and team slugs are non-empty and without spaces: {award!r}")
            units = to_units(board, award.amount)
            if units == 0:
                continue  # nothing gained: it neither enters a board nor moves a member among ties
            ms = time_ms(award.at)
            key = (board, award.user_id, tuple(sorted(set(award.teams))), self.calendar.local_date(award.at))
            entry = merged.get(key)
            if entry is None:
                merged[key] = [units, ms, award.at]
            else:
                entry[0] += units
                if ms > entry[1]:
                    entry[1], entry[2] = ms, award.at
        for (board, user, teams, _), (units, ms, at) in merged.items():
            for period in PERIODS:
                group = self._group(board, self.calendar.span(period, at))
                if group is None:
                    continue
                _merge(self.users, (group, user), units, ms)
                for team in teams:
                    _merge(self.teams, (group, team, user), units, ms)

    def _group(self, board: str, span: PeriodSpan) -> int | None:
        index = self._index.get((board, span))
        if index is not None:
            return index
        expire_at = None if span.end is None else unix_seconds_ceil(span.end + self.retention)
        if expire_at is not None and expire_at <= self.now_s:
            return None  # a late award for a period past its retention: its keys are gone
        self._index[board, span] = index = len(self.groups)
        self.groups.append(Group(board, span, expire_at))
        return index


def _merge(table: dict[K, list[int]], key: K, units: int, ms: int) -> None:
    entry = table.get(key)
    if entry is None:
        table[key] = [units, ms]
    else:
        entry[0] += units
        entry[1] = max(entry[1], ms)


@dataclass(slots=True)
class Tally:
    """A member's final state on one board in one period (what `rebuild` writes)."""

    units: int = 0
    ms: int = 0
    contributors: set[str] = field(default_factory=set)


def fold(plan: Plan) -> Iterator[tuple[Group, dict[str, Tally], dict[str, Tally]]]:
    """Each group with its users' and teams' final standings, as the record script would leave them on
    empty keys."""
    users: dict[int, dict[str, Tally]] = {}
    for (index, user), (units, ms) in plan.users.items():
        users.setdefault(index, {})[user] = Tally(units, ms)
    teams: dict[int, dict[str, Tally]] = {}
    for (index, team, user), (units, ms) in plan.teams.items():
        standing = teams.setdefault(index, {}).setdefault(team, Tally())
        standing.units += units
        standing.ms = max(standing.ms, ms)
        standing.contributors.add(user)
    for index, group in enumerate(plan.groups):
        yield group, users.get(index, {}), teams.get(index, {})
