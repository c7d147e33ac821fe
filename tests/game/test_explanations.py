"""Every effect explains itself: the deciding rule's id, the rule set's version, the events that counted."""

from __future__ import annotations

import json

import pytest

from game import (
    BadgeEarned,
    Engine,
    Explanation,
    LevelUp,
    MissionCompleted,
    MissionProgressed,
    StreakBroken,
    StreakExtended,
    XpAwarded,
    default_rules,
)
from game.effects import effect_dict


@pytest.fixture
def mixed(ev):
    """A batch under the default rules touching metric XP, streaks, missions, badges and the level."""
    engine = Engine(default_rules())
    events = [
        ev("r1", "reviews_done", 10, "2026-11-02 10:00"),
        ev("c1", "commits", 3, "2026-11-02 11:00"),
        ev("d1", "docs_written", 1, "2026-11-03 10:00"),
        ev("r2", "reviews_done", 1, "2026-11-03 11:00"),
    ]
    return engine, events, engine.apply(engine.new_state("ana"), events)


def test_every_effect_names_its_rule_version_and_events(mixed):
    engine, events, outcome = mixed
    kinds = {type(effect) for effect in outcome.effects}
    assert {XpAwarded, StreakExtended, MissionProgressed, MissionCompleted, BadgeEarned, LevelUp} <= kinds
    batch = {e.id for e in events}
    for effect in outcome.effects:
        explanation = effect.explanation
        assert explanation.rule_version == engine.rules.version == 1
        assert explanation.event_ids
        assert set(explanation.event_ids) <= batch
        assert explanation.text
        match effect:
            case XpAwarded(source="metric", metric=metric):
                assert explanation.rule_id == f"metrics.{metric}"
            case XpAwarded(source="mission") | MissionProgressed() | MissionCompleted():
                assert explanation.rule_id.startswith("missions.")
                assert explanation.rule_id.removeprefix("missions.") in engine.rules.missions
            case XpAwarded(source="badge"):
                assert explanation.rule_id.removeprefix("badges.") in engine.rules.badges
            case BadgeEarned(badge_id=badge_id):
                assert explanation.rule_id == f"badges.{badge_id}"
            case StreakExtended(streak_id=streak_id) | StreakBroken(streak_id=streak_id):
                assert explanation.rule_id == f"streaks.{streak_id}"
            case LevelUp():
                assert explanation.rule_id == "levels"
                assert set(explanation.event_ids) == batch  # every event's XP went into the level
    for effect in outcome.effects:
        if isinstance(effect, MissionProgressed | MissionCompleted):
            assert effect.explanation.rule_id == f"missions.{effect.mission_id}"


def test_metric_xp_lists_the_events_of_its_metric_and_day(mixed, only):
    _, _, outcome = mixed
    awards = {
        (a.metric, a.day): a.explanation.event_ids for a in only(outcome.effects, XpAwarded) if a.metric
    }
    assert awards == {
        ("reviews_done", "2026-11-02"): ("r1",),
        ("commits", "2026-11-02"): ("c1",),
        ("docs_written", "2026-11-03"): ("d1",),
        ("reviews_done", "2026-11-03"): ("r2",),
    }


def test_missions_list_the_events_of_their_metric_and_period(mixed, only):
    _, _, outcome = mixed
    progress = {
        (p.mission_id, p.period): p.explanation.event_ids for p in only(outcome.effects, MissionProgressed)
    }
    assert progress == {
        ("daily-reviews", "2026-11-02"): ("r1",),
        ("daily-reviews", "2026-11-03"): ("r2",),
        ("weekly-reviews", "week of 2026-11-02"): ("r1", "r2"),
    }
    [completed] = only(outcome.effects, MissionCompleted)
    assert completed.explanation.event_ids == ("r1",)
    [reward] = [a for a in only(outcome.effects, XpAwarded) if a.source == "mission"]
    assert (reward.explanation.rule_id, reward.explanation.event_ids) == ("missions.daily-reviews", ("r1",))


def test_streaks_list_only_the_events_that_counted(mixed, only):
    _, _, outcome = mixed
    streaks = {s.streak_id: s.explanation.event_ids for s in only(outcome.effects, StreakExtended)}
    # The review streak counts reviews only; the shipping streak commits and merged pull requests.
    assert streaks == {"reviewing": ("r1", "r2"), "shipping": ("c1",)}


def test_badges_list_only_the_events_that_counted(mixed, only):
    _, _, outcome = mixed
    badges = {(b.badge_id, b.period): b.explanation.event_ids for b in only(outcome.effects, BadgeEarned)}
    assert badges == {
        ("first-commit", None): ("c1",),  # an event_count of commits
        ("reviewer", None): ("r1", "r2"),  # a metric_total of reviews
        ("review-marathon", "2026-11-02"): ("r1",),  # reviews on 2 Nov only
    }


def test_explanation_value_semantics():
    calls = []

    def render():
        calls.append(1)
        return "lazy words"

    lazy = Explanation("levels", 3, ("a",), render)
    eager = Explanation("levels", 3, ("a",), "lazy words")
    assert calls == []  # not rendered until read
    assert lazy.text == "lazy words"
    assert lazy.text == "lazy words"
    assert calls == [1]  # rendered once
    assert lazy == eager
    assert hash(lazy) == hash(eager)
    assert lazy != Explanation("levels", 4, ("a",), "lazy words")
    assert lazy != "lazy words"
    assert repr(eager) == "Explanation('levels', v3, 'lazy words')"
    assert eager.as_dict() == {
        "rule_id": "levels",
        "rule_version": 3,
        "event_ids": ["a"],
        "text": "lazy words",
        "summary": "",
    }


def test_effect_dict_is_json_ready(mixed):
    _, _, outcome = mixed
    for effect in outcome.effects:
        data = effect_dict(effect)
        assert next(iter(data)) == "kind"
        assert data["kind"] == effect.kind
        assert data["explanation"]["rule_id"] == effect.explanation.rule_id
        json.dumps(data)
    level_up = next(e for e in outcome.effects if isinstance(e, LevelUp))
    assert effect_dict(level_up) == {
        "kind": "level_up",
        "explanation": level_up.explanation.as_dict(),
        "level_from": 1,
        "level_to": level_up.level_to,
        "xp": outcome.state.xp,
    }
