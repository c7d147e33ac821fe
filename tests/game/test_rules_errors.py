"""Invalid rules files: every error names its path and line, what was found there, and why it is wrong."""

from __future__ import annotations

import re

import pytest

from game import RuleError, RulesInvalid, default_rules, load_rules, parse_rules, parse_rules_yaml
from game.rules import default_rules_text

# Line numbers below count from this text: line 10 is `xp_per_unit: 10`, line 11 the first appended line.
BASE = """\
ruleset: test
version: 1
levels:
  curve: table
  thresholds: [0, 100, 250]
metrics:
  reviews_done:
    name: Code reviews
    unit: review
    xp_per_unit: 10
"""


def errors_of(text: str) -> tuple[RuleError, ...]:
    with pytest.raises(RulesInvalid) as caught:
        parse_rules_yaml(text)
    return caught.value.errors


def only_error(text: str) -> RuleError:
    [error] = errors_of(text)
    return error


def with_levels(levels: str) -> str:
    return BASE.replace("  curve: table\n  thresholds: [0, 100, 250]\n", levels)


def test_base_is_valid():
    rules = parse_rules_yaml(BASE)
    assert rules.level_thresholds == (0, 100, 250)


def test_unknown_metric_referenced_by_a_badge():
    text = BASE + (
        "badges:\n"
        "  reviewer:\n"
        "    name: Reviewer\n"
        "    criteria: {kind: metric_total, metric: reveiws_done, threshold: 10}\n"
    )
    error = only_error(text)
    assert error.path == "badges.reviewer.criteria.metric"
    assert error.line == 14
    assert error.value == "'reveiws_done'"
    assert "unknown metric 'reveiws_done'" in error.message
    assert "known: reviews_done" in error.message
    assert str(error) == (
        "badges.reviewer.criteria.metric (line 14): unknown metric 'reveiws_done' (known: reviews_done) "
        "[found: 'reveiws_done']"
    )


def test_rules_invalid_message_lists_every_error():
    text = BASE.replace("xp_per_unit: 10", "xp_per_unit: -5\n    whole: maybe")
    with pytest.raises(RulesInvalid) as caught:
        parse_rules_yaml(text, source="team.yaml")
    invalid = caught.value
    assert invalid.source == "team.yaml"
    assert sorted(e.path for e in invalid.errors) == [
        "metrics.reviews_done.whole",
        "metrics.reviews_done.xp_per_unit",
    ]
    message = str(invalid)
    assert message.startswith("team.yaml: 2 errors\n")
    assert "  - metrics.reviews_done.xp_per_unit (line 10): " in message
    assert "  - metrics.reviews_done.whole (line 11): " in message


@pytest.mark.parametrize(
    ("text", "path", "line", "found"),
    [
        (BASE.replace("xp_per_unit: 10", "xp_per_unit: -5"), "metrics.reviews_done.xp_per_unit", 10, "-5"),
        (
            BASE + "badges:\n  b:\n    name: B\n    criteria: {kind: level, level: 2}\n    xp: -10\n",
            "badges.b.xp",
            15,
            "-10",
        ),
        (
            BASE
            + "missions:\n  m:\n    name: M\n    metric: reviews_done\n    goal: 3\n"
            + "    period: daily\n    reward_xp: -20\n",
            "missions.m.reward_xp",
            17,
            "-20",
        ),
    ],
)
def test_negative_xp(text, path, line, found):
    error = only_error(text)
    assert (error.path, error.line, error.value) == (path, line, found)
    assert "greater than or equal to 0" in error.message
    assert f"(line {line})" in str(error)
    assert f"[found: {found}]" in str(error)


def test_cycle_in_composite_badges():
    text = BASE + (
        "badges:\n"
        "  a:\n"
        "    name: A\n"
        "    criteria: {kind: badge, badge: b}\n"  # line 14
        "  b:\n"
        "    name: B\n"
        "    criteria:\n"
        "      kind: all\n"
        "      of:\n"
        "        - {kind: badge, badge: c}\n"
        "  c:\n"
        "    name: C\n"
        "    criteria: {kind: any, of: [{kind: badge, badge: a}]}\n"
        "  d:\n"
        "    name: D\n"
        "    criteria: {kind: badge, badge: a}\n"  # depends on the cycle, is not part of it
    )
    error = only_error(text)
    assert error.path == "badges.a.criteria"
    assert error.line == 14
    assert "cycle: a -> b -> c -> a" in error.message


def test_cycle_is_reported_once():
    text = BASE + (
        "badges:\n"
        "  a:\n    name: A\n    criteria: {kind: badge, badge: b}\n"
        "  b:\n    name: B\n"
        "    criteria: {kind: all, of: [{kind: badge, badge: a}, {kind: badge, badge: a}]}\n"
    )
    error = only_error(text)
    assert "cycle: a -> b -> a" in error.message


def test_badge_requiring_itself_is_a_cycle():
    text = BASE + "badges:\n  a:\n    name: A\n    criteria: {kind: all, of: [{kind: badge, badge: a}]}\n"
    error = only_error(text)
    assert error.path == "badges.a.criteria"
    assert "cycle: a -> a" in error.message


def test_malformed_yaml_names_the_line():
    text = BASE.replace("    unit: review\n", "    unit: review: pages\n")
    error = only_error(text)
    assert error.path == ""
    assert error.line == 9
    assert error.message.startswith("malformed YAML: ")
    assert "mapping values are not allowed here" in error.message
    assert str(error).startswith("(top level) (line 9): malformed YAML")


def test_malformed_yaml_unclosed_flow_sequence():
    error = only_error(BASE + "badges:\n  a: [unclosed\n")
    assert error.message.startswith("malformed YAML: ")
    assert error.line is not None
    assert error.line >= 12


def test_a_character_yaml_forbids_names_itself_and_its_line():
    error = only_error(BASE + "badges:\x07\n")
    assert error.line == 11
    assert error.message.startswith("malformed YAML: the character U+0007 is not allowed")


def test_anchors_and_nesting_that_would_exhaust_the_process_are_malformed_yaml():
    # Within bounds, anchors and aliases still work (a shared list of thresholds, say).
    shared = BASE.replace("thresholds: [0, 100, 250]", "thresholds: &t [0, 100, 250]") + "x_copy: *t\n"
    assert "x_copy" in only_error(shared).message  # read fine: only the unknown key is wrong
    laughs = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 9)}]\n" for i in range(9))
    assert "expands to more than 100,000 values" in only_error(laughs).message
    assert "nested deeper than 64 levels" in only_error("[" * 100_000).message
    assert "nested deeper than 64 levels" in only_error("a: " + "{b: " * 64 + "1" + "}" * 64).message
    assert all(e.path for e in errors_of("a: " + "{b: " * 62 + "1" + "}" * 62))  # 63 levels: read, judged


def test_unknown_key_is_a_typo():
    error = only_error(BASE.replace("xp_per_unit: 10", "xp_per_unti: 10"))
    assert error.path == "metrics.reviews_done.xp_per_unti"
    assert error.line == 10
    assert error.message == "unknown key 'xp_per_unti' (a typo?)"


def test_unknown_top_level_key():
    error = only_error(BASE + "badgez: {}\n")
    assert error.path == "badgez"
    assert error.line == 11
    assert "a typo?" in error.message


def test_duplicate_keys():
    text = BASE + "  reviews_done:\n    name: Again\n    unit: review\n    xp_per_unit: 1\n"
    error = only_error(text)
    assert error.line == 11
    assert error.message == "malformed YAML: duplicate key 'reviews_done'"


def test_duplicate_keys_nested_in_a_list():
    text = BASE + "streaks:\n  s:\n    name: S\n    metrics: [reviews_done]\n    freezes: 1\n    freezes: 2\n"
    error = only_error(text)
    assert error.line == 16
    assert "duplicate key 'freezes'" in error.message


def test_unknown_tier_referenced():
    text = BASE + (
        "badges:\n"
        "  reviewer:\n"
        "    name: Reviewer\n"
        "    criteria: {kind: metric_total, metric: reviews_done}\n"
        "    tiers: {bronze: 10, silver: 50}\n"
        "  fan:\n"
        "    name: Fan\n"
        "    criteria:\n"
        "      kind: all\n"
        "      of:\n"
        "        - {kind: badge, badge: reviewer, tier: platinum}\n"  # line 21
    )
    error = only_error(text)
    assert error.path == "badges.fan.criteria.of.0.tier"
    assert error.line == 21
    assert error.message == "badge 'reviewer' has no tier 'platinum' (bronze, silver)"


def test_tier_of_an_untiered_badge():
    text = BASE + (
        "badges:\n"
        "  helper:\n    name: Helper\n"
        "    criteria: {kind: metric_total, metric: reviews_done, threshold: 1}\n"
        "  fan:\n    name: Fan\n    criteria: {kind: badge, badge: helper, tier: gold}\n"
    )
    error = only_error(text)
    assert error.path == "badges.fan.criteria.tier"
    assert "it has no tiers" in error.message


def test_unknown_streak():
    text = (
        BASE + "badges:\n  steady:\n    name: Steady\n    criteria: {kind: streak, streak: daily, days: 3}\n"
    )
    error = only_error(text)
    assert error.path == "badges.steady.criteria.streak"
    assert error.line == 14
    assert error.message == "unknown streak 'daily' (known: none defined)"
    assert error.value == "'daily'"


def test_unknown_mission_reward_badge():
    text = BASE + (
        "missions:\n"
        "  m:\n"
        "    name: M\n"
        "    metric: reviews_done\n"
        "    goal: 3\n"
        "    period: daily\n"
        "    reward_badge: champion\n"  # line 17
    )
    error = only_error(text)
    assert error.path == "missions.m.reward_badge"
    assert error.line == 17
    assert "unknown badge 'champion'" in error.message


def test_repeat_on_a_streak_badge():
    text = BASE + (
        "streaks:\n"
        "  s: {name: S}\n"
        "badges:\n"
        "  steady:\n"  # line 14
        "    name: Steady\n"
        "    criteria: {kind: streak, streak: s, days: 3}\n"
        "    repeat: daily\n"
    )
    error = only_error(text)
    assert error.path == "badges.steady"
    assert error.line == 14
    assert "a repeatable badge needs a metric_total or event_count criterion" in error.message


def test_tiers_and_goal_together():
    text = BASE + (
        "badges:\n"
        "  reviewer:\n"
        "    name: Reviewer\n"
        "    criteria: {kind: metric_total, metric: reviews_done, threshold: 5}\n"
        "    tiers: {bronze: 10, silver: 50}\n"
    )
    error = only_error(text)
    assert error.path == "badges.reviewer"
    assert error.line == 12
    assert "a tiered badge takes its goals from tiers" in error.message


def test_tier_goals_not_increasing():
    text = BASE + (
        "badges:\n"
        "  reviewer:\n"
        "    name: Reviewer\n"
        "    criteria: {kind: metric_total, metric: reviews_done}\n"
        "    tiers: {bronze: 10, silver: 50, gold: 50}\n"
    )
    error = only_error(text)
    assert error.path == "badges.reviewer"
    assert "tier goals must increase" in error.message
    assert "'gold': 50" in error.message  # what was found


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ("[0, 100, 100]", "thresholds must increase: level 3 needs 100 XP, level 2 100"),
        ("[0, 100, 50]", "thresholds must increase: level 3 needs 50 XP, level 2 100"),
        ("[10, 100, 250]", "thresholds must start at 0 (level 1), got 10"),
    ],
)
def test_level_table_not_increasing_or_not_starting_at_zero(thresholds, message):
    error = only_error(BASE.replace("[0, 100, 250]", thresholds))
    assert error.path == "levels"
    assert error.line == 3
    assert error.message == message


def test_level_formula_whose_rounding_makes_two_levels_equal():
    # 1 · (L - 1)^0.5 rounded to 10: level 2 needs round(0.1) · 10 = 0, like level 1.
    text = with_levels("  curve: polynomial\n  base: 1\n  exponent: 0.5\n  round_to: 10\n")
    error = only_error(text)
    assert error.path == "levels"
    assert error.line == 3
    assert error.message.startswith("levels 1 and 2 would both need 0 XP after rounding")


def test_exponential_overflow():
    text = with_levels("  curve: exponential\n  base: 100\n  growth: 10\n  max_level: 100000\n")
    error = only_error(text)
    assert error.path == "levels"
    assert "lower max_level or growth" in error.message
    assert str(2**62) in error.message


def test_formula_beyond_the_xp_limit():
    # 100 · (2^99 - 1) is far above 2^62.
    text = with_levels("  curve: exponential\n  base: 100\n  growth: 2\n  max_level: 100\n")
    error = only_error(text)
    assert error.path == "levels"
    assert re.search(rf"the top level would need \d+ XP, more than {2**62}", error.message)


def test_window_mission_without_ends():
    text = BASE + (
        "missions:\n"
        "  sprint:\n"
        "    name: Sprint\n"
        "    metric: reviews_done\n"
        "    goal: 3\n"
        "    period: window\n"
        "    starts: 2026-11-16T00:00:00Z\n"
    )
    error = only_error(text)
    assert error.path == "missions.sprint"
    assert error.line == 12
    assert error.message == "period: window needs both starts and ends"


def test_boost_ends_before_starts():
    text = BASE + (
        "boosts:\n"
        "  double:\n"
        "    name: Double\n"
        "    multiplier: 2\n"
        "    starts: 2026-11-16T00:00:00Z\n"
        "    ends: 2026-11-10T00:00:00Z\n"
    )
    error = only_error(text)
    assert error.path == "boosts.double"
    assert error.line == 12
    assert error.message == (
        "ends (2026-11-10T00:00:00+00:00) must be after starts (2026-11-16T00:00:00+00:00)"
    )


def test_unreachable_level_badge():
    text = BASE + "badges:\n  level-9:\n    name: Nine\n    criteria: {kind: level, level: 9}\n"
    error = only_error(text)
    assert error.path == "badges.level-9"
    assert error.line == 12
    assert error.message == "level 9 can never be reached: the top level is 3"


def test_unreachable_tier_of_a_level_badge():
    text = BASE + (
        "badges:\n  climber:\n    name: Climber\n"
        "    criteria: {kind: level}\n    tiers: {bronze: 2, silver: 4}\n"
    )
    error = only_error(text)
    assert error.path == "badges.climber"
    assert error.message == "level 4 can never be reached: the top level is 3"


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file(text):
    error = only_error(text)
    assert error.path == ""
    assert error.message == "the rules file is empty"
    assert str(error) == "(top level): the rules file is empty"


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just words\n", "str"), ("42\n", "int")])
def test_non_mapping_document(text, kind):
    error = only_error(text)
    assert error.message == f"a rule set is a mapping of keys, not a {kind}"


def test_parse_rules_without_a_source_text_has_no_lines():
    data = {
        "ruleset": "test",
        "version": 1,
        "levels": {"curve": "table", "thresholds": [0, 100]},
        "metrics": {"reviews_done": {"name": "R", "unit": "review", "xp_per_unit": -1}},
    }
    with pytest.raises(RulesInvalid) as caught:
        parse_rules(data, source="api")
    [error] = caught.value.errors
    assert (error.path, error.line, error.value) == ("metrics.reviews_done.xp_per_unit", None, "-1")
    assert (
        str(error)
        == "metrics.reviews_done.xp_per_unit: Input should be greater than or equal to 0 [found: -1]"
    )


def test_parse_rules_rejects_non_mapping_data():
    with pytest.raises(RulesInvalid) as caught:
        parse_rules(["not", "a", "mapping"])
    assert caught.value.errors[0].message == "a rule set is a mapping of keys, not a list"


def test_load_rules_on_a_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RulesInvalid) as caught:
        load_rules(missing)
    [error] = caught.value.errors
    assert error.message.startswith("cannot read the rules file")
    assert "No such file" in error.message
    assert caught.value.source == str(missing)
    assert str(missing) in str(caught.value)


def test_load_rules_from_a_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load_rules(path) == parse_rules_yaml(BASE)
    path.write_text(BASE.replace("xp_per_unit: 10", "xp_per_unit: -1"), encoding="utf-8")
    with pytest.raises(RulesInvalid) as caught:
        load_rules(str(path))
    assert str(caught.value).startswith(f"{path}: 1 error\n")


def test_long_found_values_are_shortened():
    error = only_error(BASE.replace("ruleset: test", "ruleset: " + "X" * 200))
    assert error.path == "ruleset"
    assert error.value is not None
    assert len(error.value) == 80
    assert error.value.endswith("...")


# Further classes of error, each with the path it must name.
MORE = {
    "rate and tiers": (
        BASE + "    xp_tiers: [{xp_per_unit: 1}]\n",
        "metrics.reviews_done",
        "give exactly one of xp_per_unit",
    ),
    "no rate": (
        BASE.replace("    xp_per_unit: 10\n", ""),
        "metrics.reviews_done",
        "give exactly one of xp_per_unit",
    ),
    "open tier in the middle": (
        BASE.replace("xp_per_unit: 10", "xp_tiers: [{xp_per_unit: 1}, {up_to: 5, xp_per_unit: 2}]"),
        "metrics.reviews_done",
        "only the last of xp_tiers may leave out up_to",
    ),
    "tier bounds not increasing": (
        BASE.replace("xp_per_unit: 10", "xp_tiers: [{up_to: 5, xp_per_unit: 1}, {up_to: 5, xp_per_unit: 2}]"),
        "metrics.reviews_done",
        "xp_tiers up_to must increase from tier to tier, got [5.0, 5.0]",
    ),
    "unknown reporter": (
        BASE + "    reporters: [robot]\n",
        "metrics.reviews_done.reporters.0",
        "Input should be 'integration' or 'self'",
    ),
    "bad id": (
        BASE + "  Bad Id:\n    name: X\n    unit: x\n    xp_per_unit: 1\n",
        "metrics.Bad Id",
        "String should match pattern",
    ),
    "missing key": (BASE.replace("    unit: review\n", ""), "metrics.reviews_done.unit", "Field required"),
    "unknown criterion kind": (
        BASE + "badges:\n  b:\n    name: B\n    criteria: {kind: magic}\n",
        "badges.b.criteria",
        "Input tag 'magic' found using 'kind' does not match any of the expected tags",
    ),
    "goal missing": (
        BASE + "badges:\n  b:\n    name: B\n    criteria: {kind: metric_total, metric: reviews_done}\n",
        "badges.b",
        "criteria of kind 'metric_total' need a goal, or the badge needs tiers",
    ),
    "tiers without a goal-bearing criterion": (
        BASE + "badges:\n  b:\n    name: B\n    criteria: {kind: granted}\n    tiers: {bronze: 1}\n",
        "badges.b",
        "tiers need a criterion with a goal, not kind 'granted'",
    ),
    "goal of a nested criterion": (
        BASE
        + "badges:\n  b:\n    name: B\n"
        + "    criteria: {kind: all, of: [{kind: metric_total, metric: reviews_done, "
        + "threshold: -1}]}\n",
        "badges.b.criteria.of.0.threshold",
        "Input should be greater than 0",
    ),
    "unknown badge referenced": (
        BASE + "badges:\n  b:\n    name: B\n    criteria: {kind: badge, badge: ghost}\n",
        "badges.b.criteria.badge",
        "unknown badge 'ghost'",
    ),
    "unknown metric of a boost": (
        BASE
        + "boosts:\n  x:\n    name: X\n    multiplier: 2\n    metrics: [docs]\n"
        + "    starts: 2026-11-16T00:00:00Z\n    ends: 2026-11-17T00:00:00Z\n",
        "boosts.x.metrics.0",
        "unknown metric 'docs'",
    ),
    "naive boost time": (
        BASE
        + "boosts:\n  x:\n    name: X\n    multiplier: 2\n"
        + "    starts: 2026-11-16T00:00:00\n    ends: 2026-11-17T00:00:00Z\n",
        "boosts.x.starts",
        "Input should have timezone info",
    ),
    "unknown metric of a streak": (
        BASE + "streaks:\n  s:\n    name: S\n    metrics: [commits]\n",
        "streaks.s.metrics.0",
        "unknown metric 'commits'",
    ),
    "unknown metric of a mission": (
        BASE + "missions:\n  m:\n    name: M\n    metric: commits\n    goal: 3\n    period: daily\n",
        "missions.m.metric",
        "unknown metric 'commits'",
    ),
    "window times on a daily mission": (
        BASE
        + "missions:\n  m:\n    name: M\n    metric: reviews_done\n    goal: 3\n    period: daily\n"
        + "    starts: 2026-11-16T00:00:00Z\n",
        "missions.m",
        "starts and ends belong to period: window, not period: daily",
    ),
    "window ends before starts": (
        BASE
        + "missions:\n  m:\n    name: M\n    metric: reviews_done\n    goal: 3\n    period: window\n"
        + "    starts: 2026-11-16T00:00:00Z\n    ends: 2026-11-16T00:00:00Z\n",
        "missions.m",
        "must be after starts",
    ),
    "unknown curve": (with_levels("  curve: cubic\n"), "levels", "does not match any of the expected tags"),
    "too few table levels": (BASE.replace("[0, 100, 250]", "[0]"), "levels.thresholds", "at least 2 items"),
    "bad week start": (BASE + "week_starts: friday\n", "week_starts", "Input should be 'monday' or 'sunday'"),
    "no metrics": (
        BASE.split("metrics:", maxsplit=1)[0] + "metrics: {}\n",
        "metrics",
        "Dictionary should have at least 1 item",
    ),
}


@pytest.mark.parametrize("case", sorted(MORE))
def test_more_error_classes(case):
    text, path, message = MORE[case]
    errors = errors_of(text)
    assert [e.path for e in errors] == [path]
    assert message in errors[0].message
    assert errors[0].line is not None


# -- the shipped default rules -----------------------------------------------------------------------


def test_default_rules_load():
    rules = default_rules()
    assert (rules.ruleset, rules.version) == ("software-teams", 1)
    assert set(rules.metrics) == {
        "commits",
        "prs_merged",
        "reviews_done",
        "tickets_closed",
        "incidents_resolved",
        "focus_minutes",
        "docs_written",
    }
    assert rules.level_thresholds[:4] == (0, 100, 280, 520)  # 100 · (L - 1)^1.5, to the nearest 10
    assert len(rules.level_thresholds) == 100
    assert rules.badges["night-shift"].secret is True
    assert rules.badges["review-marathon"].repeat == "daily"


def test_default_rules_text_round_trips():
    text = default_rules_text()
    assert parse_rules_yaml(text) == default_rules()
    rules = default_rules()
    again = parse_rules(rules.model_dump(mode="json"))
    assert again == rules
    assert again.fingerprint == rules.fingerprint


def test_fingerprint_changes_when_a_rule_changes():
    text = default_rules_text()
    rules = default_rules()
    assert re.fullmatch(r"[0-9a-f]{16}", rules.fingerprint)
    assert parse_rules_yaml(text).fingerprint == rules.fingerprint  # stable across loads
    # Comments and layout are not rules.
    assert parse_rules_yaml("# a comment\n" + text).fingerprint == rules.fingerprint

    changed = text.replace("    xp_per_unit: 10\n", "    xp_per_unit: 11\n", 1)
    assert changed != text
    assert parse_rules_yaml(changed).fingerprint != rules.fingerprint
    bumped = text.replace("version: 1", "version: 2", 1)
    assert parse_rules_yaml(bumped).fingerprint != rules.fingerprint
