"""The rule set: one versioned document holding every rule, and the checks that span rules."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field

from .activity import BoostRule, StreakRule
from .badges import (
    AllOf,
    AnyOf,
    BadgeEarned,
    BadgeRule,
    Criterion,
    LevelReached,
)
from .base import Rule, RuleId
from .errors import RuleError
from .levels import LevelCurve, curve_thresholds
from .metrics import MetricRule
from .missions import MissionRule
from .self_reports import SelfReportRule


class RuleSet(Rule):
    """Every rule of one version. A changed rule set is a new version (and gets a new fingerprint)."""

    ruleset: RuleId
    version: Annotated[int, Field(ge=1)]
    description: str = ""
    week_starts: Literal["monday", "sunday"] = "monday"
    levels: LevelCurve
    metrics: dict[RuleId, MetricRule] = Field(min_length=1)
    streaks: dict[RuleId, StreakRule] = Field(default_factory=dict)
    boosts: dict[RuleId, BoostRule] = Field(default_factory=dict)
    badges: dict[RuleId, BadgeRule] = Field(default_factory=dict)
    missions: dict[RuleId, MissionRule] = Field(default_factory=dict)
    self_reports: SelfReportRule = Field(default_factory=SelfReportRule)
    """Bounds on players' reports of their own work (defaults apply when the file has none)."""

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the content: two rule sets with the same fingerprint score identically."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @cached_property
    def level_thresholds(self) -> tuple[int, ...]:
        return tuple(curve_thresholds(self.levels))


def cross_check(rules: RuleSet) -> list[RuleError]:
    """Checks that span rules on a structurally valid rule set: tier references resolve, composites
    have no cycles, level goals are reachable. (Unknown names: see references.reference_errors.)"""
    errors: list[RuleError] = []
    top_level = len(rules.level_thresholds)
    for badge_id, badge in rules.badges.items():
        for path, criterion in walk_criteria(badge.criteria, f"badges.{badge_id}.criteria"):
            if isinstance(criterion, BadgeEarned) and criterion.tier is not None:
                target = rules.badges.get(criterion.badge)
                if target is not None and criterion.tier not in (target.tiers or {}):
                    tiers = ", ".join(target.tiers or {}) or "it has no tiers"
                    errors.append(
                        RuleError(
                            f"{path}.tier",
                            f"badge {criterion.badge!r} has no tier {criterion.tier!r} ({tiers})",
                        )
                    )
        levels_asked = [badge.criteria.level] if isinstance(badge.criteria, LevelReached) else []
        if isinstance(badge.criteria, LevelReached) and badge.tiers:
            levels_asked = [int(goal) for goal in badge.tiers.values()]
        for level in levels_asked:
            if level is not None and level > top_level:
                errors.append(
                    RuleError(
                        f"badges.{badge_id}",
                        f"level {level} can never be reached: the top level is {top_level}",
                    )
                )
    errors.extend(_composite_cycles(rules))
    return errors


def walk_criteria(criterion: Criterion, path: str) -> Iterator[tuple[str, Criterion]]:
    """Every criterion in a (possibly composite) criterion, with its path in the rules file."""
    yield path, criterion
    if isinstance(criterion, AllOf | AnyOf):
        for i, child in enumerate(criterion.of):
            yield from walk_criteria(child, f"{path}.of.{i}")


def badge_references(criterion: Criterion) -> list[str]:
    return [c.badge for _, c in walk_criteria(criterion, "") if isinstance(c, BadgeEarned)]


def _composite_cycles(rules: RuleSet) -> list[RuleError]:
    """A badge that (through others) requires itself could never be earned."""
    graph = {badge_id: badge_references(badge.criteria) for badge_id, badge in rules.badges.items()}
    errors: list[RuleError] = []
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue  # unknown badge: reported by cross_check
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    errors.append(
                        RuleError(
                            f"badges.{nxt}.criteria", "composite badges form a cycle: " + " -> ".join(cycle)
                        )
                    )
            elif state.get(nxt) is None:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for badge_id in graph:
        if badge_id not in state:
            visit(badge_id, [badge_id])
    return errors
