"""A broken rules file reports every error at once: structural ones and unknown names together."""

from __future__ import annotations

import pytest

from game import RulesInvalid, parse_rules_yaml

BROKEN = """\
ruleset: broken
version: 1
levels: {curve: table, thresholds: [0, 100, 300]}
metrics:
  commits: {name: Commits, unit: commit, xp_per_unit: -2}
streaks:
  daily: {name: Daily, metrics: [comits]}
boosts:
  week: {name: Week, multiplier: 2, metrics: [docs], starts: 2026-11-16T00:00:00Z, ends: 2026-11-23T00:00:00Z}
badges:
  a: {name: A, criteria: {kind: metric_total, metric: reveiws, threshold: 3}}
  b: {name: B, criteria: {kind: any, of: [{kind: streak, streak: weekly, days: 2}, {kind: badge, badge: zz}]}}
missions:
  m: {name: M, metric: nope, goal: 1, period: daily, reward_badge: ghost}
"""


def test_structural_and_reference_errors_are_reported_together():
    with pytest.raises(RulesInvalid) as caught:
        parse_rules_yaml(BROKEN)
    found = {(error.path, error.line) for error in caught.value.errors}
    assert found == {
        ("metrics.commits.xp_per_unit", 5),
        ("streaks.daily.metrics.0", 7),
        ("boosts.week.metrics.0", 9),
        ("badges.a.criteria.metric", 11),
        ("badges.b.criteria.of.0.streak", 12),
        ("badges.b.criteria.of.1.badge", 12),
        ("missions.m.metric", 14),
        ("missions.m.reward_badge", 14),
    }
    messages = {error.path: error.message for error in caught.value.errors}
    assert messages["badges.a.criteria.metric"] == "unknown metric 'reveiws' (known: commits)"
    assert messages["missions.m.reward_badge"] == "unknown badge 'ghost' (known: a, b)"


@pytest.mark.parametrize(
    "text",
    [
        "ruleset: x\nversion: 1\nmetrics: [commits]\nbadges: {a: {name: A, criteria: nonsense}}\n",
        "ruleset: x\nversion: 1\nmetrics: {}\nbadges: [a, b]\nmissions: {m: 3}\n"
        "streaks: {s: {metrics: commits}}\n",
        "ruleset: x\nversion: 1\nbadges: {a: {criteria: {kind: all, of: nope}}}\n",
    ],
)
def test_malformed_shapes_are_structural_errors_not_crashes(text):
    with pytest.raises(RulesInvalid) as caught:
        parse_rules_yaml(text)
    assert caught.value.errors
    assert all(error.path for error in caught.value.errors)
