"""Which events the engine admits: rejections with stable codes, duplicates, and an untouched input state."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from game import MetricEvent, XpAwarded

METRICS = {
    "reviews_done": {
        "name": "Code reviews",
        "unit": "review",
        "whole": True,
        "xp_per_unit": 10,
        "max_value": 50,
        "reporters": ["integration"],
    },
    "tickets_closed": {
        "name": "Tickets closed",
        "unit": "ticket",
        "whole": True,
        "xp_per_unit": 8,
        "reporters": ["integration", "self"],
    },
    "docs_written": {"name": "Docs written", "unit": "page", "xp_per_unit": 15, "max_value": 20},
}
BADGES = {
    "reviewer": {
        "name": "Reviewer",
        "criteria": {"kind": "metric_total", "metric": "reviews_done", "threshold": 1},
    }
}
MISSIONS = {
    "daily-reviews": {
        "name": "Review",
        "metric": "reviews_done",
        "goal": 1,
        "period": "daily",
        "reward_xp": 5,
    }
}
STREAKS = {"reviewing": {"name": "Review streak", "metrics": ["reviews_done"]}}
WHEN = "2026-11-02T10:00:00+00:00"


@pytest.fixture
def engine(make_engine):
    return make_engine(metrics=METRICS, badges=BADGES, missions=MISSIONS, streaks=STREAKS)


def _rejected_alone(engine, event):
    state = engine.new_state("ana")
    before = state.to_dict()
    outcome = engine.apply(state, [event])
    assert outcome.accepted == ()
    assert outcome.effects == ()
    assert outcome.duplicates == ()
    assert outcome.state.to_dict() == before
    assert state.to_dict() == before
    [rejection] = outcome.rejected
    assert rejection.event_id == event.id
    assert rejection.reason  # a sentence for people
    return rejection


def test_unknown_metric(engine, ev):
    rejection = _rejected_alone(engine, ev("e1", "lines_of_code", 3, WHEN))
    assert rejection.code == "unknown_metric"
    assert "lines_of_code" in rejection.reason
    assert "reviews_done" in rejection.reason  # the known metrics are listed


def test_self_report_on_an_integration_only_metric(engine, ev):
    rejection = _rejected_alone(engine, ev("e1", "reviews_done", 3, WHEN, source="self"))
    assert rejection.code == "source_not_allowed"
    assert "integration" in rejection.reason


def test_self_report_allowed_where_listed(engine, ev):
    outcome = engine.apply(engine.new_state("ana"), [ev("e1", "tickets_closed", 2, WHEN, source="self")])
    assert outcome.accepted == ("e1",)
    assert outcome.state.xp == 16  # 2 × 8


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("reviews_done", 0),
        ("reviews_done", -1),
        ("docs_written", -0.5),
        ("docs_written", 0.0),
        ("docs_written", math.nan),
        ("docs_written", math.inf),
        ("docs_written", -math.inf),
        ("reviews_done", math.nan),
        ("reviews_done", 1.5),  # reviews are counted whole
        ("reviews_done", 2.0001),
    ],
)
def test_invalid_value(engine, ev, metric, value):
    rejection = _rejected_alone(engine, ev("e1", metric, value, WHEN))
    assert rejection.code == "invalid_value"


def test_whole_metric_accepts_an_integral_float(engine, ev):
    outcome = engine.apply(engine.new_state("ana"), [ev("e1", "reviews_done", 2.0, WHEN)])
    assert outcome.accepted == ("e1",)
    assert outcome.state.xp == 20 + 5  # 2 × 10, plus the daily mission's reward


def test_above_max_value(engine, ev):
    rejection = _rejected_alone(engine, ev("e1", "reviews_done", 51, WHEN))
    assert rejection.code == "above_max_value"
    assert "51" in rejection.reason
    assert "50" in rejection.reason
    rejection = _rejected_alone(engine, ev("e2", "docs_written", 20.001, WHEN))
    assert rejection.code == "above_max_value"


def test_max_value_itself_is_accepted(engine, ev):
    events = [ev("e1", "reviews_done", 50, WHEN), ev("e2", "docs_written", 20, WHEN)]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert sorted(outcome.accepted) == ["e1", "e2"]
    assert outcome.rejected == ()
    assert outcome.state.xp == 500 + 300 + 5  # 50 × 10 + 20 × 15 + the mission's reward


def test_naive_timestamp(engine):
    event = MetricEvent("e1", "ana", "reviews_done", 3, datetime(2026, 11, 2, 10, 0))
    rejection = _rejected_alone(engine, event)
    assert rejection.code == "naive_timestamp"


def test_wrong_user(engine, ev):
    rejection = _rejected_alone(engine, ev("e1", "reviews_done", 3, WHEN, user="bo"))
    assert rejection.code == "wrong_user"
    assert "'bo'" in rejection.reason
    assert "'ana'" in rejection.reason


def test_empty_id(engine, ev):
    rejection = _rejected_alone(engine, ev("", "reviews_done", 3, WHEN))
    assert rejection.code == "invalid_event"
    assert rejection.event_id == ""


def test_rejected_event_is_not_remembered(engine, ev):
    state = engine.new_state("ana")
    bad = engine.apply(state, [ev("e1", "reviews_done", 1.5, WHEN)])
    assert [r.code for r in bad.rejected] == ["invalid_value"]
    assert "e1" not in bad.state.seen

    # The same id, now valid, is a new event: accepted and scored.
    good = engine.apply(bad.state, [ev("e1", "reviews_done", 2, WHEN)])
    assert good.accepted == ("e1",)
    assert good.duplicates == ()
    assert good.state.xp == 20 + 5  # 2 × 10, plus the daily mission's reward
    assert "e1" in good.state.seen


def test_batch_with_good_bad_and_duplicate_events(engine, ev):
    state = engine.apply(engine.new_state("ana"), [ev("old", "reviews_done", 1, WHEN)]).state
    events = [
        ev("new", "reviews_done", 2, WHEN),
        ev("old", "reviews_done", 9, WHEN),
        ev("neg", "reviews_done", -2, WHEN),
        ev("zzz", "nope", 2, WHEN),
    ]
    outcome = engine.apply(state, events)
    assert outcome.accepted == ("new",)
    assert outcome.duplicates == ("old",)
    assert [(r.event_id, r.code) for r in outcome.rejected] == [
        ("neg", "invalid_value"),
        ("zzz", "unknown_metric"),
    ]
    assert outcome.state.xp == state.xp + 20
    assert outcome.state.seen == {"old", "new"}


def test_duplicates_within_a_batch_count_once(engine, ev):
    events = [
        ev("e1", "reviews_done", 3, WHEN),
        ev("e1", "reviews_done", 3, WHEN),
        ev("e2", "reviews_done", 1, WHEN),
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    assert sorted(outcome.accepted) == ["e1", "e2"]
    assert outcome.duplicates == ("e1",)
    assert outcome.state.metric_totals["reviews_done"] == (4000, 2)
    assert sum(e.amount for e in outcome.effects if isinstance(e, XpAwarded) and e.source == "metric") == 40


def test_duplicate_id_with_other_content_is_still_a_duplicate(engine, ev):
    state = engine.apply(engine.new_state("ana"), [ev("e1", "reviews_done", 3, WHEN)]).state
    outcome = engine.apply(state, [ev("e1", "tickets_closed", 7, "2026-11-05T10:00:00+00:00")])
    assert outcome.duplicates == ("e1",)
    assert outcome.accepted == ()
    assert outcome.effects == ()
    assert outcome.state.to_dict() == state.to_dict()


def test_duplicates_across_batches_change_nothing(engine, ev):
    events = [ev("e1", "reviews_done", 3, WHEN), ev("e2", "docs_written", 1, WHEN)]
    first = engine.apply(engine.new_state("ana"), events)
    snapshot = first.state.to_dict()

    again = engine.apply(first.state, events)
    assert sorted(again.duplicates) == ["e1", "e2"]
    assert again.accepted == ()
    assert again.effects == ()
    assert again.rejected == ()
    assert again.xp_gained == 0
    assert again.state.to_dict() == snapshot
    assert first.state.to_dict() == snapshot


def test_apply_never_mutates_the_state_passed_in(engine, ev):
    state = engine.apply(engine.new_state("ana", "Europe/Paris"), [ev("e0", "reviews_done", 1, WHEN)]).state
    before = state.to_dict()
    events = [
        ev("e1", "reviews_done", 3, "2026-11-03T10:00:00+00:00"),
        ev("e2", "docs_written", 1.5, "2026-11-03T11:00:00+00:00"),
        ev("e3", "tickets_closed", 2, "2026-11-04T10:00:00+00:00"),
    ]
    outcome = engine.apply(state, events)
    assert outcome.state is not state
    assert outcome.state.to_dict() != before
    assert state.to_dict() == before

    # Nor the new state, when it is applied to again.
    after = outcome.state.to_dict()
    engine.apply(outcome.state, [ev("e4", "reviews_done", 1, "2026-11-05T10:00:00+00:00")])
    assert outcome.state.to_dict() == after


def test_empty_batch_changes_nothing(engine):
    state = engine.new_state("ana")
    outcome = engine.apply(state, [])
    assert outcome.effects == ()
    assert outcome.accepted == ()
    assert outcome.state.to_dict() == state.to_dict()
