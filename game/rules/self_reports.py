"""Bounds on what players report about themselves (``reporters: [self]`` metrics).

Integrations report what a system saw; a player's own word needs limits, or back-dating a year of
made-up work is a level-up (three metrics a day for 399 days reached level 83 in two requests). The
rules say how far back a player may report, how many self-reports a metric takes per day, and how
many one request may carry. Pure: the caller gives the time (``as_of``), the player's timezone, and
how many self-reports each (metric, local day) already holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field

from game.events import MetricEvent, Rejection
from game.periods import day_label, local_day, zone

from .base import Rule

TOO_OLD = "self_report_too_old"
DAILY_LIMIT = "self_report_daily_limit"
TOO_MANY_SELF_REPORTS = "too_many_self_reports"


class SelfReportRule(Rule):
    """How far, how often and how much a player may report their own work."""

    max_age_days: Annotated[int, Field(ge=1, le=366)] = Field(
        default=7, description="a self-report may be at most this many days (of 24 hours) old"
    )
    max_per_day: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=10, description="self-reports of one metric on one of the player's local days"
    )
    max_per_request: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=50, description="self-reports in one request (more: the request is refused whole)"
    )


def oldest_allowed(rule: SelfReportRule, as_of: datetime) -> datetime:
    """The oldest ``occurred_at`` a self-report may have at ``as_of``."""
    return as_of - timedelta(days=rule.max_age_days)


def counting_since(rule: SelfReportRule, as_of: datetime) -> datetime:
    """From when the stored self-reports must be counted: the local day of the oldest allowed report
    may begin up to a day earlier (UTC offsets run from -12 h to +14 h)."""
    return oldest_allowed(rule, as_of) - timedelta(days=1)


def count_days(stored: Sequence[tuple[str, datetime]], timezone: str) -> dict[tuple[str, int], int]:
    """Self-reports already held, by (metric, the player's local day), from (metric, occurred_at)."""
    tz = zone(timezone)
    counts: dict[tuple[str, int], int] = {}
    for metric, occurred_at in stored:
        key = (metric, local_day(occurred_at, tz))
        counts[key] = counts.get(key, 0) + 1
    return counts


def too_old(rule: SelfReportRule, event: MetricEvent, as_of: datetime) -> Rejection | None:
    """A self-report older than the rules reach at ``as_of`` (None: not too old, or not a self-report)."""
    if event.source != "self" or event.occurred_at >= oldest_allowed(rule, as_of):
        return None
    reason = f"players may report their own work of the last {rule.max_age_days} days only"
    return Rejection(event.id, TOO_OLD, reason)


def over_daily_limit(
    rule: SelfReportRule,
    events: Sequence[MetricEvent],
    *,
    timezone: str,
    counted: Mapping[tuple[str, int], int],
) -> dict[int, Rejection]:
    """The self-reports among ``events`` (by index) past their metric's limit on the player's local
    day, first come first served in the given order, counting ``counted`` (those already held) and
    the earlier events that pass. Events of other sources are not looked at."""
    tz = zone(timezone)
    counts = dict(counted)
    refused: dict[int, Rejection] = {}
    for index, event in enumerate(events):
        if event.source != "self":
            continue
        day = local_day(event.occurred_at, tz)
        key = (event.metric, day)
        if counts.get(key, 0) >= rule.max_per_day:
            refused[index] = Rejection(
                event.id,
                DAILY_LIMIT,
                f"at most {rule.max_per_day} self-reports of {event.metric} a day "
                f"({day_label(day)} in {timezone} has them)",
            )
            continue
        counts[key] = counts.get(key, 0) + 1
    return refused


def check_self_reports(
    rule: SelfReportRule,
    events: Sequence[MetricEvent],
    *,
    as_of: datetime,
    timezone: str,
    counted: Mapping[tuple[str, int], int],
) -> dict[int, Rejection]:
    """The self-reports among ``events`` (by index) that the bounds refuse at ``as_of``: too old
    (``self_report_too_old``), or past the day's limit for that metric and local day of the player
    (``self_report_daily_limit``, see `over_daily_limit`). Events of other sources are not looked at."""
    refused: dict[int, Rejection] = {}
    young: list[int] = []
    for index, event in enumerate(events):
        rejection = too_old(rule, event, as_of)
        if rejection is None:
            young.append(index)
        else:
            refused[index] = rejection
    over = over_daily_limit(rule, [events[i] for i in young], timezone=timezone, counted=counted)
    refused.update({young[position]: rejection for position, rejection in over.items()})
    return dict(sorted(refused.items()))
