"""The rules of the game, as data: a versioned, validated rule set loaded from YAML."""

from .activity import BoostRule, StreakRule
from .badges import BadgeRule, Criterion
from .errors import RuleError, RulesInvalid
from .levels import LevelCurve
from .loader import default_rules, default_rules_text, load_rules, parse_rules, parse_rules_yaml
from .metrics import MetricRule, Phrase, XpTier
from .missions import MissionRule
from .ruleset import RuleSet
from .self_reports import (
    SelfReportRule,
    check_self_reports,
    count_days,
    counting_since,
    oldest_allowed,
    over_daily_limit,
)

__all__ = [
    "BadgeRule",
    "BoostRule",
    "Criterion",
    "LevelCurve",
    "MetricRule",
    "MissionRule",
    "Phrase",
    "RuleError",
    "RuleSet",
    "RulesInvalid",
    "SelfReportRule",
    "StreakRule",
    "XpTier",
    "check_self_reports",
    "count_days",
    "counting_since",
    "default_rules",
    "default_rules_text",
    "load_rules",
    "oldest_allowed",
    "over_daily_limit",
    "parse_rules",
    "parse_rules_yaml",
]
