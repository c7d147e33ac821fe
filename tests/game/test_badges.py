"""Badges: every criterion kind, tiers, composites, secret, repeatable and granted badges, badge XP."""

from __future__ import annotations

import pytest

from game import BadgeEarned, LevelUp, MissionCompleted, XpAwarded

METRICS = {
    "reviews_done": {"name": "Code reviews", "unit": "review", "whole": True, "xp_per_unit": 10},
    "commits": {"name": "Commits", "unit": "commit", "whole": True, "xp_per_unit": 2},
    "docs_written": {"name": "Docs written", "unit": "page", "xp_per_unit": 15},
    "tickets_closed": {"name": "Tickets closed", "unit": "ticket", "whole": True, "xp_per_unit": 8},
    "incidents_resolved": {"name": "Incidents", "unit": "incident", "whole": True, "xp_per_unit": 60},
}
DAY = "2026-11-02"  # a Monday


def badge(name, criteria, **extra):
    return {"name": name, "criteria": criteria, **extra}


def total(metric, threshold=None):
    criteria = {"kind": "metric_total", "metric": metric}
    return criteria if threshold is None else {**criteria, "threshold": threshold}


def earned(effects, only):
    return [(e.badge_id, e.tier, e.period) for e in only(effects, BadgeEarned)]


def test_badge_awarded_on_threshold(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges={"reviewer": badge("Reviewer", total("reviews_done", 10))})
    below = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 9, f"{DAY} 09:00")])
    assert earned(below.effects, only) == []
    assert "reviewer" not in below.state.badges

    at_threshold = engine.apply(below.state, [ev("r2", "reviews_done", 1, f"{DAY} 10:00")])
    [effect] = only(at_threshold.effects, BadgeEarned)
    assert (effect.badge_id, effect.name, effect.tier, effect.period, effect.secret) == (
        "reviewer",
        "Reviewer",
        None,
        None,
        False,
    )
    assert at_threshold.state.badges == {"reviewer": 1}
    explanation = effect.explanation
    assert explanation.rule_id == "badges.reviewer"
    assert explanation.rule_version == 7
    assert "r2" in explanation.event_ids
    assert explanation.text.startswith("Reviewer: ")
    assert "reviews_done total 10 ≥ 10" in explanation.text


def test_metric_total_badge_with_a_fractional_threshold(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges={"writer": badge("Writer", total("docs_written", 2.5))})
    below = engine.apply(engine.new_state("ana"), [ev("d1", "docs_written", 2.499, f"{DAY} 09:00")])
    assert earned(below.effects, only) == []
    outcome = engine.apply(below.state, [ev("d2", "docs_written", 0.001, f"{DAY} 10:00")])
    assert earned(outcome.effects, only) == [("writer", None, None)]  # 2.499 + 0.001 = 2.5 exactly


def test_event_count_of_one_metric(make_engine, ev, only):
    criteria = {"kind": "event_count", "metric": "commits", "count": 3}
    engine = make_engine(metrics=METRICS, badges={"three-pushes": badge("Three pushes", criteria)})
    state = engine.new_state("ana")
    events = [
        ev("c1", "commits", 40, f"{DAY} 09:00"),  # the size of an event does not matter
        ev("c2", "commits", 1, f"{DAY} 10:00"),
        ev("r1", "reviews_done", 1, f"{DAY} 10:30"),  # another metric does not count
        ev("r2", "reviews_done", 1, f"{DAY} 10:40"),
    ]
    two = engine.apply(state, events)
    assert earned(two.effects, only) == []
    three = engine.apply(two.state, [ev("c3", "commits", 1, "2026-11-20 10:00")])
    [effect] = only(three.effects, BadgeEarned)
    assert effect.badge_id == "three-pushes"
    assert "commits events 3 ≥ 3" in effect.explanation.text


def test_event_count_of_any_metric(make_engine, ev, only):
    criteria = {"kind": "event_count", "count": 3}
    engine = make_engine(metrics=METRICS, badges={"busy": badge("Busy", criteria)})
    state = engine.apply(
        engine.new_state("ana"),
        [ev("c1", "commits", 1, f"{DAY} 09:00"), ev("r1", "reviews_done", 1, f"{DAY} 10:00")],
    ).state
    assert state.badges == {}
    outcome = engine.apply(state, [ev("d1", "docs_written", 0.5, f"{DAY} 11:00")])
    assert earned(outcome.effects, only) == [("busy", None, None)]
    assert "events 3 ≥ 3" in only(outcome.effects, BadgeEarned)[0].explanation.text


TIERED = {
    "reviewer": badge(
        "Reviewer", total("reviews_done"), tiers={"bronze": 10, "silver": 50, "gold": 200}, xp=50
    )
}


def test_tiered_badge_bronze_silver_gold(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=TIERED)
    state = engine.new_state("ana")
    steps = [(9, []), (1, ["bronze"]), (39, []), (1, ["silver"]), (149, []), (1, ["gold"]), (500, [])]
    for i, (reviews, tiers) in enumerate(steps):
        outcome = engine.apply(state, [ev(f"r{i}", "reviews_done", reviews, f"2026-11-{i + 2:02d} 10:00")])
        assert [t for _, t, _ in earned(outcome.effects, only)] == tiers
        state = outcome.state
    assert state.badges == {"reviewer": 3}
    assert state.reward_xp == 150  # 50 XP per tier


def test_tiered_badge_explains_the_tier_reached(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=TIERED)
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 52, f"{DAY} 10:00")])
    effects = only(outcome.effects, BadgeEarned)
    assert [e.tier for e in effects] == ["bronze", "silver"]
    assert all(e.explanation.text.startswith(f"Reviewer ({e.tier}): ") for e in effects)
    assert "reviews_done total 52 ≥ 50 (silver)" in effects[-1].explanation.text


def test_jumping_two_tiers_in_one_batch_gives_one_effect_per_tier(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=TIERED)
    bronze = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 12, f"{DAY} 10:00")]).state
    assert bronze.badges == {"reviewer": 1}
    xp_before = bronze.xp

    outcome = engine.apply(bronze, [ev("r2", "reviews_done", 190, "2026-11-03 10:00")])  # 202 in all
    assert earned(outcome.effects, only) == [("reviewer", "silver", None), ("reviewer", "gold", None)]
    badge_xp = [e for e in only(outcome.effects, XpAwarded) if e.source == "badge"]
    assert [(e.amount, e.explanation.rule_id) for e in badge_xp] == [(50, "badges.reviewer")] * 2
    assert outcome.state.xp == xp_before + 1900 + 100
    assert outcome.state.badges == {"reviewer": 3}


def test_jumping_all_tiers_from_nothing(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=TIERED)
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 200, f"{DAY} 10:00")])
    assert [t for _, t, _ in earned(outcome.effects, only)] == ["bronze", "silver", "gold"]
    assert outcome.state.xp == 2000 + 150


def test_streak_badge(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS,
        streaks={"reviewing": {"name": "Review streak", "metrics": ["reviews_done"]}},
        badges={"steady": badge("Steady", {"kind": "streak", "streak": "reviewing", "days": 3})},
    )
    state = engine.new_state("ana")
    for i, day in enumerate(["2026-11-02", "2026-11-03"]):
        outcome = engine.apply(state, [ev(f"r{i}", "reviews_done", 1, f"{day} 10:00")])
        assert earned(outcome.effects, only) == []
        state = outcome.state
    outcome = engine.apply(state, [ev("r9", "reviews_done", 1, "2026-11-04 10:00")])
    [effect] = only(outcome.effects, BadgeEarned)
    assert effect.badge_id == "steady"
    assert "best reviewing streak (days) 3 ≥ 3" in effect.explanation.text


def test_tiered_streak_badge_uses_the_best_streak(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS,
        streaks={"reviewing": {"name": "Review streak", "metrics": ["reviews_done"]}},
        badges={
            "steady": badge(
                "Steady", {"kind": "streak", "streak": "reviewing"}, tiers={"bronze": 2, "silver": 4}
            )
        },
    )
    days = ["2026-11-02", "2026-11-03", "2026-11-05", "2026-11-06", "2026-11-07", "2026-11-08"]
    events = [ev(f"r{i}", "reviews_done", 1, f"{day} 10:00") for i, day in enumerate(days)]
    first = engine.apply(engine.new_state("ana"), events[:2])
    assert earned(first.effects, only) == [("steady", "bronze", None)]
    second = engine.apply(first.state, events[2:5])  # a new run of 3: not yet silver
    assert earned(second.effects, only) == []
    third = engine.apply(second.state, events[5:])
    assert earned(third.effects, only) == [("steady", "silver", None)]


def test_level_badge(make_engine, ev, only):
    engine = make_engine(  # table: 0, 100, 250, 500, 1000
        metrics=METRICS, badges={"level-3": badge("Level three", {"kind": "level", "level": 3})}
    )
    below = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 24, f"{DAY} 10:00")])
    assert below.state.level == 2
    assert earned(below.effects, only) == []
    outcome = engine.apply(below.state, [ev("r2", "reviews_done", 1, f"{DAY} 11:00")])
    assert outcome.state.level == 3
    [effect] = only(outcome.effects, BadgeEarned)
    assert effect.badge_id == "level-3"
    assert "level 3 ≥ 3" in effect.explanation.text


def test_tiered_level_badge(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS,
        badges={"climber": badge("Climber", {"kind": "level"}, tiers={"bronze": 2, "silver": 4, "gold": 5})},
    )
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 50, f"{DAY} 10:00")])
    assert outcome.state.level == 4  # 500 XP
    assert earned(outcome.effects, only) == [("climber", "bronze", None), ("climber", "silver", None)]


COMPOSITES = {
    # Defined before the badges it refers to: the engine must judge those first.
    "well-rounded": badge(
        "Well rounded",
        {
            "kind": "all",
            "of": [
                {"kind": "badge", "badge": "committer", "tier": "silver"},
                {"kind": "badge", "badge": "helper"},
                total("docs_written", 2),
            ],
        },
        xp=100,
    ),
    "committer": badge("Committer", total("commits"), tiers={"bronze": 10, "silver": 50}),
    "helper": badge("Helper", total("reviews_done", 3)),
    "night-shift": badge(
        "Night shift",
        {
            "kind": "any",
            "of": [
                total("incidents_resolved", 10),
                {"kind": "event_count", "metric": "tickets_closed", "count": 3},
            ],
        },
        secret=True,
    ),
}


def test_composite_all_with_badge_and_tier_references(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=COMPOSITES)
    first = engine.apply(
        engine.new_state("ana"),
        [
            ev("c1", "commits", 10, f"{DAY} 09:00"),
            ev("r1", "reviews_done", 3, f"{DAY} 10:00"),
            ev("d1", "docs_written", 2, f"{DAY} 11:00"),
        ],
    )
    # committer is only bronze: well-rounded asks for silver.
    assert sorted(earned(first.effects, only)) == [("committer", "bronze", None), ("helper", None, None)]

    second = engine.apply(first.state, [ev("c2", "commits", 40, "2026-11-03 09:00")])
    assert earned(second.effects, only) == [("committer", "silver", None), ("well-rounded", None, None)]
    [composite] = [e for e in only(second.effects, BadgeEarned) if e.badge_id == "well-rounded"]
    text = composite.explanation.text
    assert text.startswith("Well rounded: all of: ")
    assert "badge committer at silver or better earned ✓" in text
    assert "badge helper earned ✓" in text
    assert "docs_written total 2 ≥ 2 ✓" in text
    assert second.state.reward_xp == 100
    assert second.state.xp == first.state.xp + 80 + 100


def test_composite_all_in_a_single_batch(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=COMPOSITES)
    outcome = engine.apply(
        engine.new_state("ana"),
        [
            ev("c1", "commits", 50, f"{DAY} 09:00"),
            ev("r1", "reviews_done", 3, f"{DAY} 10:00"),
            ev("d1", "docs_written", 2, f"{DAY} 11:00"),
        ],
    )
    assert ("well-rounded", None, None) in earned(outcome.effects, only)
    order = [e.badge_id for e in only(outcome.effects, BadgeEarned)]
    assert order.index("well-rounded") > order.index("helper")


def test_composite_all_names_the_unmet_part(make_engine, ev, only):
    rules = {
        "helper": badge("Helper", total("reviews_done", 3)),
        "pair": badge(
            "Pair", {"kind": "all", "of": [{"kind": "badge", "badge": "helper"}, total("commits", 5)]}
        ),
        "either": badge(
            "Either", {"kind": "any", "of": [{"kind": "badge", "badge": "helper"}, total("commits", 5)]}
        ),
    }
    engine = make_engine(metrics=METRICS, badges=rules)
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 3, f"{DAY} 10:00")])
    assert sorted(b for b, _, _ in earned(outcome.effects, only)) == ["either", "helper"]
    [either] = [e for e in only(outcome.effects, BadgeEarned) if e.badge_id == "either"]
    assert "any of: badge helper earned ✓; commits total 0 < 5 ✗" in either.explanation.text


def test_granted_inside_a_composite_is_never_met_by_activity(make_engine, ev, only):
    rules = {
        "either": badge("Either", {"kind": "any", "of": [{"kind": "granted"}, total("reviews_done", 3)]}),
        "both": badge("Both", {"kind": "all", "of": [{"kind": "granted"}, total("reviews_done", 3)]}),
    }
    engine = make_engine(metrics=METRICS, badges=rules)
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 30, f"{DAY} 10:00")])
    [either] = only(outcome.effects, BadgeEarned)
    assert either.badge_id == "either"
    assert "any of: granted as a reward ✗; reviews_done total 30 ≥ 3 ✓" in either.explanation.text


def test_composite_any_and_secret(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=COMPOSITES)
    events = [ev(f"t{i}", "tickets_closed", 1, f"{DAY} 1{i}:00") for i in range(3)]
    two = engine.apply(engine.new_state("ana"), events[:2])
    assert earned(two.effects, only) == []
    three = engine.apply(two.state, events[2:])
    [effect] = only(three.effects, BadgeEarned)
    assert effect.badge_id == "night-shift"
    assert effect.secret is True
    assert "any of: " in effect.explanation.text
    assert "tickets_closed events 3 ≥ 3 ✓" in effect.explanation.text


def test_untiered_badges_are_not_secret_by_default(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=COMPOSITES)
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 3, f"{DAY} 10:00")])
    [effect] = only(outcome.effects, BadgeEarned)
    assert (effect.badge_id, effect.secret) == ("helper", False)


MARATHON = {"marathon": badge("Marathon", total("reviews_done", 5), repeat="daily", xp=30)}


def test_repeatable_daily_badge(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=MARATHON)
    state = engine.new_state("ana")
    steps = [
        ("2026-11-02 08:00", 3, []),
        ("2026-11-02 09:00", 2, [("marathon", None, "2026-11-02")]),
        ("2026-11-02 10:00", 5, []),  # not twice in the same day
        ("2026-11-03 08:00", 4, []),  # counts only that day: 4 < 5
        ("2026-11-03 09:00", 1, [("marathon", None, "2026-11-03")]),  # earned again another day
    ]
    for i, (when, reviews, expected) in enumerate(steps):
        outcome = engine.apply(state, [ev(f"r{i}", "reviews_done", reviews, when)])
        assert earned(outcome.effects, only) == expected
        state = outcome.state
    assert state.badges == {"marathon": 1}
    assert len(state.repeat_badges) == 2
    assert state.reward_xp == 60  # 30 each time
    assert state.xp == 150 + 60


def test_repeatable_badge_explanation(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=MARATHON)
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 6, f"{DAY} 10:00")])
    [effect] = only(outcome.effects, BadgeEarned)
    assert effect.period == DAY
    assert effect.explanation.text.startswith(f"Marathon for {DAY}: ")
    assert "6 ≥ 5" in effect.explanation.text
    [award] = [e for e in only(outcome.effects, XpAwarded) if e.source == "badge"]
    assert award.amount == 30
    assert award.explanation.rule_id == "badges.marathon"


def test_repeatable_badge_in_two_periods_of_one_batch(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=MARATHON)
    events = [
        ev("r1", "reviews_done", 5, "2026-11-02 10:00"),
        ev("r2", "reviews_done", 4, "2026-11-03 10:00"),
        ev("r3", "reviews_done", 7, "2026-11-04 10:00"),
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert earned(outcome.effects, only) == [
        ("marathon", None, "2026-11-02"),
        ("marathon", None, "2026-11-04"),
    ]


def test_repeatable_daily_badge_uses_local_days(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=MARATHON)
    # 20:00Z on 2 Nov and 01:00Z on 3 Nov are both 2 Nov in New York (UTC-5).
    events = [
        ev("r1", "reviews_done", 3, "2026-11-02T20:00:00+00:00"),
        ev("r2", "reviews_done", 2, "2026-11-03T01:00:00+00:00"),
    ]
    local = engine.apply(engine.new_state("ana", "America/New_York"), events)
    assert earned(local.effects, only) == [("marathon", None, "2026-11-02")]
    utc = engine.apply(engine.new_state("ana", "UTC"), events)
    assert earned(utc.effects, only) == []


@pytest.mark.parametrize(
    ("week_starts", "days", "expected"),
    [
        # Monday weeks: Mon 2, Wed 4 and Sun 8 Nov are one week; Mon 9 starts the next.
        (
            "monday",
            ["2026-11-02", "2026-11-04", "2026-11-08"],
            [("weekly-three", None, "week of 2026-11-02")],
        ),
        ("monday", ["2026-11-04", "2026-11-08", "2026-11-09"], []),
        # Sunday weeks: Sun 8, Mon 9 and Sat 14 Nov are one week.
        (
            "sunday",
            ["2026-11-08", "2026-11-09", "2026-11-14"],
            [("weekly-three", None, "week of 2026-11-08")],
        ),
        ("sunday", ["2026-11-04", "2026-11-07", "2026-11-08"], []),
    ],
)
def test_repeatable_weekly_badge(make_engine, ev, only, week_starts, days, expected):
    engine = make_engine(
        metrics=METRICS,
        week_starts=week_starts,
        badges={"weekly-three": badge("Weekly three", {"kind": "event_count", "count": 3}, repeat="weekly")},
    )
    events = [
        ev(f"e{i}", "commits" if i % 2 else "reviews_done", 1, f"{day} 10:00") for i, day in enumerate(days)
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert earned(outcome.effects, only) == expected


def test_repeatable_weekly_badge_earned_again_the_next_week(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS,
        badges={"weekly-three": badge("Weekly three", {"kind": "event_count", "count": 3}, repeat="weekly")},
    )
    first_week = [ev(f"a{i}", "reviews_done", 1, f"2026-11-0{d} 10:00") for i, d in enumerate((2, 3, 4, 5))]
    first = engine.apply(engine.new_state("ana"), first_week)
    assert earned(first.effects, only) == [("weekly-three", None, "week of 2026-11-02")]
    second_week = [ev(f"b{i}", "reviews_done", 1, f"2026-11-{d:02d} 10:00") for i, d in enumerate((9, 10))]
    second = engine.apply(first.state, second_week)
    assert earned(second.effects, only) == []  # 2 this week; the 4 of last week do not count
    third = engine.apply(second.state, [ev("b9", "reviews_done", 1, "2026-11-15 10:00")])  # Sunday
    assert earned(third.effects, only) == [("weekly-three", None, "week of 2026-11-09")]


def test_repeatable_monthly_tiered_badge(make_engine, ev, only):
    engine = make_engine(
        metrics=METRICS,
        badges={
            "scribe": badge(
                "Scribe", total("docs_written"), tiers={"bronze": 2, "silver": 5}, repeat="monthly"
            )
        },
    )
    november = engine.apply(
        engine.new_state("ana"),
        [
            ev("d1", "docs_written", 4.5, "2026-11-03 10:00"),
            ev("d2", "docs_written", 0.5, "2026-11-30 23:00"),
        ],
    )
    assert earned(november.effects, only) == [
        ("scribe", "bronze", "2026-11"),
        ("scribe", "silver", "2026-11"),
    ]
    december = engine.apply(november.state, [ev("d3", "docs_written", 2, "2026-12-01 00:00")])
    assert earned(december.effects, only) == [("scribe", "bronze", "2026-12")]
    assert december.state.badges == {"scribe": 2}  # the best tier ever held


def test_badge_xp_can_level_up_and_earn_a_level_badge(make_engine, ev, only):
    # Level badges come first in the file, so only a fixed point finds them.
    badges = {
        "level-3": badge("Level three", {"kind": "level", "level": 3}),
        "level-2": badge("Level two", {"kind": "level", "level": 2}, xp=150),
        "reviewer": badge("Reviewer", total("reviews_done", 5), xp=60),
    }
    engine = make_engine(metrics=METRICS, badges=badges)  # table: 0, 100, 250, 500, 1000
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 5, f"{DAY} 10:00")])
    # 50 from reviews; +60 (reviewer) = 110: level 2; +150 (level-2) = 260: level 3.
    assert outcome.state.xp == 260
    assert outcome.state.reward_xp == 210
    assert outcome.state.level == 3
    assert [b for b, _, _ in earned(outcome.effects, only)] == ["reviewer", "level-2", "level-3"]
    awards = [(e.source, e.amount, e.explanation.rule_id) for e in only(outcome.effects, XpAwarded)]
    assert awards == [
        ("metric", 50, "metrics.reviews_done"),
        ("badge", 60, "badges.reviewer"),
        ("badge", 150, "badges.level-2"),
    ]
    [level_up] = only(outcome.effects, LevelUp)
    assert (level_up.level_from, level_up.level_to, level_up.xp) == (1, 3, 260)
    assert outcome.xp_gained == 260


GRANTED = {
    "mission-accomplished": badge("Mission accomplished", {"kind": "granted"}, xp=25),
    "follower": badge("Follower", {"kind": "badge", "badge": "mission-accomplished"}),
}
REVIEW_MISSION = {
    "daily-reviews": {
        "name": "Review three",
        "metric": "reviews_done",
        "goal": 3,
        "period": "daily",
        "reward_xp": 20,
        "reward_badge": "mission-accomplished",
    }
}


def test_granted_badge_via_mission_reward(make_engine, ev, only):
    engine = make_engine(metrics=METRICS, badges=GRANTED, missions=REVIEW_MISSION)
    # Plenty of activity, but a granted badge is never earned by activity.
    busy = engine.apply(engine.new_state("ana"), [ev("c1", "commits", 50, f"{DAY} 09:00")])
    assert earned(busy.effects, only) == []

    outcome = engine.apply(busy.state, [ev("r1", "reviews_done", 3, f"{DAY} 10:00")])
    assert earned(outcome.effects, only) == [("mission-accomplished", None, None), ("follower", None, None)]
    [granted] = [e for e in only(outcome.effects, BadgeEarned) if e.badge_id == "mission-accomplished"]
    assert granted.explanation.rule_id == "badges.mission-accomplished"
    assert "reward for Review three completed (2026-11-02)" in granted.explanation.text
    [completed] = only(outcome.effects, MissionCompleted)
    assert completed.reward_badge == "mission-accomplished"
    rewards = sorted((e.source, e.amount) for e in only(outcome.effects, XpAwarded) if e.source != "metric")
    assert rewards == [("badge", 25), ("mission", 20)]
    assert outcome.state.xp == busy.state.xp + 30 + 20 + 25

    # The mission again, another day: completed again, but the badge is not granted twice.
    again = engine.apply(outcome.state, [ev("r2", "reviews_done", 3, "2026-11-03 10:00")])
    assert len(only(again.effects, MissionCompleted)) == 1
    assert earned(again.effects, only) == []
    assert again.state.xp == outcome.state.xp + 30 + 20


def test_badges_are_never_earned_twice(make_engine, ev, only):
    badges = {
        **TIERED,
        "helper": badge("Helper", total("reviews_done", 2), xp=10),
        "busy": badge("Busy", {"kind": "event_count", "count": 1}),
        "level-2": badge("Level two", {"kind": "level", "level": 2}),
    }
    engine = make_engine(metrics=METRICS, badges=badges)
    state = engine.new_state("ana")
    seen = []
    for i in range(6):
        outcome = engine.apply(state, [ev(f"r{i}", "reviews_done", 100, f"2026-11-{i + 2:02d} 10:00")])
        seen.extend(earned(outcome.effects, only))
        state = outcome.state
    assert sorted(seen) == [
        ("busy", None, None),
        ("helper", None, None),
        ("level-2", None, None),
        ("reviewer", "bronze", None),
        ("reviewer", "gold", None),
        ("reviewer", "silver", None),
    ]
    assert state.badges == {"reviewer": 3, "helper": 1, "busy": 1, "level-2": 1}
    assert state.reward_xp == 3 * 50 + 10
