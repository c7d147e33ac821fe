"""Which challenges and teams a scored event counts for, and what it adds (`game.challenges.attribution`).

The challenge runs 2026-11-02 09:00 to 19:00 UTC with the default hour of grace, unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from game import Engine, MetricEvent, default_rules
from game.challenges import ChallengeDefinition
from game.challenges.attribution import (
    OPEN_STATES,
    Tally,
    attribute,
    contribution,
    counts_for,
    metric_xp,
    reached_goal,
    split,
    teams_for,
)
from game.effects import Explanation, XpAwarded

START = datetime(2026, 11, 2, 9, tzinfo=UTC)
END = START + timedelta(hours=10)
HOUR = timedelta(hours=1)


def define(**fields: Any) -> ChallengeDefinition:
    data: dict[str, Any] = {
        "id": "november-reviews",
        "name": "November review sprint",
        "metrics": ["reviews_done"],
        "starts_at": START,
        "ends_at": END,
    }
    data.update(fields)
    return ChallengeDefinition.model_validate(data)


def event(
    event_id: str, at: datetime, value: float = 1, *, user: str = "ana", metric: str = "reviews_done"
) -> MetricEvent:
    return MetricEvent(event_id, user, metric, value, at)


def teams_of(table: dict[str, Sequence[str]]) -> Any:
    asked: list[str] = []

    def teams_at(user_id: str, at: datetime) -> Sequence[str]:
        asked.append(user_id)
        return table.get(user_id, ())

    teams_at.asked = asked  # type: ignore[attr-defined]
    return teams_at


def test_open_states_are_scheduled_and_live() -> None:
    assert {"scheduled", "live"} == OPEN_STATES


def test_window_start_included_end_excluded() -> None:
    challenge = define()
    assert counts_for(challenge, event("a", START), START)
    assert not counts_for(challenge, event("b", END), END)
    assert not counts_for(challenge, event("c", START - timedelta(microseconds=1)), START)


def test_other_metrics_do_not_count() -> None:
    assert not counts_for(define(), event("a", START + HOUR, metric="commits"), START + HOUR)


def test_late_events_count_until_the_grace_closes() -> None:
    challenge = define(grace_seconds=600)
    late = event("a", END - HOUR)
    assert counts_for(challenge, late, END + timedelta(seconds=600))
    assert not counts_for(challenge, late, END + timedelta(seconds=601))


def test_teams_for_keeps_the_participating_teams() -> None:
    assert teams_for(define(), ["web", "platform"]) == ("web", "platform")
    assert teams_for(define(teams=["platform", "data"]), ["web", "platform"]) == ("platform",)
    assert teams_for(define(teams=["platform", "data"]), ["web"]) == ()


def test_contribution_is_the_value_or_the_xp() -> None:
    one = event("a", START, 3)
    assert contribution(define(), one, {"a": 30}) == 3.0
    assert contribution(define(scoring="average_per_member"), one, {}) == 3.0
    assert contribution(define(scoring="points"), one, {"a": 30}) == 30.0
    assert contribution(define(scoring="points"), one, {}) == 0.0


def test_attribute_sums_per_challenge_team_and_member() -> None:
    sprint = define()
    points = define(id="review-points", scoring="points", teams=["web", "data"])
    teams_at = teams_of({"ana": ["platform", "web"], "bo": ["data"], "cy": []})
    events = [
        event("a1", START, 2),
        event("a2", START + HOUR, 3),
        event("b1", START + HOUR, 4, user="bo"),
        event("c1", START + HOUR, 5, user="cy"),  # in no team
        event("x1", END, 9),  # outside the window: teams are not even looked up
        event("m1", START, 1, metric="commits"),
    ]
    tallies = attribute([sprint, points], events, teams_at, END, {"a1": 20, "a2": 30, "b1": 40})
    assert tallies == {
        ("november-reviews", "platform", "ana"): Tally(5.0, 2),
        ("november-reviews", "web", "ana"): Tally(5.0, 2),  # in two teams at once: counts for each
        ("november-reviews", "data", "bo"): Tally(4.0, 1),
        ("review-points", "web", "ana"): Tally(50.0, 2),
        ("review-points", "data", "bo"): Tally(40.0, 1),
    }
    assert teams_at.asked == ["ana", "ana", "bo", "cy"]


def test_attribute_without_xp_gives_points_nothing() -> None:
    tallies = attribute([define(scoring="points")], [event("a", START)], teams_of({"ana": ["web"]}), START)
    assert tallies == {("november-reviews", "web", "ana"): Tally(0.0, 1)}


def test_attribute_with_no_challenge_is_empty() -> None:
    assert attribute([], [event("a", START)], teams_of({"ana": ["web"]}), START) == {}


def xp_effect(amount: int, *ids: str, source: str = "metric") -> XpAwarded:
    return XpAwarded(Explanation("metrics.reviews_done", 1, ids, "text"), amount, source, "reviews_done")


def test_metric_xp_from_the_engine_respects_the_daily_cap() -> None:
    engine = Engine(default_rules())  # reviews: 10 XP each, 80 a day
    state = engine.new_state("ana", "UTC")
    first = engine.apply(state, [event("a", START, 7)])
    assert metric_xp(engine.rules, first.effects, [event("a", START, 7)]) == {"a": 70}
    over = [event("b", START + HOUR, 2)]
    assert metric_xp(engine.rules, engine.apply(first.state, over).effects, over) == {"b": 10}


def test_metric_xp_splits_a_group_in_proportion_to_the_xp_before_the_cap() -> None:
    engine = Engine(default_rules())
    events = [event("a", START, 5), event("b", START + HOUR, 3), event("c", START + 2 * HOUR, 1)]
    outcome = engine.apply(engine.new_state("ana", "UTC"), events)  # 90 XP capped to 80
    shares = metric_xp(engine.rules, outcome.effects, events)
    assert sum(shares.values()) == 80
    assert shares == {"a": 44, "b": 27, "c": 9}  # 44.4, 26.7, 8.9: the largest remainders take the rest


def test_metric_xp_ignores_other_xp_and_unknown_events() -> None:
    rules = default_rules()
    effects = [
        xp_effect(50, "a", source="mission"),
        xp_effect(12, "a", "zz"),  # zz is not among the events: a takes it all
        xp_effect(7, "a"),
        xp_effect(5, "yy"),
    ]
    assert metric_xp(rules, effects, [event("a", START, 1)]) == {"a": 19}


def test_split_is_whole_and_exact() -> None:
    assert split(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert split(0, {"a": 3, "b": 0}) == {"a": 0, "b": 0}
    assert split(5, {"a": 0, "b": 0}) == {"a": 0, "b": 0}
    assert split(7, {"a": 2}) == {"a": 7}


def test_reached_goal() -> None:
    race = define(mode="first_to_goal", goal=10)
    assert reached_goal(race, 10, 3)
    assert not reached_goal(race, 9.9999, 3)
    assert reached_goal(race, 9.9999999, 3)  # scores are kept to a millionth, as the standings rank them
    average = define(mode="first_to_goal", goal=10, scoring="average_per_member")
    assert reached_goal(average, 30, 3)
    assert not reached_goal(average, 29, 3)
    assert reached_goal(average, 10, 0)  # an empty team divides by one
    assert not reached_goal(define(), 1_000, 1)  # highest: no goal
    assert not reached_goal(define(mode="cooperative", goal=1), 1_000, 1)
