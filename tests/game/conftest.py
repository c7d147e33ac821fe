"""Helpers for the game-engine tests: small rule sets built from YAML, and events with aware times.

The helpers are handed out as fixtures (``make_rules``, ``make_engine``, ``rules_yaml``, ``ev``, ``at``)
so that test modules never import this conftest by name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import yaml

from game import Effect, Engine, MetricEvent, RuleSet, parse_rules_yaml

T = TypeVar("T", bound=Effect)

VERSION = 7
"""The version of every rule set built by `build_rules` (explanations must carry it)."""

MINIMAL: dict[str, Any] = {
    "ruleset": "test-rules",
    "version": VERSION,
    "levels": {"curve": "table", "thresholds": [0, 100, 250, 500, 1000]},
    "metrics": {
        "reviews_done": {"name": "Code reviews", "unit": "review", "whole": True, "xp_per_unit": 10},
    },
}


def build_yaml(**sections: Any) -> str:
    """A minimal valid rule set as YAML; a keyword replaces (or adds) a top-level section, None drops it."""
    data = dict(MINIMAL)
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def build_rules(**sections: Any) -> RuleSet:
    return parse_rules_yaml(build_yaml(**sections))


def build_engine(**sections: Any) -> Engine:
    return Engine(build_rules(**sections))


def moment(text: str, tz: str = "UTC") -> datetime:
    """An aware datetime: ISO text with an offset is kept as is, otherwise read as wall time in `tz`."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ZoneInfo(tz))


def make_event(
    event_id: str,
    metric: str,
    value: float,
    when: str | datetime,
    *,
    user: str = "ana",
    source: str = "integration",
    tz: str = "UTC",
) -> MetricEvent:
    occurred_at = moment(when, tz) if isinstance(when, str) else when
    return MetricEvent(event_id, user, metric, value, occurred_at, source)  # type: ignore[arg-type]


def effects_of(effects: tuple[Effect, ...] | list[Effect], kind: type[T]) -> list[T]:
    return [effect for effect in effects if isinstance(effect, kind)]


@pytest.fixture
def rules_yaml() -> Callable[..., str]:
    return build_yaml


@pytest.fixture
def make_rules() -> Callable[..., RuleSet]:
    return build_rules


@pytest.fixture
def make_engine() -> Callable[..., Engine]:
    return build_engine


@pytest.fixture
def ev() -> Callable[..., MetricEvent]:
    return make_event


@pytest.fixture
def at() -> Callable[..., datetime]:
    return moment


@pytest.fixture
def only() -> Callable[..., list[Any]]:
    """Effects of one kind, in order: ``only(outcome.effects, XpAwarded)``."""
    return effects_of
