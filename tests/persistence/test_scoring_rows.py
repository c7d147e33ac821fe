"""The one mapping of the engine's effects to rows (`persistence.scoring_rows.EffectRows`): what a scored
batch writes and what a challenge's reward writes read the same way."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from game import MetricEvent
from persistence.scoring_rows import EffectRows
from tests.game.conftest import build_engine

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
USER = uuid.UUID(int=1)
BADGES = {
    "champion": {"name": "Champion", "criteria": {"kind": "granted"}, "xp": 40},
    "first-review": {
        "name": "First review",
        "criteria": {"kind": "event_count", "metric": "reviews_done", "count": 1},
    },
}
MISSIONS = {
    "two-reviews": {
        "name": "Two reviews today",
        "metric": "reviews_done",
        "goal": 2,
        "period": "daily",
        "reward_xp": 15,
    }
}


def test_a_scored_batch_writes_a_ledger_line_per_award_its_badges_and_its_missions_last_progress() -> None:
    engine = build_engine(badges=BADGES, missions=MISSIONS)
    events = [
        MetricEvent(
            f"e{i}", "ana", "reviews_done", 1, datetime(2026, 11, 25, 9 + i, tzinfo=UTC), "integration"
        )
        for i in range(3)
    ]
    outcome = engine.apply(engine.new_state("ana"), events)
    rows = EffectRows()
    rows.add(USER, outcome.effects, NOW)

    [metric_line] = [line for line in rows.ledger if line["source"] == "metric"]
    assert metric_line == {
        "user_id": USER,
        "amount": 30,
        "source": "metric",
        "metric": "reviews_done",
        "day": "2026-11-25",
        "rule_id": "metrics.reviews_done",
        "rule_version": engine.version,
        "explanation": metric_line["explanation"],
        "summary": "Code reviews: 3 reviews",  # the rules give this metric no phrase: name and amount
        "event_ids": ["e0", "e1", "e2"],
        "created_at": NOW,
    }
    assert metric_line["explanation"]
    assert {line["source"] for line in rows.ledger} == {"metric", "mission"}
    assert [(b["badge_id"], b["tier"], b["period"], b["earned_at"], b["summary"]) for b in rows.badges] == [
        ("first-review", "", "", NOW, "Badge: First review")
    ]
    assert {line["source"]: line["summary"] for line in rows.ledger}[
        "mission"
    ] == "Mission: Two reviews today"
    [mission] = rows.missions.values()  # one row per mission and period: the last progress stands
    assert (mission["mission_id"], mission["progress"], mission["goal"]) == ("two-reviews", 3, 2)
    assert mission["completed_at"] == NOW


def test_a_reward_writes_its_xp_without_metric_day_or_events_and_its_badge() -> None:
    engine = build_engine(badges=BADGES)
    outcome = engine.grant(
        engine.new_state("ana"),
        xp=120,
        badge="champion",
        source="challenge",
        explanation="rank 1 of 2",
        summary="Sprint: Web, rank 1 of 2",
    )
    rows = EffectRows()
    rows.add(USER, outcome.effects, NOW)
    assert [
        (line["source"], line["amount"], line["metric"], line["day"], line["event_ids"], line["summary"])
        for line in rows.ledger
    ] == [
        ("challenge", 120, None, None, [], "Sprint: Web, rank 1 of 2"),
        ("badge", 40, None, None, [], "Badge: Champion"),
    ]
    assert [b["badge_id"] for b in rows.badges] == ["champion"]
    assert rows.missions == {}


def test_xp_a_cap_absorbed_leaves_no_ledger_line() -> None:
    engine = build_engine(
        metrics={
            "reviews_done": {
                "name": "Code reviews",
                "unit": "review",
                "whole": True,
                "xp_per_unit": 10,
                "cap_per_day": 10,
            }
        }
    )
    state = engine.new_state("ana")
    first = engine.apply(state, [MetricEvent("a", "ana", "reviews_done", 1, NOW, "integration")])
    capped = engine.apply(first.state, [MetricEvent("b", "ana", "reviews_done", 1, NOW, "integration")])
    rows = EffectRows()
    rows.add(USER, capped.effects, NOW)
    assert rows.ledger == []
