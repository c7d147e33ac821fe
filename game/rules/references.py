"""Do the names a rule set refers to exist? Checked on the raw data, so that these errors are
reported together with the structural ones (a user fixing a file wants every error at once)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import RuleError


def reference_errors(data: Mapping[str, Any]) -> list[RuleError]:
    metrics = _names(data.get("metrics"))
    streaks = _names(data.get("streaks"))
    badges = _names(data.get("badges"))
    errors: list[RuleError] = []

    def check(path: str, kind: str, value: Any, known: set[str]) -> None:
        if isinstance(value, str) and value not in known:
            names = ", ".join(sorted(known)) or "none defined"
            errors.append(RuleError(path, f"unknown {kind} {value!r} (known: {names})", repr(value)))

    for section in ("boosts", "streaks"):
        for rule_id, rule in _items(data.get(section)):
            for i, metric in enumerate(_list(rule.get("metrics"))):
                check(f"{section}.{rule_id}.metrics.{i}", "metric", metric, metrics)
    for mission_id, mission in _items(data.get("missions")):
        check(f"missions.{mission_id}.metric", "metric", mission.get("metric"), metrics)
        check(f"missions.{mission_id}.reward_badge", "badge", mission.get("reward_badge"), badges)
    for badge_id, badge in _items(data.get("badges")):
        for path, criterion in _criteria(badge.get("criteria"), f"badges.{badge_id}.criteria"):
            kind = criterion.get("kind")
            if kind in ("metric_total", "event_count"):
                check(f"{path}.metric", "metric", criterion.get("metric"), metrics)
            elif kind == "streak":
                check(f"{path}.streak", "streak", criterion.get("streak"), streaks)
            elif kind == "badge":
                check(f"{path}.badge", "badge", criterion.get("badge"), badges)
    return errors


def _names(section: Any) -> set[str]:
    return {str(key) for key in section} if isinstance(section, Mapping) else set()


def _items(section: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(section, Mapping):
        for key, value in section.items():
            if isinstance(value, Mapping):
                yield str(key), value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _criteria(criterion: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(criterion, Mapping):
        return
    yield path, criterion
    if criterion.get("kind") in ("all", "any"):
        for i, child in enumerate(_list(criterion.get("of"))):
            yield from _criteria(child, f"{path}.of.{i}")
