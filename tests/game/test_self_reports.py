"""The rules' bounds on self-reports: how far back, how many a day per metric, how many a request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from game import MetricEvent, RulesInvalid, default_rules, parse_rules_yaml
from game.rules import SelfReportRule, check_self_reports, count_days, counting_since, oldest_allowed

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def report(n: int, metric: str = "tickets_closed", at: datetime = NOW, source: str = "self") -> MetricEvent:
    return MetricEvent(f"e{n}", "ana", metric, 1, at, source)  # type: ignore[arg-type]


def codes(refused):
    return {index: rejection.code for index, rejection in refused.items()}


def test_the_default_rules_bound_self_reports():
    rule = default_rules().self_reports
    assert (rule.max_age_days, rule.max_per_day, rule.max_per_request) == (7, 10, 50)


def test_a_rules_file_without_the_section_gets_the_defaults_and_one_with_it_is_checked():
    text = default_rules().model_dump(mode="json")
    del text["self_reports"]
    assert parse_rules_yaml(yaml.safe_dump(text, sort_keys=False)).self_reports == SelfReportRule()
    text["self_reports"] = {"max_age_days": 0, "max_per_dya": 3}
    with pytest.raises(RulesInvalid) as invalid:
        parse_rules_yaml(yaml.safe_dump(text, sort_keys=False))
    paths = {error.path for error in invalid.value.errors}
    assert {"self_reports.max_age_days", "self_reports.max_per_dya"} <= paths


def test_back_dated_self_reports_are_refused_past_the_rules_reach():
    rule = SelfReportRule(max_age_days=7)
    events = [
        report(1, at=NOW - timedelta(days=7)),  # exactly a week: allowed
        report(2, at=NOW - timedelta(days=7, seconds=1)),
        report(3, at=NOW - timedelta(days=399)),
        report(4, at=NOW - timedelta(days=399), source="integration"),  # integrations are not bounded
    ]
    refused = check_self_reports(rule, events, as_of=NOW, timezone="UTC", counted={})
    assert codes(refused) == {1: "self_report_too_old", 2: "self_report_too_old"}
    assert "last 7 days" in refused[1].reason
    assert oldest_allowed(rule, NOW) == NOW - timedelta(days=7)
    assert counting_since(rule, NOW) == NOW - timedelta(days=8)


def test_each_metric_takes_so_many_self_reports_a_local_day_counting_what_is_stored():
    rule = SelfReportRule(max_per_day=3)
    paris = "Europe/Paris"
    late = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)  # already the 20th in Paris
    stored = count_days([("tickets_closed", late)], paris)
    events = [
        report(1),
        report(2),
        report(3),  # the 4th of the 20th in Paris: refused
        report(4, metric="docs_written"),  # another metric: its own count
        report(5, at=NOW - timedelta(days=1)),  # another day
    ]
    refused = check_self_reports(rule, events, as_of=NOW, timezone=paris, counted=stored)
    assert codes(refused) == {2: "self_report_daily_limit"}
    assert "at most 3 self-reports of tickets_closed a day" in refused[2].reason

    # In UTC the stored one was the 19th: the 20th has room for all three.
    stored_utc = count_days([("tickets_closed", late)], "UTC")
    assert check_self_reports(rule, events, as_of=NOW, timezone="UTC", counted=stored_utc) == {}


def test_the_bounds_are_first_come_first_served_in_the_given_order():
    rule = SelfReportRule(max_per_day=2)
    events = [report(n) for n in range(5)]
    refused = check_self_reports(rule, events, as_of=NOW, timezone="UTC", counted={})
    assert sorted(refused) == [2, 3, 4]
    refused_again = check_self_reports(rule, events[::-1], as_of=NOW, timezone="UTC", counted={})
    assert sorted(refused_again) == [2, 3, 4]  # positions, not ids: whatever came first passes
