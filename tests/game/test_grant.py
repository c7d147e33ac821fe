"""`Engine.grant`: a reward decided outside the events (a challenge's prize) adds XP, levels up as any XP
does, awards the badge once, and explains every effect."""

from __future__ import annotations

import pytest

from game import BadgeEarned, LevelUp, XpAwarded

BADGES = {
    "champion": {"name": "Champion", "criteria": {"kind": "granted"}, "xp": 40},
    "level-2": {"name": "Level two", "criteria": {"kind": "level", "level": 2}},
}
TEXT = "rank 1 of 2 in November review sprint (score 12)"


def test_grant_adds_xp_levels_up_and_explains(make_engine, only):
    engine = make_engine(badges=BADGES)
    before = engine.new_state("ana")
    outcome = engine.grant(
        before, xp=120, badge=None, source="challenge", explanation=TEXT, rule_id="challenges.nov"
    )
    assert before.xp == 0  # pure: the given state is untouched
    assert (outcome.state.xp, outcome.state.reward_xp, outcome.state.level) == (120, 120, 2)
    assert outcome.xp_gained == 120
    assert outcome.accepted == ()
    [award] = only(outcome.effects, XpAwarded)
    assert (award.amount, award.source) == (120, "challenge")
    assert award.explanation.rule_id == "challenges.nov"
    assert award.explanation.rule_version == engine.version
    assert award.explanation.event_ids == ()
    assert award.explanation.text == f"reward for {TEXT} → +120 XP"
    [level_up] = only(outcome.effects, LevelUp)
    assert (level_up.level_from, level_up.level_to, level_up.xp) == (1, 2, 120)
    # The level reached earns the level badge, as XP from events would.
    assert [e.badge_id for e in only(outcome.effects, BadgeEarned)] == ["level-2"]


def test_grant_awards_the_badge_once_with_its_xp(make_engine, only):
    engine = make_engine(badges=BADGES)
    first = engine.grant(
        engine.new_state("ana"), xp=0, badge="champion", source="challenge", explanation=TEXT
    )
    [earned] = only(first.effects, BadgeEarned)
    assert earned.badge_id == "champion"
    assert earned.explanation.rule_id == "badges.champion"
    assert earned.explanation.text == f"Champion: reward for {TEXT}"
    assert first.state.badges["champion"] == 1
    assert [(e.amount, e.source) for e in only(first.effects, XpAwarded)] == [(40, "badge")]
    assert first.state.xp == 40

    again = engine.grant(first.state, xp=10, badge="champion", source="challenge", explanation=TEXT)
    assert only(again.effects, BadgeEarned) == []  # already has it
    assert again.state.xp == 50
    assert [e.explanation.rule_id for e in only(again.effects, XpAwarded)] == ["challenge"]


def test_grant_skips_a_badge_the_rules_do_not_have(make_engine, only):
    engine = make_engine(badges=BADGES)
    outcome = engine.grant(engine.new_state("ana"), xp=5, badge="gone", source="challenge", explanation=TEXT)
    assert only(outcome.effects, BadgeEarned) == []
    assert outcome.state.badges == {}
    assert outcome.state.xp == 5


def test_grant_of_nothing_changes_nothing(make_engine):
    engine = make_engine(badges=BADGES)
    state = engine.new_state("ana")
    outcome = engine.grant(state, xp=0, badge=None, source="challenge", explanation=TEXT)
    assert outcome.effects == ()
    assert outcome.state.to_dict() == state.to_dict()


def test_grant_refuses_negative_xp(make_engine):
    engine = make_engine()
    with pytest.raises(ValueError, match="cannot take XP away"):
        engine.grant(engine.new_state("ana"), xp=-1, badge=None, source="challenge", explanation=TEXT)
