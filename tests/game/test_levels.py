"""Level curves at their exact thresholds, level progress, and the level-up effect."""

from __future__ import annotations

import itertools

import pytest

from game import LevelProgress, LevelUp, UserState

# Thresholds worked out by hand from the formulas in game/rules/levels.py (index 0 is level 1).
CURVES = {
    # base * (L - 1) ** exponent, to the nearest round_to: 100·1, 100·2^1.5 = 282.8 → 280,
    # 100·3^1.5 = 519.6 → 520, 100·4^1.5 = 800, 100·5^1.5 = 1118.0 → 1120.
    "polynomial": (
        {"curve": "polynomial", "base": 100, "exponent": 1.5, "round_to": 10, "max_level": 6},
        (0, 100, 280, 520, 800, 1120),
    ),
    # base * (L - 1) ** 2 with the default round_to of 1.
    "polynomial-square": (
        {"curve": "polynomial", "base": 50, "exponent": 2, "max_level": 4},
        (0, 50, 200, 450),
    ),
    # base * (growth^(L-1) - 1) / (growth - 1): with growth 2 that is base * (2^(L-1) - 1).
    "exponential": (
        {"curve": "exponential", "base": 100, "growth": 2, "max_level": 6},
        (0, 100, 300, 700, 1500, 3100),
    ),
    # growth 3, rounded to 50: 40·1 = 40 → 50, 40·4 = 160 → 150, 40·13 = 520 → 500, 40·40 = 1600.
    "exponential-rounded": (
        {"curve": "exponential", "base": 40, "growth": 3, "round_to": 50, "max_level": 5},
        (0, 50, 150, 500, 1600),
    ),
    "table": ({"curve": "table", "thresholds": [0, 50, 120, 300]}, (0, 50, 120, 300)),
}


@pytest.mark.parametrize("name", sorted(CURVES))
def test_thresholds_follow_the_formula(make_engine, name):
    levels, thresholds = CURVES[name]
    engine = make_engine(levels=levels)
    assert engine.thresholds == thresholds
    assert engine.rules.level_thresholds == thresholds


@pytest.mark.parametrize("name", sorted(CURVES))
def test_level_at_exact_thresholds(make_engine, name):
    levels, thresholds = CURVES[name]
    engine = make_engine(levels=levels)
    assert engine.level_for(0) == 1
    for level, xp in enumerate(thresholds[1:], start=2):
        assert engine.level_for(xp - 1) == level - 1
        assert engine.level_for(xp) == level
        assert engine.level_for(xp + 1) == level


@pytest.mark.parametrize("name", sorted(CURVES))
def test_huge_xp_is_the_top_level(make_engine, name):
    levels, thresholds = CURVES[name]
    engine = make_engine(levels=levels)
    progress = engine.progress(UserState("ana", xp=10**18))
    assert progress == LevelProgress(len(thresholds), 10**18, thresholds[-1], None)
    assert progress.fraction == 1.0
    assert progress.next_level_xp is None


def test_default_curve_is_large_and_increasing(make_engine):
    engine = make_engine(levels={"curve": "polynomial", "base": 100, "exponent": 1.5, "round_to": 10})
    thresholds = engine.thresholds
    assert len(thresholds) == 100  # max_level defaults to 100
    assert thresholds[:3] == (0, 100, 280)
    assert thresholds[-1] == 98500  # 100 · 99^1.5 = 98504.1 → 98500
    assert all(b > a for a, b in itertools.pairwise(thresholds))


@pytest.mark.parametrize(
    ("xp", "expected"),
    [
        (0, LevelProgress(1, 0, 0, 100)),
        (99, LevelProgress(1, 99, 0, 100)),
        (100, LevelProgress(2, 100, 100, 250)),
        (175, LevelProgress(2, 175, 100, 250)),
        (999, LevelProgress(4, 999, 500, 1000)),
        (1000, LevelProgress(5, 1000, 1000, None)),
    ],
)
def test_level_progress(make_engine, xp, expected):
    engine = make_engine()  # table: 0, 100, 250, 500, 1000
    assert engine.progress(UserState("ana", xp=xp)) == expected


@pytest.mark.parametrize(
    ("progress", "fraction"),
    [
        (LevelProgress(1, 0, 0, 100), 0.0),
        (LevelProgress(1, 25, 0, 100), 0.25),
        (LevelProgress(2, 175, 100, 250), 0.5),  # 75 of the 150 between levels 2 and 3
        (LevelProgress(4, 999, 500, 1000), 0.998),
        (LevelProgress(5, 1000, 1000, None), 1.0),
        (LevelProgress(5, 5000, 1000, None), 1.0),
    ],
)
def test_level_progress_fraction(progress, fraction):
    assert progress.fraction == pytest.approx(fraction)


def test_level_up_effect(make_engine, ev, only):
    engine = make_engine()  # 10 XP per review; table 0, 100, 250, 500, 1000
    state = engine.new_state("ana")
    below = engine.apply(state, [ev("r1", "reviews_done", 9, "2026-11-02 10:00")])
    assert below.state.level == 1
    assert only(below.effects, LevelUp) == []

    outcome = engine.apply(below.state, [ev("r2", "reviews_done", 1, "2026-11-02 11:00")])
    [level_up] = only(outcome.effects, LevelUp)
    assert (level_up.level_from, level_up.level_to, level_up.xp) == (1, 2, 100)
    assert outcome.state.level == 2
    assert level_up.explanation.rule_id == "levels"
    assert level_up.explanation.rule_version == 7
    assert level_up.explanation.event_ids == ("r2",)
    assert level_up.explanation.text == "100 XP reaches level 2 (needs 100 XP); level 3 needs 250 XP"


def test_level_up_jumping_several_levels(make_engine, ev, only):
    engine = make_engine()
    outcome = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 60, "2026-11-02 10:00")])
    [level_up] = only(outcome.effects, LevelUp)  # one effect for the whole jump
    assert (level_up.level_from, level_up.level_to, level_up.xp) == (1, 4, 600)
    assert level_up.explanation.text == "600 XP reaches level 4 (needs 500 XP); level 5 needs 1,000 XP"
    assert outcome.state.level == 4


def test_level_up_to_the_top_level_names_no_next_level(make_engine, ev, only):
    engine = make_engine()
    state = engine.apply(engine.new_state("ana"), [ev("r1", "reviews_done", 30, "2026-11-02 10:00")]).state
    assert state.level == 3
    outcome = engine.apply(state, [ev("r2", "reviews_done", 80, "2026-11-02 11:00")])
    [level_up] = only(outcome.effects, LevelUp)
    assert (level_up.level_from, level_up.level_to, level_up.xp) == (3, 5, 1100)
    assert level_up.explanation.text == "1,100 XP reaches level 5 (needs 1,000 XP)"
    more = engine.apply(outcome.state, [ev("r3", "reviews_done", 500, "2026-11-03 11:00")])
    assert only(more.effects, LevelUp) == []
    assert more.state.level == 5


def test_huge_xp_through_the_engine(make_engine, ev):
    engine = make_engine(metrics={"points": {"name": "Points", "unit": "point", "xp_per_unit": 1000}})
    outcome = engine.apply(engine.new_state("ana"), [ev("p1", "points", 10**15, "2026-11-02 10:00")])
    assert outcome.state.xp == 10**18
    assert outcome.state.level == 5
    progress = engine.progress(outcome.state)
    assert progress.next_level_xp is None
    assert progress.fraction == 1.0
