"""XP from metric events: flat and stepped rates, per-event and daily caps, boosts, exact fractions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from game import XpAwarded

REVIEWS = {"name": "Code reviews", "unit": "review", "whole": True, "xp_per_unit": 10}
FOCUS = {
    "name": "Focus time",
    "unit": "minute",
    "whole": True,
    "xp_tiers": [
        {"up_to": 60, "xp_per_unit": 0.5},
        {"up_to": 180, "xp_per_unit": 0.25},
        {"xp_per_unit": 0},
    ],
}
COMMITS = {"name": "Commits", "unit": "commit", "whole": True, "xp_per_unit": 2, "cap_per_event": 20}
DOCS = {"name": "Docs written", "unit": "page", "xp_per_unit": 10}


def test_xp_calculation(make_engine, ev, only):
    engine = make_engine()  # reviews_done: 10 XP per review, no caps
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 3, "2026-11-02 10:00")])

    assert outcome.state.xp == 30  # 3 × 10
    assert outcome.xp_gained == 30
    assert outcome.accepted == ("r1",)
    [award] = only(outcome.effects, XpAwarded)
    assert (award.amount, award.source, award.metric, award.day) == (
        30,
        "metric",
        "reviews_done",
        "2026-11-02",
    )
    assert award.explanation.rule_id == "metrics.reviews_done"
    assert award.explanation.rule_version == 7
    assert award.explanation.event_ids == ("r1",)
    assert award.explanation.text == "Code reviews on 2026-11-02 (UTC): 3 reviews × 10 XP = 30 XP → +30 XP"
    assert outcome.state.total("reviews_done") == 3.0
    assert outcome.state.metric_totals["reviews_done"] == (3000, 1)  # milli-units, events


def test_single_unit_is_named_in_the_singular(make_engine, ev, only):
    engine = make_engine()
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 1, "2026-11-02 10:00")])
    [award] = only(outcome.effects, XpAwarded)
    assert "1 review × 10 XP = 10 XP" in award.explanation.text


@pytest.mark.parametrize(
    ("minutes", "xp"),
    [
        (40, 20),  # 40 × 0.5
        (60, 30),  # 60 × 0.5: exactly the first boundary
        (61, 30),  # 60 × 0.5 + 1 × 0.25 = 30.25, floored
        (64, 31),  # 30 + 4 × 0.25
        (180, 60),  # 30 + 120 × 0.25: exactly the second boundary
        (181, 60),  # 60 + 1 × 0
        (600, 60),  # 60 + 420 × 0
    ],
)
def test_stepped_tiers_across_boundaries(make_engine, ev, minutes, xp):
    engine = make_engine(metrics={"focus_minutes": FOCUS})
    outcome = engine.apply(engine.new_state("ana"), [ev("f1", "focus_minutes", minutes, "2026-11-02 10:00")])
    assert outcome.state.xp == xp


def test_stepped_tiers_explain_each_step(make_engine, ev, only):
    engine = make_engine(metrics={"focus_minutes": FOCUS})
    outcome = engine.apply(engine.new_state("ana"), [ev("f1", "focus_minutes", 100, "2026-11-02 10:00")])
    [award] = only(outcome.effects, XpAwarded)
    assert award.amount == 40  # 60 × 0.5 + 40 × 0.25
    assert "100 minutes at stepped rates (60 × 0.5 + 40 × 0.25) = 40 XP" in award.explanation.text


def test_stepped_tiers_without_an_open_last_tier_pay_nothing_above_it(make_engine, ev, only):
    metric = {
        "name": "Tickets",
        "unit": "ticket",
        "xp_tiers": [{"up_to": 10, "xp_per_unit": 2}, {"up_to": 20, "xp_per_unit": 1}],
    }
    engine = make_engine(metrics={"tickets": metric})
    outcome = engine.apply(engine.new_state("ana"), [ev("t1", "tickets", 30, "2026-11-02 10:00")])
    assert outcome.state.xp == 30  # 10 × 2 + 10 × 1 + 10 × nothing
    [award] = only(outcome.effects, XpAwarded)
    assert "30 tickets at stepped rates (10 × 2 + 10 × 1) = 30 XP" in award.explanation.text


@pytest.mark.parametrize(
    ("commits", "xp", "capped"),
    [(9, 18, False), (10, 20, False), (11, 20, True), (500, 20, True)],
)
def test_per_event_cap(make_engine, ev, only, commits, xp, capped):
    engine = make_engine(metrics={"commits": COMMITS})  # 2 XP per commit, at most 20 per event
    outcome = engine.apply(engine.new_state("ana"), [ev("c1", "commits", commits, "2026-11-02 10:00")])
    [award] = only(outcome.effects, XpAwarded)
    assert award.amount == xp
    assert ("capped to 20 per event" in award.explanation.text) is capped


def test_per_event_cap_applies_to_each_event_separately(make_engine, ev):
    engine = make_engine(metrics={"commits": COMMITS})
    events = [ev("c1", "commits", 15, "2026-11-02 10:00"), ev("c2", "commits", 5, "2026-11-02 11:00")]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert outcome.state.xp == 30  # min(30, 20) + 10


def test_daily_cap_across_batches(make_engine, ev, only):
    engine = make_engine(metrics={"reviews_done": {**REVIEWS, "cap_per_day": 50}})
    state = engine.new_state("ana")

    first = engine.apply(state, [ev("r1", "reviews_done", 3, "2026-11-02 09:00")])
    assert first.state.xp == 30
    [award] = only(first.effects, XpAwarded)
    assert "capped" not in award.explanation.text

    second = engine.apply(first.state, [ev("r2", "reviews_done", 4, "2026-11-02 15:00")])
    [award] = only(second.effects, XpAwarded)
    assert award.amount == 20  # the day's raw XP goes 30 → 70, capped at 50: 50 - 30
    assert second.state.xp == 50
    assert award.explanation.event_ids == ("r2",)
    assert award.explanation.text == (
        "Code reviews on 2026-11-02 (UTC): 4 reviews × 10 XP = 40 XP; the day's reviews_done XP "
        "goes 30 → 70, capped at 50 by the daily cap → +20 XP"
    )

    third = engine.apply(second.state, [ev("r3", "reviews_done", 1, "2026-11-02 20:00")])
    [award] = only(third.effects, XpAwarded)
    assert award.amount == 0
    assert "goes 70 → 80, capped at 50 by the daily cap → +0 XP" in award.explanation.text
    assert third.state.xp == 50

    next_day = engine.apply(third.state, [ev("r4", "reviews_done", 6, "2026-11-03 09:00")])
    assert next_day.xp_gained == 50  # 60, capped at 50 on a fresh day
    assert next_day.state.xp == 100


def test_daily_cap_within_one_batch_gives_one_award_for_the_day(make_engine, ev, only):
    engine = make_engine(metrics={"reviews_done": {**REVIEWS, "cap_per_day": 50}})
    events = [
        ev("r2", "reviews_done", 4, "2026-11-02 15:00"),
        ev("r1", "reviews_done", 3, "2026-11-02 09:00"),
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    [award] = only(outcome.effects, XpAwarded)
    assert award.amount == 50  # min(50, 30 + 40)
    assert award.explanation.event_ids == ("r1", "r2")  # in time order
    text = award.explanation.text
    assert text.startswith("Code reviews on 2026-11-02 (UTC): ")
    assert "7 reviews" in text
    assert text.endswith("the day's reviews_done XP goes 0 → 70, capped at 50 by the daily cap → +50 XP")


def test_daily_cap_reached_exactly_is_not_called_capped(make_engine, ev, only):
    engine = make_engine(metrics={"reviews_done": {**REVIEWS, "cap_per_day": 50}})
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 5, "2026-11-02 09:00")])
    [award] = only(outcome.effects, XpAwarded)
    assert award.amount == 50
    assert "capped" not in award.explanation.text


# 10:00Z and 20:00Z are both 2 Nov in UTC; in Kolkata (UTC+5:30) they are 2 Nov 15:30 and 3 Nov 01:30.
# 02:00Z and 10:00Z on 3 Nov are, in Los Angeles (UTC-8 after 1 Nov 2026), 2 Nov 18:00 and 3 Nov 02:00.
SAME_UTC_DAY = {
    "Asia/Kolkata": ("2026-11-02T10:00:00+00:00", "2026-11-02T20:00:00+00:00", "2026-11-02", "2026-11-03"),
    "America/Los_Angeles": (
        "2026-11-03T02:00:00+00:00",
        "2026-11-03T10:00:00+00:00",
        "2026-11-02",
        "2026-11-03",
    ),
}
# Different UTC days but the same local day: Kolkata 3 Nov 04:30 and 10:30; Los Angeles 2 Nov 10:00 and 23:00.
SAME_LOCAL_DAY = {
    "Asia/Kolkata": ("2026-11-02T23:00:00+00:00", "2026-11-03T05:00:00+00:00", "2026-11-03"),
    "America/Los_Angeles": ("2026-11-02T18:00:00+00:00", "2026-11-03T07:00:00+00:00", "2026-11-02"),
}


@pytest.mark.parametrize("tz", sorted(SAME_UTC_DAY))
def test_daily_cap_in_user_timezone(make_engine, ev, only, tz):
    engine = make_engine(metrics={"reviews_done": {**REVIEWS, "cap_per_day": 50}})

    # Same UTC day, two local days: each local day has its own cap of 50.
    first, second, day1, day2 = SAME_UTC_DAY[tz]
    events = [ev("r1", "reviews_done", 4, first), ev("r2", "reviews_done", 4, second)]
    local = engine.apply(engine.new_state("ana", tz), events)
    assert local.state.xp == 80  # 40 + 40, neither day over 50
    assert [(a.day, a.amount) for a in only(local.effects, XpAwarded)] == [(day1, 40), (day2, 40)]
    utc = engine.apply(engine.new_state("ana", "UTC"), events)
    assert utc.state.xp == 50  # the same events on one UTC day: 80 capped at 50

    # The reverse: two UTC days, one local day: the cap is shared.
    first, second, day = SAME_LOCAL_DAY[tz]
    events = [ev("r1", "reviews_done", 4, first), ev("r2", "reviews_done", 4, second)]
    local = engine.apply(engine.new_state("ana", tz), events)
    assert local.state.xp == 50
    [award] = only(local.effects, XpAwarded)
    assert award.day == day
    assert f"on {day} ({tz})" in award.explanation.text
    assert "goes 0 → 80, capped at 50 by the daily cap → +50 XP" in award.explanation.text
    utc = engine.apply(engine.new_state("ana", "UTC"), events)
    assert utc.state.xp == 80


def test_daily_cap_for_a_late_event_counts_against_its_own_day(make_engine, ev):
    engine = make_engine(metrics={"reviews_done": {**REVIEWS, "cap_per_day": 50}})
    state = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 5, "2026-11-03 09:00")]).state
    late = engine.apply(state, [ev("r0", "reviews_done", 4, "2026-11-02 09:00")])
    assert late.xp_gained == 40  # 2 Nov had nothing yet
    again = engine.apply(late.state, [ev("r2", "reviews_done", 4, "2026-11-02 10:00")])
    assert again.xp_gained == 10  # 2 Nov: 40 → 80, capped at 50


BOOST = {
    "name": "Review week",
    "multiplier": 2,
    "starts": "2026-11-16T00:00:00Z",
    "ends": "2026-11-23T00:00:00Z",
}


@pytest.mark.parametrize(
    ("when", "xp"),
    [
        ("2026-11-15T23:59:59+00:00", 30),  # before starts
        ("2026-11-16T00:00:00+00:00", 60),  # starts is inclusive
        ("2026-11-16T01:00:00+01:00", 60),  # the same instant written in another offset
        ("2026-11-19T12:00:00+00:00", 60),  # inside
        ("2026-11-22T23:59:59.999999+00:00", 60),  # last instant inside
        ("2026-11-23T00:00:00+00:00", 30),  # ends is exclusive
        ("2026-11-23T00:00:01+00:00", 30),  # after
    ],
)
def test_boost_window(make_engine, ev, when, xp):
    engine = make_engine(boosts={"review-week": BOOST})
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 3, when)])
    assert outcome.state.xp == xp  # 3 × 10, doubled inside [starts, ends)


def test_boost_explanation_names_the_multiplier(make_engine, ev, only):
    engine = make_engine(boosts={"review-week": BOOST})
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 3, "2026-11-18 10:00")])
    [award] = only(outcome.effects, XpAwarded)
    assert award.explanation.text == (
        "Code reviews on 2026-11-18 (UTC): 3 reviews × 10 XP = 30 XP, × 2 Review week = 60 XP → +60 XP"
    )


@pytest.mark.parametrize(
    ("when", "xp"),
    [
        ("2026-11-12 12:00", 45),  # only "small": 30 × 1.5
        ("2026-11-16 12:00", 90),  # both: the larger wins, 30 × 3 (not 30 × 1.5 × 3)
        ("2026-11-18 12:00", 45),  # only "small" again
        ("2026-11-21 12:00", 30),  # neither
    ],
)
def test_overlapping_boosts_largest_multiplier_applies(make_engine, ev, when, xp):
    boosts = {
        "small": {
            **BOOST,
            "name": "Small",
            "multiplier": 1.5,
            "starts": "2026-11-10T00:00:00Z",
            "ends": "2026-11-20T00:00:00Z",
        },
        "big": {
            **BOOST,
            "name": "Big",
            "multiplier": 3,
            "starts": "2026-11-15T00:00:00Z",
            "ends": "2026-11-17T00:00:00Z",
        },
    }
    engine = make_engine(boosts=boosts)
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 3, when)])
    assert outcome.state.xp == xp


def test_boost_limited_to_listed_metrics(make_engine, ev, only):
    engine = make_engine(
        metrics={"reviews_done": REVIEWS, "docs_written": DOCS},
        boosts={"docs-week": {**BOOST, "metrics": ["docs_written"]}},
    )
    events = [
        ev("r1", "reviews_done", 3, "2026-11-18 10:00"),
        ev("d1", "docs_written", 2, "2026-11-18 11:00"),
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    awards = {a.metric: a.amount for a in only(outcome.effects, XpAwarded)}
    assert awards == {"reviews_done": 30, "docs_written": 40}  # reviews unboosted; 2 × 10 × 2
    assert outcome.state.xp == 70


def test_boost_is_decided_by_occurrence_time_not_arrival(make_engine, ev):
    engine = make_engine(boosts={"review-week": BOOST})
    state = engine.apply(engine.new_state("ana"), [ev("r2", "reviews_done", 1, "2026-11-25 10:00")]).state
    late = engine.apply(state, [ev("r1", "reviews_done", 1, "2026-11-18 10:00")])
    assert late.xp_gained == 20  # occurred inside the window, arrived after it


@pytest.mark.parametrize(("value", "xp"), [(100, 29), (200, 58), (1000, 290)])
def test_inexact_binary_rate_is_not_floored_below(make_engine, ev, value, xp):
    metric = {"name": "Focus", "unit": "minute", "whole": True, "xp_per_unit": 0.29}
    engine = make_engine(metrics={"focus": metric})
    outcome = engine.apply(engine.new_state("ana"), [ev("f1", "focus", value, "2026-11-02 10:00")])
    assert outcome.state.xp == xp  # 0.29 × 100 is 28.999999999999996 in floats; the rule means 29


def test_fractional_values_are_counted_exactly(make_engine, ev):
    engine = make_engine(
        metrics={"docs_written": DOCS},
        badges={
            "one-page": {
                "name": "One page",
                "criteria": {"kind": "metric_total", "metric": "docs_written", "threshold": 1},
            }
        },
    )
    state = engine.new_state("ana")
    events = [
        ev("d1", "docs_written", 0.1, "2026-11-02 09:00"),
        ev("d2", "docs_written", 0.2, "2026-11-02 10:00"),
    ]
    outcome = engine.apply(state, events)
    assert outcome.state.total("docs_written") == 0.3  # not 0.30000000000000004
    assert outcome.state.metric_totals["docs_written"] == (300, 2)
    assert outcome.state.xp == 3  # 0.1 × 10 = 1 and 0.2 × 10 = 2
    assert "one-page" not in outcome.state.badges

    # 0.7 + 0.2 + 0.1 is 0.9999999999999999 in floats; in milli-units it is exactly 1.
    more = engine.apply(state, [*events, ev("d3", "docs_written", 0.7, "2026-11-02 11:00")])
    assert more.state.total("docs_written") == 1.0
    assert more.state.badges == {"one-page": 1}


def test_many_events_in_a_day_are_summarised(make_engine, ev, only):
    engine = make_engine(
        metrics={"reviews_done": {**REVIEWS, "cap_per_event": 30}},
        boosts={
            "lunch": {
                **BOOST,
                "name": "Lunch",
                "starts": "2026-11-02T12:00:00Z",
                "ends": "2026-11-02T13:00:00Z",
            }
        },
    )
    events = [
        ev("r1", "reviews_done", 1, "2026-11-02 09:00"),  # 10
        ev("r2", "reviews_done", 2, "2026-11-02 10:00"),  # 20
        ev("r3", "reviews_done", 4, "2026-11-02 11:00"),  # 40, capped to 30
        ev("r4", "reviews_done", 3, "2026-11-02 12:10"),  # 30, boosted to 60
        ev("r5", "reviews_done", 1, "2026-11-02 12:20"),  # 10, boosted to 20
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    [award] = only(outcome.effects, XpAwarded)
    assert award.amount == 140
    assert award.explanation.event_ids == ("r1", "r2", "r3", "r4", "r5")
    text = award.explanation.text
    assert text.startswith("Code reviews on 2026-11-02 (UTC): 5 events, 11 reviews")
    assert "1 capped to 30 per event" in text
    assert "2 boosted" in text
    assert text.endswith("140 XP → +140 XP")


def test_many_plain_events_are_summarised_without_notes(make_engine, ev, at, only):
    engine = make_engine()
    start = at("2026-11-02 09:00")
    events = [ev(f"r{i}", "reviews_done", 1, start + timedelta(minutes=i)) for i in range(4)]
    [award] = only(engine.apply(engine.new_state("ana"), events).effects, XpAwarded)
    text = award.explanation.text
    assert text.startswith("Code reviews on 2026-11-02 (UTC): 4 events, 4 reviews")
    assert text.endswith("40 XP → +40 XP")
    assert "capped" not in text
    assert "boosted" not in text


def test_xp_awards_are_per_metric_and_local_day(make_engine, ev, only):
    engine = make_engine(metrics={"reviews_done": REVIEWS, "docs_written": DOCS})
    events = [
        ev("r1", "reviews_done", 1, "2026-11-03 09:00"),
        ev("d1", "docs_written", 1.5, "2026-11-02 09:00"),
        ev("r0", "reviews_done", 2, "2026-11-02 10:00"),
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    awards = [(a.day, a.metric, a.amount, a.explanation.event_ids) for a in only(outcome.effects, XpAwarded)]
    assert awards == [
        ("2026-11-02", "docs_written", 15, ("d1",)),
        ("2026-11-02", "reviews_done", 20, ("r0",)),
        ("2026-11-03", "reviews_done", 10, ("r1",)),
    ]
    assert outcome.state.xp == 45
