"""Judging badge criteria against a user's state, with the reasoning in words."""

from __future__ import annotations

from .periods import period_days
from .rules.badges import (
    AllOf,
    AnyOf,
    BadgeEarned,
    BadgeRule,
    Criterion,
    EventCount,
    Granted,
    LevelReached,
    MetricTotal,
    StreakDays,
    goal_of,
)
from .rules.ruleset import RuleSet, badge_references
from .scoring import number
from .state import MILLI, UserState

Scope = tuple[str, int] | None
"""None for all time, or (period, period key) for a repeatable badge."""
_PERIOD_NOUN = {"daily": "day", "weekly": "week", "monthly": "month"}


class BadgeJudge:
    """Counts the tiers a badge's criterion meets (fast, numbers only) and explains a verdict in words."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.order = _dependencies_first(rules)
        self.inputs = {badge_id: _inputs(badge.criteria) for badge_id, badge in rules.badges.items()}
        """badge -> inputs of its verdict: "metric:<id>", "metric:*", "streak:<id>", "level", "badge:<id>"."""
        self.evidence = _transitive_inputs(rules)
        """badge -> its inputs and those of the badges it refers to: where its events come from."""

    def tiers_met(self, badge: BadgeRule, state: UserState, scope: Scope) -> int:
        """How many tiers the badge's criterion meets (1 or 0 for an untiered badge)."""
        if badge.tiers is not None:
            value = self.value(badge.criteria, state, scope)
            return sum(1 for goal in badge.tiers.values() if value >= goal)
        return 1 if self.met(badge.criteria, state, scope) else 0

    def value(self, criterion: Criterion, state: UserState, scope: Scope) -> float:
        """The quantity a goal-bearing criterion compares with its goal."""
        match criterion:
            case MetricTotal(metric=metric):
                return self._sum(state, (metric,), scope, 0) / MILLI
            case EventCount(metric=metric):
                return float(self._sum(state, (metric,) if metric else tuple(self.rules.metrics), scope, 1))
            case StreakDays(streak=streak):
                progress = state.streaks.get(streak)
                return float(progress.best if progress else 0)
            case LevelReached():
                return float(state.level)
        raise TypeError(f"criterion {criterion.kind!r} has no goal")  # pragma: no cover (the rules forbid it)

    def met(self, criterion: Criterion, state: UserState, scope: Scope) -> bool:
        match criterion:
            case AllOf(of=children):
                return all(self.met(child, state, scope) for child in children)
            case AnyOf(of=children):
                return any(self.met(child, state, scope) for child in children)
            case BadgeEarned(badge=badge_id, tier=tier):
                return state.badges.get(badge_id, 0) >= self._tier_index(badge_id, tier)
            case Granted():
                return False
            case MetricTotal() | EventCount() | StreakDays() | LevelReached():
                goal = goal_of(criterion)
                assert goal is not None  # the rules demand a goal on untiered badges
                return self.value(criterion, state, scope) >= goal
        raise TypeError(f"unknown criterion {criterion!r}")  # pragma: no cover

    def explain(self, badge: BadgeRule, state: UserState, scope: Scope) -> str:
        """The verdict in words, e.g. "reviews_done total 52 ≥ 50 (silver)"."""
        criterion = badge.criteria
        if badge.tiers is None:
            return self._explain(criterion, state, scope)
        value = self.value(criterion, state, scope)
        names = list(badge.tiers)
        reached = sum(1 for goal in badge.tiers.values() if value >= goal)
        name = names[max(reached, 1) - 1]
        sign = "≥" if reached else "<"
        return f"{self._label(criterion, scope)} {number(value)} {sign} {number(badge.tiers[name])} ({name})"

    def _explain(self, criterion: Criterion, state: UserState, scope: Scope) -> str:
        match criterion:
            case AllOf(of=children) | AnyOf(of=children):
                word = "all of" if isinstance(criterion, AllOf) else "any of"
                parts = "; ".join(
                    f"{self._explain(child, state, scope)} {'✓' if self.met(child, state, scope) else '✗'}"
                    for child in children
                )
                return f"{word}: {parts}"
            case BadgeEarned(badge=badge_id, tier=tier):
                label = f"badge {badge_id}" + (f" at {tier} or better" if tier else "")
                return label + (" earned" if self.met(criterion, state, scope) else " not earned")
            case Granted():
                return "granted as a reward"
            case MetricTotal() | EventCount() | StreakDays() | LevelReached():
                goal = goal_of(criterion)
                assert goal is not None
                value = self.value(criterion, state, scope)
                sign = "≥" if value >= goal else "<"
                return f"{self._label(criterion, scope)} {number(value)} {sign} {number(goal)}"
        raise TypeError(f"unknown criterion {criterion!r}")  # pragma: no cover

    @staticmethod
    def _label(criterion: Criterion, scope: Scope) -> str:
        period = f" this {_PERIOD_NOUN[scope[0]]}" if scope else ""
        match criterion:
            case MetricTotal(metric=metric):
                return f"{metric} total{period}"
            case EventCount(metric=metric):
                return f"{metric + ' ' if metric else ''}events{period}"
            case StreakDays(streak=streak):
                return f"best {streak} streak (days)"
        return "level"

    def _tier_index(self, badge_id: str, tier: str | None) -> int:
        return 1 if tier is None else list(self.rules.badges[badge_id].tiers or {}).index(tier) + 1

    @staticmethod
    def _sum(state: UserState, metrics: tuple[str, ...], scope: Scope, index: int) -> int:
        if scope is None:
            totals = state.metric_totals
            return sum(totals[metric][index] for metric in metrics if metric in totals)
        period, key = scope
        days = state.days
        return sum(days[m, d][index] for d in period_days(key, period) for m in metrics if (m, d) in days)


def _transitive_inputs(rules: RuleSet) -> dict[str, frozenset[str]]:
    """Each badge's inputs, including those of the badges it refers to (the rules have no cycles)."""
    resolved: dict[str, frozenset[str]] = {}
    for badge_id in _dependencies_first(rules):
        own = _inputs(rules.badges[badge_id].criteria)
        referred = [resolved[token.partition(":")[2]] for token in own if token.startswith("badge:")]
        resolved[badge_id] = own.union(*referred)
    return resolved


def _inputs(criterion: Criterion) -> frozenset[str]:
    match criterion:
        case AllOf(of=children) | AnyOf(of=children):
            return frozenset().union(*(_inputs(child) for child in children))
        case MetricTotal(metric=metric):
            return frozenset({f"metric:{metric}"})
        case EventCount(metric=metric):
            return frozenset({f"metric:{metric or '*'}"})
        case StreakDays(streak=streak):
            return frozenset({f"streak:{streak}"})
        case LevelReached():
            return frozenset({"level"})
        case BadgeEarned(badge=badge_id):
            return frozenset({f"badge:{badge_id}"})
    return frozenset()


def _dependencies_first(rules: RuleSet) -> list[str]:
    """Badge ids ordered so that a composite comes after the badges it refers to (no cycles: checked)."""
    order: list[str] = []
    placed: set[str] = set()

    def place(badge_id: str) -> None:
        if badge_id in placed:
            return
        placed.add(badge_id)
        for ref in badge_references(rules.badges[badge_id].criteria):
            place(ref)
        order.append(badge_id)

    for badge_id in rules.badges:
        place(badge_id)
    return order
