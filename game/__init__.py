"""gamif's game engine: pure, tick-free scoring of metric events into XP, levels, badges,
streaks and missions, with an explanation for every award.

    from game import Engine, default_rules, MetricEvent

    engine = Engine(default_rules())
    outcome = engine.apply(engine.new_state("ana", "Europe/Paris"), events)
    outcome.state.xp, [effect.explanation.text for effect in outcome.effects]

No I/O (except the explicit loaders), no clock reads, no imports of other gamif packages.
"""

from .effects import (
    BadgeEarned,
    Effect,
    Explanation,
    LevelUp,
    MissionCompleted,
    MissionProgressed,
    StreakBroken,
    StreakExtended,
    XpAwarded,
    effect_dict,
)
from .engine import Engine, Outcome
from .event_files import EventFileError, EventRecord, read_events, read_users, sample_events, sample_users
from .events import MetricEvent, Rejection, Source
from .levels import LevelProgress
from .periods import UnknownTimezone
from .replay import BacktestReport, UserDiff, backtest, replay, simulate
from .rules import (
    RuleError,
    RuleSet,
    RulesInvalid,
    default_rules,
    default_rules_text,
    load_rules,
    parse_rules,
    parse_rules_yaml,
)
from .state import StreakProgress, UserState

__all__ = [
    "BacktestReport",
    "BadgeEarned",
    "Effect",
    "Engine",
    "EventFileError",
    "EventRecord",
    "Explanation",
    "LevelProgress",
    "LevelUp",
    "MetricEvent",
    "MissionCompleted",
    "MissionProgressed",
    "Outcome",
    "Rejection",
    "RuleError",
    "RuleSet",
    "RulesInvalid",
    "Source",
    "StreakBroken",
    "StreakExtended",
    "StreakProgress",
    "UnknownTimezone",
    "UserDiff",
    "UserState",
    "XpAwarded",
    "backtest",
    "default_rules",
    "default_rules_text",
    "effect_dict",
    "load_rules",
    "parse_rules",
    "parse_rules_yaml",
    "read_events",
    "read_users",
    "replay",
    "sample_events",
    "sample_users",
    "simulate",
]
