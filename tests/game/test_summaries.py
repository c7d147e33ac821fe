"""Every effect has a short human summary beside its arithmetic: from the rules' per-metric phrase (or
the metric's name and amount when it has none), the mission's, badge's and streak's names, the level,
and a granted reward's own words. A summary names no date and no XP amount (screens format those)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from game import (
    BadgeEarned,
    Effect,
    Engine,
    Explanation,
    LevelUp,
    MetricEvent,
    MissionCompleted,
    MissionProgressed,
    RulesInvalid,
    StreakBroken,
    StreakExtended,
    XpAwarded,
    default_rules,
)

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
XP_AMOUNT = re.compile(r"\d[\d,]* XP")
PHRASED = {
    "name": "Pull requests merged",
    "unit": "pull request",
    "whole": True,
    "xp_per_unit": 25,
    "cap_per_day": 50,
    "summary": {"one": "Merged a pull request", "other": "Merged {count} pull requests"},
}
PLAIN = {"name": "Docs written", "unit": "page", "xp_per_unit": 10}


def summaries(effects: tuple[Effect, ...], kind: type[Effect]) -> list[str]:
    return [effect.explanation.summary for effect in effects if isinstance(effect, kind)]


@pytest.fixture
def engine(make_engine):
    return make_engine(metrics={"prs_merged": PHRASED, "docs_written": PLAIN})


def test_a_metric_award_says_what_the_person_did_in_the_rules_words(engine, ev):
    one = engine.apply(engine.new_state("ana"), [ev("p1", "prs_merged", 1, "2026-11-02 10:00")])
    assert summaries(one.effects, XpAwarded) == ["Merged a pull request"]
    # Several events of a day are one award: the phrase for any other amount, with the amount.
    two = engine.apply(
        engine.new_state("ana"),
        [ev("p1", "prs_merged", 1, "2026-11-02 10:00"), ev("p2", "prs_merged", 1, "2026-11-02 11:00")],
    )
    assert summaries(two.effects, XpAwarded) == ["Merged 2 pull requests"]


def test_without_a_phrase_the_summary_is_the_metric_name_and_the_amount(engine, ev):
    outcome = engine.apply(
        engine.new_state("ana"),
        [ev("d1", "docs_written", 1, "2026-11-02 10:00"), ev("d2", "docs_written", 1.5, "2026-11-03 10:00")],
    )
    assert summaries(outcome.effects, XpAwarded) == ["Docs written: 1 page", "Docs written: 1.5 pages"]


def test_a_summary_says_when_the_daily_cap_took_xp(engine, ev):
    first = engine.apply(engine.new_state("ana"), [ev("p1", "prs_merged", 2, "2026-11-02 10:00")])
    later = engine.apply(first.state, [ev("p2", "prs_merged", 1, "2026-11-02 11:00")])
    [award] = [e for e in later.effects if isinstance(e, XpAwarded)]
    assert award.amount == 0
    assert award.explanation.summary == "Merged a pull request (daily XP cap reached)"


def test_every_kind_of_award_has_its_summary(ev):
    engine = Engine(default_rules())
    events = [
        ev("r1", "reviews_done", 10, "2026-11-02 10:00"),
        ev("c1", "commits", 3, "2026-11-02 11:00"),
        ev("c2", "commits", 1, "2026-11-03 11:00"),
    ]
    outcome = engine.apply(engine.new_state("ana", "Europe/Paris"), events)
    effects = outcome.effects
    assert summaries(effects, LevelUp) == [f"Reached level {outcome.state.level}"]
    assert set(summaries(effects, BadgeEarned)) == {
        "Badge: Hello, world",
        "Badge: Second pair of eyes (bronze)",
        "Badge: Review marathon",  # repeatable: its period (a date) is left to the screen
    }
    assert summaries(effects, MissionCompleted) == ["Mission complete: Review three pull requests today"]
    assert "Review three pull requests today: done" in summaries(effects, MissionProgressed)
    assert "Fifteen reviews this week: 10 of 15" in summaries(effects, MissionProgressed)
    assert set(summaries(effects, StreakExtended)) == {
        "Review streak: started",
        "Shipping streak: 2 days in a row",  # one effect per streak and batch
    }
    by_source = {(e.source, e.explanation.summary) for e in effects if isinstance(e, XpAwarded)}
    assert by_source >= {
        ("metric", "Did 10 code reviews (daily XP cap reached)"),
        ("metric", "Pushed 3 commits"),
        ("metric", "Pushed a commit"),
        ("mission", "Mission: Review three pull requests today"),
        ("badge", "Badge: Second pair of eyes (bronze)"),
        ("badge", "Badge: Review marathon"),
    }
    for effect in effects:
        assert effect.explanation.summary
        assert not DATE.search(effect.explanation.summary), effect
        assert not XP_AMOUNT.search(effect.explanation.summary), effect


def test_a_broken_streak_says_how_long_it_was(make_engine, ev):
    engine = make_engine(streaks={"daily": {"name": "Review streak", "freezes": 0}})
    days = [ev(f"r{day}", "reviews_done", 1, f"2026-11-0{day} 10:00") for day in (2, 3, 4)]
    before = engine.apply(engine.new_state("ana"), days)
    after = engine.apply(before.state, [ev("r9", "reviews_done", 1, "2026-11-09 10:00")])
    assert summaries(after.effects, StreakBroken) == ["Review streak of 3 days ended; a new one starts"]
    assert summaries(after.effects, StreakExtended) == []  # the new one is one day: not longer than before


def test_a_granted_reward_has_the_callers_summary_or_a_plain_one(make_engine):
    engine = make_engine(badges={"champion": {"name": "Champion", "criteria": {"kind": "granted"}, "xp": 5}})
    outcome = engine.grant(
        engine.new_state("ana"),
        xp=120,
        badge="champion",
        source="challenge",
        explanation="rank 1 of 2 in Sprint (score 12)",
        summary="Sprint: Platform, rank 1 of 2",
    )
    assert summaries(outcome.effects, XpAwarded) == ["Sprint: Platform, rank 1 of 2", "Badge: Champion"]
    assert summaries(outcome.effects, LevelUp) == ["Reached level 2"]
    plain = engine.grant(engine.new_state("ana"), xp=1, badge=None, source="challenge", explanation="a prize")
    assert summaries(plain.effects, XpAwarded) == ["Reward: a prize"]


def test_summaries_render_on_first_read_and_count_in_equality():
    calls: list[int] = []

    def render() -> str:
        calls.append(1)
        return "Merged a pull request"

    lazy = Explanation("metrics.prs_merged", 1, ("a",), "words", render)
    assert calls == []
    assert lazy.summary == lazy.summary == "Merged a pull request"
    assert calls == [1]
    assert lazy == Explanation("metrics.prs_merged", 1, ("a",), "words", "Merged a pull request")
    assert lazy != Explanation("metrics.prs_merged", 1, ("a",), "words", "Merged two")
    assert lazy.as_dict()["summary"] == "Merged a pull request"


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ({"one": "a", "other": "Did {n} things"}, "unknown placeholder {n}"),
        ({"one": "a", "other": "Did {count:d} things"}, "write {count} plainly"),
        ({"one": "a", "other": "Did {count things"}, "write {count} for the amount"),
        ({"one": "a"}, "other"),
        ({"one": "", "other": "b"}, "one"),
    ],
)
def test_a_bad_phrase_is_a_rules_error_naming_its_path(rules_yaml, phrase, message):
    from game import parse_rules_yaml

    metric = {"name": "Code reviews", "unit": "review", "xp_per_unit": 10, "summary": phrase}
    with pytest.raises(RulesInvalid) as caught:
        parse_rules_yaml(rules_yaml(metrics={"reviews_done": metric}))
    [error] = caught.value.errors
    assert error.path.startswith("metrics.reviews_done.summary"), error
    assert message in str(error), error


def test_a_phrase_may_write_a_brace_doubled(make_engine, ev):
    phrase = {"one": "Closed a {{ticket}}", "other": "Closed {count} {{tickets}}"}
    engine = make_engine(metrics={"t": {"name": "T", "unit": "ticket", "xp_per_unit": 1, "summary": phrase}})
    outcome = engine.apply(engine.new_state("ana"), [ev("t1", "t", 2, "2026-11-02 10:00")])
    assert summaries(outcome.effects, XpAwarded) == ["Closed 2 {tickets}"]


START = datetime(2026, 11, 2, tzinfo=UTC)
METRICS = sorted(default_rules().metrics)


@given(
    st.lists(
        st.tuples(st.sampled_from(METRICS), st.integers(1, 12), st.integers(0, 30 * 24)),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["UTC", "Europe/Paris", "Pacific/Auckland", "America/Los_Angeles"]),
)
def test_summaries_never_name_a_date_or_an_xp_amount(events, timezone):
    engine = Engine(default_rules())
    batch = [
        MetricEvent(f"e{index}", "ana", metric, value, START + timedelta(hours=hours))
        for index, (metric, value, hours) in enumerate(events)
    ]
    outcome = engine.apply(engine.new_state("ana", timezone), batch)
    for effect in outcome.effects:
        summary = effect.explanation.summary
        assert summary
        assert not DATE.search(summary), summary
        assert not XP_AMOUNT.search(summary), summary
