"""Missions: progress and completion per daily, weekly, monthly and window period, with rewards."""

from __future__ import annotations

import pytest

from game import BadgeEarned, MissionCompleted, MissionProgressed, XpAwarded

METRICS = {
    "reviews_done": {"name": "Code reviews", "unit": "review", "whole": True, "xp_per_unit": 10},
    "docs_written": {"name": "Docs written", "unit": "page", "xp_per_unit": 15},
    "commits": {"name": "Commits", "unit": "commit", "whole": True, "xp_per_unit": 2},
}


def mission(metric="reviews_done", goal=3, period="daily", **extra):
    return {"name": "Review three", "metric": metric, "goal": goal, "period": period, **extra}


def progress_of(effects, only):
    return [(e.mission_id, e.period, e.progress, e.completed) for e in only(effects, MissionProgressed)]


def completions(effects, only):
    return [(e.mission_id, e.period) for e in only(effects, MissionCompleted)]


def test_daily_mission_progress_and_completion(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, missions={"daily-reviews": mission(reward_xp=20)})
    first = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 2, "2026-11-02 09:00")])
    assert progress_of(first.effects, only) == [("daily-reviews", "2026-11-02", 2.0, False)]
    assert completions(first.effects, only) == []
    [progressed] = only(first.effects, MissionProgressed)
    assert progressed.goal == 3
    explanation = progressed.explanation
    assert (explanation.rule_id, explanation.rule_version, explanation.event_ids) == (
        "missions.daily-reviews",
        7,
        ("r1",),
    )
    assert explanation.text == "Review three (2026-11-02): 2 of 3 reviews_done units"
    assert first.state.xp == 20

    second = engine.apply(first.state, [ev("r2", "reviews_done", 1, "2026-11-02 10:00")])
    assert progress_of(second.effects, only) == [("daily-reviews", "2026-11-02", 3.0, True)]
    [completed] = only(second.effects, MissionCompleted)
    assert (completed.mission_id, completed.period, completed.reward_xp, completed.reward_badge) == (
        "daily-reviews",
        "2026-11-02",
        20,
        None,
    )
    assert completed.explanation.rule_id == "missions.daily-reviews"
    assert completed.explanation.event_ids == ("r2",)
    assert "Review three completed (2026-11-02): 3 ≥ 3" in completed.explanation.text
    [reward] = [e for e in only(second.effects, XpAwarded) if e.source == "mission"]
    assert reward.amount == 20
    assert reward.metric is None
    assert reward.explanation.rule_id == "missions.daily-reviews"
    assert reward.explanation.text.endswith("→ +20 XP")
    assert second.state.xp == 30 + 20
    assert second.state.reward_xp == 20


def test_mission_completes_only_once_per_period(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, missions={"daily-reviews": mission(reward_xp=20)})
    state = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 3, "2026-11-02 09:00")]).state
    assert state.xp == 50

    more = engine.apply(state, [ev("r2", "reviews_done", 4, "2026-11-02 18:00")])
    assert progress_of(more.effects, only) == [("daily-reviews", "2026-11-02", 7.0, True)]
    assert completions(more.effects, only) == []
    assert more.state.xp == state.xp + 40  # no second reward

    # A new day is a new period: it can be completed again.
    next_day = engine.apply(more.state, [ev("r3", "reviews_done", 3, "2026-11-03 09:00")])
    assert completions(next_day.effects, only) == [("daily-reviews", "2026-11-03")]
    assert next_day.state.xp == more.state.xp + 30 + 20


def test_daily_missions_in_one_batch_spanning_days(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, missions={"daily-reviews": mission(reward_xp=20)})
    events = [
        ev("a", "reviews_done", 3, "2026-11-02 09:00"),
        ev("b", "reviews_done", 1, "2026-11-03 09:00"),
        ev("c", "reviews_done", 5, "2026-11-04 09:00"),
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert progress_of(outcome.effects, only) == [
        ("daily-reviews", "2026-11-02", 3.0, True),
        ("daily-reviews", "2026-11-03", 1.0, False),
        ("daily-reviews", "2026-11-04", 5.0, True),
    ]
    assert completions(outcome.effects, only) == [
        ("daily-reviews", "2026-11-02"),
        ("daily-reviews", "2026-11-04"),
    ]
    by_period = {e.period: e.explanation.event_ids for e in only(outcome.effects, MissionProgressed)}
    assert by_period == {"2026-11-02": ("a",), "2026-11-03": ("b",), "2026-11-04": ("c",)}
    assert outcome.state.xp == 90 + 40


def test_daily_mission_counts_the_users_local_day(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, missions={"daily-reviews": mission()})
    # 2 Nov 22:00Z and 3 Nov 03:00Z are both 3 Nov in Kolkata (UTC+5:30).
    events = [
        ev("a", "reviews_done", 2, "2026-11-02T22:00:00+00:00"),
        ev("b", "reviews_done", 1, "2026-11-03T03:00:00+00:00"),
    ]
    local = engine.apply(engine.new_state("ana", "Asia/Kolkata"), events)
    assert completions(local.effects, only) == [("daily-reviews", "2026-11-03")]
    utc = engine.apply(engine.new_state("ana"), events)
    assert completions(utc.effects, only) == []


@pytest.mark.parametrize(
    ("week_starts", "progress", "completed"),
    [
        # Monday weeks: Sun 8 Nov ends the week of 2 Nov; Mon 9 Nov starts the week of 9 Nov.
        (
            "monday",
            [("weekly", "week of 2026-11-02", 1.0, False), ("weekly", "week of 2026-11-09", 1.0, False)],
            [],
        ),
        # Sunday weeks: Sun 8 and Mon 9 Nov are both in the week of 8 Nov.
        ("sunday", [("weekly", "week of 2026-11-08", 2.0, True)], [("weekly", "week of 2026-11-08")]),
    ],
)
def test_weekly_mission_week_start(make_engine, ev, only, week_starts, progress, completed):
    engine = make_engine(
        metrics=METRICS,
        week_starts=week_starts,
        missions={"weekly": mission(goal=2, period="weekly", measure="events")},
    )
    events = [ev("a", "reviews_done", 1, "2026-11-08 12:00"), ev("b", "reviews_done", 1, "2026-11-09 12:00")]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert progress_of(outcome.effects, only) == progress
    assert completions(outcome.effects, only) == completed


def test_weekly_mission_sums_the_whole_week(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS, missions={"weekly": mission(goal=10, period="weekly", reward_xp=100)}
    )
    state = engine.new_state("ana")
    days = [("2026-11-02", 3, False), ("2026-11-05", 3, False), ("2026-11-08", 4, True)]
    for i, (day, reviews, done) in enumerate(days):
        outcome = engine.apply(state, [ev(f"r{i}", "reviews_done", reviews, f"{day} 12:00")])
        [progressed] = only(outcome.effects, MissionProgressed)
        assert (progressed.period, progressed.completed) == ("week of 2026-11-02", done)
        state = outcome.state
    assert progressed.progress == 10
    assert state.reward_xp == 100


def test_monthly_mission(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS, missions={"monthly": mission(goal=2, period="monthly", measure="events")}
    )
    split = engine.apply(
        engine.new_state("ana"),
        [ev("a", "reviews_done", 1, "2026-10-31 23:00"), ev("b", "reviews_done", 1, "2026-11-01 01:00")],
    )
    assert progress_of(split.effects, only) == [
        ("monthly", "2026-10", 1.0, False),
        ("monthly", "2026-11", 1.0, False),
    ]

    whole = engine.apply(split.state, [ev("c", "reviews_done", 1, "2026-11-30 23:59")])
    assert progress_of(whole.effects, only) == [("monthly", "2026-11", 2.0, True)]
    assert completions(whole.effects, only) == [("monthly", "2026-11")]

    december = engine.apply(whole.state, [ev("d", "reviews_done", 1, "2026-12-01 00:00")])
    assert progress_of(december.effects, only) == [("monthly", "2026-12", 1.0, False)]


def test_monthly_mission_across_the_year_end(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS, missions={"monthly": mission(goal=2, period="monthly", measure="events")}
    )
    events = [ev("a", "reviews_done", 1, "2026-12-01 00:00"), ev("b", "reviews_done", 1, "2026-12-31 23:59")]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert completions(outcome.effects, only) == [("monthly", "2026-12")]
    more = engine.apply(outcome.state, [ev("c", "reviews_done", 1, "2027-01-01 00:00")])
    assert progress_of(more.effects, only) == [("monthly", "2027-01", 1.0, False)]


def test_monthly_mission_in_local_time(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS, missions={"monthly": mission(goal=2, period="monthly", measure="events")}
    )
    # 31 Oct 20:00Z is 1 Nov 01:30 in Kolkata.
    events = [
        ev("a", "reviews_done", 1, "2026-10-31T20:00:00+00:00"),
        ev("b", "reviews_done", 1, "2026-11-10 12:00"),
    ]
    outcome = engine.apply(engine.new_state("ana", "Asia/Kolkata"), events)
    assert completions(outcome.effects, only) == [("monthly", "2026-11")]


DOCS_SPRINT = {
    "docs-sprint": mission(
        metric="docs_written",
        goal=3,
        period="window",
        starts="2026-11-16T00:00:00Z",
        ends="2026-11-23T00:00:00Z",
        reward_xp=150,
    )
}


def test_window_mission_bounds(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, missions=DOCS_SPRINT)
    outside = engine.apply(
        engine.new_state("ana"),
        [
            ev("before", "docs_written", 5, "2026-11-15T23:59:59+00:00"),
            ev("at-end", "docs_written", 5, "2026-11-23T00:00:00+00:00"),  # ends is exclusive
        ],
    )
    assert progress_of(outside.effects, only) == []
    assert outside.state.windows == {}

    at_start = engine.apply(outside.state, [ev("at-start", "docs_written", 2, "2026-11-16T00:00:00+00:00")])
    assert progress_of(at_start.effects, only) == [
        ("docs-sprint", "window", 2.0, False)
    ]  # starts is inclusive
    [progressed] = only(at_start.effects, MissionProgressed)
    assert progressed.explanation.event_ids == ("at-start",)

    last = engine.apply(at_start.state, [ev("last", "docs_written", 1, "2026-11-22T23:59:59+00:00")])
    assert progress_of(last.effects, only) == [("docs-sprint", "window", 3.0, True)]
    assert completions(last.effects, only) == [("docs-sprint", "window")]
    assert last.state.xp == at_start.state.xp + 15 + 150

    after = engine.apply(last.state, [ev("more", "docs_written", 1, "2026-11-20T12:00:00+00:00")])
    assert progress_of(after.effects, only) == [("docs-sprint", "window", 4.0, True)]
    assert completions(after.effects, only) == []


def test_window_mission_ignores_other_metrics(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, missions=DOCS_SPRINT)
    outcome = engine.apply(engine.new_state("ana"), [ev("r", "reviews_done", 9, "2026-11-18T12:00:00+00:00")])
    assert progress_of(outcome.effects, only) == []


def test_measure_units_versus_events(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS,
        missions={
            "units": mission(goal=5, reward_xp=1),
            "events": mission(goal=2, measure="events", reward_xp=2),
        },
    )
    one_big = engine.apply(engine.new_state("ana"), [ev("a", "reviews_done", 5, "2026-11-02 09:00")])
    assert progress_of(one_big.effects, only) == [
        ("units", "2026-11-02", 5.0, True),
        ("events", "2026-11-02", 1.0, False),
    ]
    assert only(one_big.effects, MissionProgressed)[1].explanation.text.endswith("1 of 2 reviews_done events")
    second = engine.apply(one_big.state, [ev("b", "reviews_done", 1, "2026-11-02 10:00")])
    assert completions(second.effects, only) == [("events", "2026-11-02")]


def test_fractional_units_count_exactly(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, missions={"pages": mission(metric="docs_written", goal=1)})
    events = [
        ev("a", "docs_written", 0.7, "2026-11-02 09:00"),
        ev("b", "docs_written", 0.2, "2026-11-02 10:00"),
        ev("c", "docs_written", 0.1, "2026-11-02 11:00"),
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert progress_of(outcome.effects, only) == [("pages", "2026-11-02", 1.0, True)]


def test_mission_reward_badge(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS,
        badges={"sprinter": {"name": "Sprinter", "criteria": {"kind": "granted"}}},
        missions={"daily-reviews": mission(reward_badge="sprinter")},
    )
    outcome = engine.apply(engine.new_state("ana"), [ev("a", "reviews_done", 3, "2026-11-02 09:00")])
    [completed] = only(outcome.effects, MissionCompleted)
    assert (completed.reward_xp, completed.reward_badge) == (0, "sprinter")
    [earned] = only(outcome.effects, BadgeEarned)
    assert earned.badge_id == "sprinter"
    assert outcome.state.badges == {"sprinter": 1}
    assert [e.source for e in only(outcome.effects, XpAwarded)] == ["metric"]  # no XP reward: none given


def test_missions_of_other_metrics_are_untouched(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, missions={"daily-reviews": mission()})
    outcome = engine.apply(engine.new_state("ana"), [ev("c", "commits", 3, "2026-11-02 09:00")])
    assert progress_of(outcome.effects, only) == []
