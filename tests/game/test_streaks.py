"""Streaks: consecutive local days, freezes, min_events, late events, and the streak arithmetic itself."""

from __future__ import annotations

from datetime import date

import pytest

from game import StreakBroken, StreakExtended, StreakProgress
from game.streaks import add_days, current_as_of, measure

METRICS = {
    "commits": {"name": "Commits", "unit": "commit", "whole": True, "xp_per_unit": 2},
    "prs_merged": {"name": "Pull requests", "unit": "pull request", "whole": True, "xp_per_unit": 25},
    "reviews_done": {"name": "Code reviews", "unit": "review", "whole": True, "xp_per_unit": 10},
}


def shipping(**extra):
    return {"shipping": {"name": "Shipping streak", "metrics": ["commits", "prs_merged"], **extra}}


def nov(day: int) -> int:
    """The day ordinal of a day of November 2026."""
    return date(2026, 11, day).toordinal()


def commit_on(ev, day: int, event_id: str | None = None, hour: int = 10):
    return ev(event_id or f"c{day}", "commits", 1, f"2026-11-{day:02d} {hour:02d}:00")


def test_consecutive_days_one_batch_at_a_time(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())
    state = engine.new_state("ana")
    for length, day in enumerate((2, 3, 4), start=1):
        outcome = engine.apply(state, [commit_on(ev, day)])
        [extended] = only(outcome.effects, StreakExtended)
        assert (extended.streak_id, extended.length, extended.best) == ("shipping", length, length)
        assert only(outcome.effects, StreakBroken) == []
        state = outcome.state
    assert state.streaks["shipping"] == StreakProgress((nov(2), nov(3), nov(4)), 3, 3)


def test_consecutive_days_in_one_batch_give_one_effect(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())
    events = [commit_on(ev, 4), commit_on(ev, 2), ev("p3", "prs_merged", 1, "2026-11-03 10:00")]
    outcome = engine.apply(engine.new_state("ana"), events)
    [extended] = only(outcome.effects, StreakExtended)
    assert (extended.length, extended.best) == (3, 3)
    explanation = extended.explanation
    assert explanation.rule_id == "streaks.shipping"
    assert explanation.rule_version == 7
    assert set(explanation.event_ids) == {"c2", "p3", "c4"}
    assert explanation.text == "Shipping streak: 3 active day(s) in a row (best 3)"


def test_a_second_event_on_an_active_day_changes_nothing(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())
    state = engine.apply(engine.new_state("ana"), [commit_on(ev, 2)]).state
    outcome = engine.apply(state, [commit_on(ev, 2, "c2-again", hour=15)])
    assert only(outcome.effects, StreakExtended) == []
    assert outcome.state.streaks == state.streaks


def test_other_metrics_do_not_count(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 1, "2026-11-02 10:00")])
    assert only(outcome.effects, StreakExtended) == []
    assert outcome.state.streaks == {}


def test_a_streak_without_metrics_counts_every_metric(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks={"active": {"name": "Active"}})
    events = [ev("r2", "reviews_done", 1, "2026-11-02 10:00"), commit_on(ev, 3)]
    [extended] = only(engine.apply(engine.new_state("ana"), events).effects, StreakExtended)
    assert (extended.streak_id, extended.length) == ("active", 2)


def test_gap_within_freezes_keeps_the_streak(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping(freezes=2))
    state = engine.apply(engine.new_state("ana"), [commit_on(ev, 2), commit_on(ev, 3)]).state
    # 4 and 5 Nov missed: two missed days, within the two freezes. Missed days add nothing.
    outcome = engine.apply(state, [commit_on(ev, 6)])
    assert only(outcome.effects, StreakBroken) == []
    [extended] = only(outcome.effects, StreakExtended)
    assert (extended.length, extended.best) == (3, 3)
    assert extended.explanation.text == (
        "Shipping streak: 3 active day(s) in a row (best 3), gaps of up to 2 missed day(s) allowed"
    )


def test_gap_beyond_freezes_breaks_the_streak(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping(freezes=2))
    state = engine.apply(engine.new_state("ana"), [commit_on(ev, 2), commit_on(ev, 3)]).state
    # 4, 5 and 6 Nov missed: three missed days, one more than the freezes.
    outcome = engine.apply(state, [commit_on(ev, 7)])
    [broken] = only(outcome.effects, StreakBroken)
    assert (broken.streak_id, broken.previous_length) == ("shipping", 2)
    assert broken.explanation.rule_id == "streaks.shipping"
    assert broken.explanation.event_ids == ("c7",)
    assert broken.explanation.text == (
        "Shipping streak of 2 day(s) ended: more than 2 missed day(s) in a row; a new one starts"
    )
    # The new streak is 1 day: neither the current length (2 → 1) nor the best (2) grew.
    assert only(outcome.effects, StreakExtended) == []
    assert outcome.state.streaks["shipping"] == StreakProgress((nov(2), nov(3), nov(7)), 1, 2)


def test_broken_then_regrown_in_one_batch(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())  # no freezes
    state = engine.apply(engine.new_state("ana"), [commit_on(ev, 2)]).state
    outcome = engine.apply(state, [commit_on(ev, 5), commit_on(ev, 6)])
    [broken] = only(outcome.effects, StreakBroken)
    assert broken.previous_length == 1
    [extended] = only(outcome.effects, StreakExtended)
    assert (extended.length, extended.best) == (2, 2)
    assert extended.explanation.text == "Shipping streak: 2 active day(s) in a row (best 2)"


def test_min_events(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping(min_events=2))
    one = engine.apply(engine.new_state("ana"), [commit_on(ev, 2)])
    assert only(one.effects, StreakExtended) == []
    assert one.state.streaks == {}
    # A second event of another of the streak's metrics, in a later batch, makes the day active.
    two = engine.apply(one.state, [ev("p2", "prs_merged", 1, "2026-11-02 16:00")])
    [extended] = only(two.effects, StreakExtended)
    assert extended.length == 1
    # One event of a value of 5 is still one event.
    big = engine.apply(two.state, [ev("c3", "commits", 5, "2026-11-03 10:00")])
    assert only(big.effects, StreakExtended) == []


def test_local_days_in_the_users_timezone(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())
    # Consecutive UTC days (3 and 4 Nov), but 2 and 4 Nov in Los Angeles (UTC-8): a missed day.
    events = [
        ev("c1", "commits", 1, "2026-11-03T01:00:00+00:00"),
        ev("c2", "commits", 1, "2026-11-04T23:00:00+00:00"),
    ]
    utc = engine.apply(engine.new_state("ana", "UTC"), events).state
    assert (utc.streaks["shipping"].current, utc.streaks["shipping"].best) == (2, 2)
    local = engine.apply(engine.new_state("ana", "America/Los_Angeles"), events).state
    assert local.streaks["shipping"] == StreakProgress((nov(2), nov(4)), 1, 1)

    # The same UTC day (3 Nov), but 2 and 3 Nov in Los Angeles: two active days.
    events = [
        ev("c1", "commits", 1, "2026-11-03T01:00:00+00:00"),
        ev("c2", "commits", 1, "2026-11-03T09:00:00+00:00"),
    ]
    utc = engine.apply(engine.new_state("ana", "UTC"), events).state
    assert utc.streaks["shipping"].current == 1
    local = engine.apply(engine.new_state("ana", "America/Los_Angeles"), events).state
    assert local.streaks["shipping"].current == 2


def test_late_event_filling_a_gap_merges_runs(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())  # no freezes
    state = engine.apply(engine.new_state("ana"), [commit_on(ev, d) for d in (2, 3, 4, 6, 7)]).state
    assert state.streaks["shipping"] == StreakProgress(tuple(nov(d) for d in (2, 3, 4, 6, 7)), 2, 3)

    outcome = engine.apply(state, [commit_on(ev, 5)])  # arrives late
    assert only(outcome.effects, StreakBroken) == []
    [extended] = only(outcome.effects, StreakExtended)
    assert (extended.length, extended.best) == (6, 6)
    assert outcome.state.streaks["shipping"].current == 6


def test_late_event_growing_only_the_best(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())
    state = engine.apply(engine.new_state("ana"), [commit_on(ev, d) for d in (2, 3, 6, 10)]).state
    assert (state.streaks["shipping"].current, state.streaks["shipping"].best) == (1, 2)

    outcome = engine.apply(state, [commit_on(ev, 4), commit_on(ev, 5)])  # 2..6 is now one run
    assert only(outcome.effects, StreakBroken) == []
    [extended] = only(outcome.effects, StreakExtended)
    assert (extended.length, extended.best) == (1, 5)


def test_late_event_changing_nothing_visible(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, streaks=shipping())
    state = engine.apply(engine.new_state("ana"), [commit_on(ev, d) for d in (10, 11, 12)]).state
    outcome = engine.apply(state, [commit_on(ev, 2)])  # an isolated day long before
    assert only(outcome.effects, StreakExtended) == []
    assert only(outcome.effects, StreakBroken) == []
    assert outcome.state.streaks["shipping"] == StreakProgress(tuple(nov(d) for d in (2, 10, 11, 12)), 3, 3)


def test_order_and_batching_do_not_matter(make_engine, ev):
    engine = make_engine(metrics=METRICS, streaks=shipping(freezes=1))
    events = [commit_on(ev, d) for d in (2, 3, 5, 8, 9, 10, 12)]
    at_once = engine.apply(engine.new_state("ana"), events).state
    state = engine.new_state("ana")
    for event in reversed(events):
        state = engine.apply(state, [event]).state
    assert state.streaks == at_once.streaks
    # Runs: 2, 3, 5 (gap of 1 allowed) = 3; 8, 9, 10, 12 = 4.
    assert (at_once.streaks["shipping"].current, at_once.streaks["shipping"].best) == (4, 4)


@pytest.mark.parametrize(
    ("as_of", "length"),
    [
        ("2026-11-04 12:00", 3),  # the last active day
        ("2026-11-05 12:00", 3),  # nothing missed yet: 5 Nov is not over
        ("2026-11-07 23:59", 3),  # 5 and 6 Nov missed: the two freezes cover them, 7 Nov can still count
        ("2026-11-08 00:00", 0),  # 5, 6 and 7 Nov missed: lapsed
        ("2026-12-25 12:00", 0),
    ],
)
def test_streak_as_of(make_engine, ev, at, as_of, length):
    engine = make_engine(metrics=METRICS, streaks=shipping(freezes=2))
    state = engine.apply(engine.new_state("ana"), [commit_on(ev, d) for d in (2, 3, 4)]).state
    assert engine.streak_as_of(state, "shipping", at(as_of)) == length


def test_streak_as_of_uses_the_users_local_day(make_engine, ev, at):
    engine = make_engine(metrics=METRICS, streaks=shipping())  # no freezes
    state = engine.new_state("ana", "Asia/Tokyo")
    state = engine.apply(state, [ev("c1", "commits", 1, "2026-11-02 10:00", tz="Asia/Tokyo")]).state
    # 3 Nov 14:00Z is 3 Nov 23:00 in Tokyo: the next day, still current.
    assert engine.streak_as_of(state, "shipping", at("2026-11-03T14:00:00+00:00")) == 1
    # 3 Nov 15:00Z is already 4 Nov in Tokyo: one missed day, lapsed.
    assert engine.streak_as_of(state, "shipping", at("2026-11-03T15:00:00+00:00")) == 0


def test_streak_as_of_without_any_activity(make_engine, at):
    engine = make_engine(metrics=METRICS, streaks=shipping())
    assert engine.streak_as_of(engine.new_state("ana"), "shipping", at("2026-11-02 10:00")) == 0


# -- the arithmetic, directly ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "freezes", "current", "best"),
    [
        ((), 0, 0, 0),
        ((5,), 0, 1, 1),
        ((1, 2, 3, 5, 6), 0, 2, 3),
        ((1, 2, 3, 5, 6), 1, 5, 5),  # one missed day allowed
        ((1, 3, 6), 1, 1, 2),  # 1 → 3 misses one day; 3 → 6 misses two
        ((1, 3, 6), 2, 3, 3),
        ((1, 10, 11), 7, 2, 2),
        ((1, 9), 7, 2, 2),  # exactly 7 missed days
    ],
)
def test_measure(days, freezes, current, best):
    assert measure(days, freezes) == StreakProgress(days, current, best)


def test_add_days_in_order_extends_the_last_run():
    progress = add_days(StreakProgress(), [3, 1, 2, 2], 0)
    assert progress == StreakProgress((1, 2, 3), 3, 3)
    progress = add_days(progress, [5], 1)
    assert progress == StreakProgress((1, 2, 3, 5), 4, 4)
    progress = add_days(progress, [8, 9], 1)
    assert progress == StreakProgress((1, 2, 3, 5, 8, 9), 2, 4)


def test_add_days_already_active_returns_the_same_progress():
    progress = StreakProgress((1, 2, 3), 3, 3)
    assert add_days(progress, [2, 3], 0) is progress
    assert add_days(progress, [], 0) is progress


def test_add_days_out_of_order_remeasures():
    progress = StreakProgress((1, 2, 5), 1, 2)
    assert add_days(progress, [3, 4], 0) == StreakProgress((1, 2, 3, 4, 5), 5, 5)
    assert add_days(progress, [0, 7], 0) == StreakProgress((0, 1, 2, 5, 7), 1, 3)


@pytest.mark.parametrize(
    ("today", "freezes", "expected"),
    [(10, 0, 2), (11, 0, 2), (12, 0, 0), (12, 1, 2), (13, 1, 0), (13, 2, 2), (14, 2, 0)],
)
def test_current_as_of(today, freezes, expected):
    progress = StreakProgress((9, 10), 2, 2)
    assert current_as_of(progress, today, freezes) == expected


def test_current_as_of_without_days():
    assert current_as_of(StreakProgress(), 100, 3) == 0
