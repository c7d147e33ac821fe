"""Period bounds, reckoned once (`game.periods.period_dates`): the engine's periods, the Redis leaderboards'
and the live documents' agree, whichever day a week starts on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from game.periods import period_bounds, period_dates, period_key, week_start_index
from persistence.leaderboards import Calendar

days = st.dates(min_value=date(1971, 1, 1), max_value=date(2200, 12, 31))
week_starts = st.sampled_from(["monday", "sunday"])
periods = st.sampled_from(["daily", "weekly", "monthly"])


def test_week_starts_are_counted_as_the_engine_counts_them() -> None:
    assert (week_start_index("monday"), week_start_index("sunday")) == (0, 6)
    with pytest.raises(ValueError, match="monday or sunday, not 'friday'"):
        week_start_index("friday")


@given(day=days, week_starts=week_starts)
def test_a_week_starts_on_its_day_and_lasts_seven(day: date, week_starts: str) -> None:
    start, end = period_dates(day, "weekly", week_start_index(week_starts))
    assert start <= day < end == start + timedelta(days=7)
    assert start.strftime("%A").lower() == week_starts


@given(day=days)
def test_days_and_months_are_calendar_ones(day: date) -> None:
    assert period_dates(day, "daily", 0) == (day, day + timedelta(days=1))
    start, end = period_dates(day, "monthly", 0)
    assert (start.year, start.month, start.day) == (day.year, day.month, 1)
    assert end.day == 1
    assert (end - timedelta(days=1)).month == day.month


@given(day=days, week_starts=week_starts, period=periods)
def test_the_engine_the_leaderboards_and_the_live_documents_agree(
    day: date, week_starts: str, period: str
) -> None:
    start, end = period_dates(day, period, week_start_index(week_starts))
    # The engine keys a period by its first day (a month by its number).
    key = period_key(day.toordinal(), period, week_start_index(week_starts))
    assert key == (start.year * 12 + start.month - 1 if period == "monthly" else start.toordinal())
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    midnight = (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )
    assert period_bounds(period, noon, week_starts) == midnight  # type: ignore[arg-type]
    span = Calendar("UTC", week_starts).span(period, noon)  # type: ignore[arg-type]
    assert (span.start, span.end) == midnight
