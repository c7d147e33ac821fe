"""Team challenges: the definition's validation, and the standings, results and live document.

A challenge here runs for ten hours, 2026-11-02 09:00 to 19:00 UTC, unless a test says otherwise.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from game import default_rules
from game.challenges import (
    ChallengeDefinition,
    ChallengeProblem,
    ChallengeState,
    Mode,
    Results,
    Scoring,
    TeamTally,
    check,
    document,
    results,
    standings,
)

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


def tally(
    slug: str, *contributions: float, members: int | None = None, reached: datetime | None = None
) -> TeamTally:
    """A team whose members u1, u2, ... contributed the values given (member count: as many by default)."""
    by_user = {f"{slug}-u{index}": value for index, value in enumerate(contributions, start=1)}
    count = len(contributions) if members is None else members
    return TeamTally(slug, slug.title(), count, by_user, reached)


def error_of(**fields: Any) -> tuple[tuple[int | str, ...], str]:
    with pytest.raises(ValidationError) as caught:
        define(**fields)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]["loc"], errors[0]["msg"]


def ranks_of(table: Any) -> dict[str, int | None]:
    return {team.slug: team.rank for team in table.teams}


# ------------------------------------------------------------------------------------------ definition


def test_a_minimal_definition_takes_the_defaults() -> None:
    definition = define()
    assert definition.scoring is Scoring.SUM
    assert definition.mode is Mode.HIGHEST
    assert definition.teams is None
    assert definition.timezone == "UTC"
    assert definition.min_members == 1
    assert definition.rewards == ()
    assert definition.grace_seconds == 3600


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ends_at": START}, "ends_at: must be after starts_at"),
        ({"ends_at": START - HOUR}, "ends_at: must be after starts_at"),
        ({"goal": 10}, "goal: only first_to_goal and cooperative challenges have a goal"),
        (
            {"completion_reward": {"xp": 5}},
            "completion_reward: only challenges with a goal pay for completing",
        ),
        ({"mode": "first_to_goal"}, "goal: a first_to_goal challenge needs a goal"),
        ({"mode": "cooperative"}, "goal: a cooperative challenge needs a goal"),
        (
            {"mode": "cooperative", "goal": 10, "rewards": [{"rank": 1, "xp": 5}]},
            "rewards: a cooperative challenge has no ranks: use completion_reward",
        ),
        (
            {"rewards": [{"rank": 1, "xp": 5}, {"rank": 1, "badge": "reviewer"}]},
            "rewards: each rank may be rewarded once",
        ),
    ],
)
def test_cross_field_problems_name_their_field(fields: dict[str, Any], message: str) -> None:
    location, text = error_of(**fields)
    assert location == ()
    assert text == f"Value error, {message}"


@pytest.mark.parametrize(
    ("fields", "location", "fragment"),
    [
        ({"metrics": ["reviews_done", "reviews_done"]}, ("metrics",), "each may appear once"),
        ({"teams": ["web", "web"]}, ("teams",), "each may appear once"),
        ({"teams": ["web"]}, ("teams",), "at least 2"),
        ({"metrics": []}, ("metrics",), "at least 1"),
        ({"timezone": "Europe/Nowhere"}, ("timezone",), "unknown timezone 'Europe/Nowhere'"),
        ({"timezone": "America"}, ("timezone",), "unknown timezone 'America'"),
        ({"timezone": "../etc"}, ("timezone",), "unknown timezone"),
        ({"rewards": [{"rank": 1}]}, ("rewards", 0), "a reward needs xp, a badge, or both"),
        ({"mode": "first_to_goal", "goal": 5, "completion_reward": {}}, ("completion_reward",), "needs xp"),
        ({"starts_at": "2026-11-02T09:00:00"}, ("starts_at",), "timezone"),
        ({"id": "Bad Id"}, ("id",), "pattern"),
        ({"surprise": 1}, ("surprise",), "Extra inputs"),
        ({"mode": "first_to_goal", "goal": 0}, ("goal",), "greater than 0"),
    ],
)
def test_field_problems(fields: dict[str, Any], location: tuple[str | int, ...], fragment: str) -> None:
    found, text = error_of(**fields)
    assert found == location
    assert fragment in text


def test_goal_modes_accept_a_goal_and_a_completion_reward() -> None:
    racing = define(
        mode="first_to_goal", goal=50, completion_reward={"xp": 20}, rewards=[{"rank": 1, "xp": 5}]
    )
    assert racing.goal == 50
    together = define(mode="cooperative", goal=50, completion_reward={"badge": "reviewer"})
    assert together.completion_reward is not None
    assert together.completion_reward.badge == "reviewer"


def test_the_window_includes_its_start_and_excludes_its_end() -> None:
    definition = define()
    assert definition.counts_at(START)
    assert definition.counts_at(END - timedelta(microseconds=1))
    assert not definition.counts_at(END)
    assert not definition.counts_at(START - timedelta(microseconds=1))


def test_late_events_count_until_the_grace_period_ends() -> None:
    assert define().closes_at == END + HOUR
    assert define(grace_seconds=0).closes_at == END


def test_check_reports_unknown_metrics_and_badges_at_their_field() -> None:
    definition = define(
        mode="first_to_goal",
        goal=10,
        metrics=["reviews_done", "karaoke", "commits", "juggling"],
        rewards=[{"rank": 1, "badge": "reviewer"}, {"rank": 2, "badge": "nobody"}, {"rank": 3, "xp": 5}],
        completion_reward={"xp": 1, "badge": "ghost"},
    )
    assert check(definition, default_rules()) == [
        ChallengeProblem(field="metrics.1", message="unknown metric 'karaoke'"),
        ChallengeProblem(field="metrics.3", message="unknown metric 'juggling'"),
        ChallengeProblem(field="rewards.1.badge", message="unknown badge 'nobody'"),
        ChallengeProblem(field="completion_reward.badge", message="unknown badge 'ghost'"),
    ]


def test_check_accepts_known_metrics_and_badges() -> None:
    rules = default_rules()
    assert check(define(rewards=[{"rank": 1, "badge": "reviewer", "xp": 10}]), rules) == []
    assert check(define(mode="cooperative", goal=5, completion_reward={"badge": "reviewer"}), rules) == []
    assert check(define(mode="cooperative", goal=5, completion_reward={"xp": 5}), rules) == []


# ------------------------------------------------------------------------------------------ standings


@pytest.mark.parametrize(
    ("scoring", "expected"),
    [
        ("sum", {"a": 30.0, "b": 12.0}),
        ("points", {"a": 30.0, "b": 12.0}),
        ("average_per_member", {"a": 10.0, "b": 12.0}),
    ],
)
def test_scores_by_scoring(scoring: str, expected: dict[str, float]) -> None:
    table = standings(define(scoring=scoring), [tally("a", 10, 15, 5), tally("b", 12)], START + HOUR)
    assert {team.slug: team.score for team in table.teams} == expected


def test_average_per_member_divides_by_the_member_count_not_the_contributors() -> None:
    table = standings(
        define(scoring="average_per_member"), [tally("a", 9, members=3), tally("b", members=0)], END
    )
    assert table.team("a").score == 3.0
    assert table.team("b").score == 0.0


def test_equal_scores_share_a_rank_and_the_next_rank_skips() -> None:
    table = standings(define(), [tally("d", 1), tally("b", 5), tally("a", 9), tally("c", 5)], END)
    assert ranks_of(table) == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert [team.slug for team in table.teams] == ["a", "b", "c", "d"]


def test_float_sums_tie_whatever_their_order() -> None:
    table = standings(define(), [tally("a", 0.1, 0.2, 0.3), tally("b", 0.3, 0.2, 0.1), tally("c", 0.6)], END)
    assert set(ranks_of(table).values()) == {1}


def test_members_are_listed_highest_contribution_first() -> None:
    team = standings(define(), [TeamTally("a", "A", 3, {"zoe": 2, "ana": 5, "bob": 2})], END).team("a")
    assert [(member.user_id, member.contribution) for member in team.members] == [
        ("ana", 5),
        ("bob", 2),
        ("zoe", 2),
    ]


def test_before_the_start_there_is_no_pace_and_no_projection() -> None:
    for now in (START - HOUR, START):
        team = standings(define(), [tally("a", 4)], now).team("a")
        assert team.pace_per_hour is None
        assert team.projection is None


def test_during_the_window_the_pace_projects_to_the_end() -> None:
    team = standings(define(), [tally("a", 6, 4)], START + 2 * HOUR).team("a")
    assert team.pace_per_hour == 5.0
    assert team.projection == 50.0  # 10 + 5 an hour for the 8 hours left


def test_after_the_end_the_pace_is_over_the_whole_window_and_the_projection_is_the_score() -> None:
    team = standings(define(), [tally("a", 20)], END + 3 * HOUR).team("a")
    assert team.pace_per_hour == 2.0
    assert team.projection == 20.0


def test_progress_toward_the_goal_is_capped_at_one() -> None:
    definition = define(mode="first_to_goal", goal=40)
    table = standings(definition, [tally("a", 10), tally("b", 50, reached=START + HOUR)], END)
    assert table.team("a").progress == 0.25
    assert table.team("b").progress == 1.0
    assert standings(define(), [tally("a", 10)], END).team("a").progress is None


def test_first_to_goal_ranks_the_teams_that_reached_it_by_when_then_the_others_by_score() -> None:
    definition = define(mode="first_to_goal", goal=10)
    tallies = [
        tally("late", 30, reached=START + 3 * HOUR),
        tally("early", 10, reached=START + HOUR),
        tally("also-early", 12, reached=START + HOUR),
        tally("close", 9),
        tally("closer", 9.5),
        tally("far", 9.5),
    ]
    table = standings(definition, tallies, END)
    assert ranks_of(table) == {"also-early": 1, "early": 1, "late": 3, "closer": 4, "far": 4, "close": 6}
    assert table.team("early").reached_goal_at == START + HOUR


def test_cooperative_combines_the_eligible_teams() -> None:
    definition = define(mode="cooperative", goal=30, min_members=2)
    table = standings(definition, [tally("a", 10, 5), tally("b", 8, 4), tally("solo", 100)], END)
    assert table.combined is not None
    assert (table.combined.score, table.combined.goal) == (27.0, 30)
    assert table.combined.progress == 0.9
    assert not table.combined.achieved
    assert ranks_of(table) == {"a": 1, "b": 2, "solo": None}

    done = standings(definition, [tally("a", 20, 5), tally("b", 8, 4)], END).combined
    assert done is not None
    assert done.achieved
    assert done.progress == 1.0
    assert standings(define(), [tally("a", 1)], END).combined is None


def test_teams_below_min_members_take_no_part() -> None:
    table = standings(
        define(min_members=2), [tally("big", 1, 1, 1), tally("small", 50), tally("pair", 1, 1)], END
    )
    assert ranks_of(table) == {"big": 1, "pair": 2, "small": None}
    small = table.team("small")
    assert not small.eligible
    assert small.score == 50.0
    assert [team.slug for team in table.teams] == ["big", "pair", "small"]


def test_a_team_member_count_is_the_count_at_the_start_not_the_contributors() -> None:
    table = standings(define(min_members=3), [tally("a", 5, members=3)], END)
    assert table.team("a").eligible


@pytest.mark.parametrize(
    ("tallies", "message"),
    [
        ([tally("a", 1), tally("a", 2)], "each team may be tallied once"),
        ([tally("web", 1), tally("stranger", 2), tally("alien", 1)], "alien, stranger"),
        ([TeamTally("web", "Web", -1)], "cannot be negative"),
    ],
)
def test_tallies_the_caller_got_wrong(tallies: list[TeamTally], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        standings(define(teams=["web", "platform"]), tallies, END)


def test_listed_teams_may_be_tallied_without_every_one_of_them() -> None:
    table = standings(define(teams=["web", "platform", "data"]), [tally("web", 1), tally("data", 2)], END)
    assert ranks_of(table) == {"data": 1, "web": 2}


# ------------------------------------------------------------------------------------------ results


def test_rank_rewards_go_to_every_team_at_the_rank() -> None:
    definition = define(
        rewards=[{"rank": 1, "xp": 200, "badge": "reviewer"}, {"rank": 2, "xp": 100}, {"rank": 3, "xp": 50}]
    )
    table = standings(definition, [tally("a", 9), tally("b", 5), tally("c", 5), tally("d", 1)], END)
    outcome = results(definition, table)
    assert outcome.ranks == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert outcome.winners == ("a",)
    assert outcome.achieved is None
    assert [
        (reward.team, reward.kind, reward.rank, reward.xp, reward.badge) for reward in outcome.rewards
    ] == [
        ("a", "rank", 1, 200, "reviewer"),
        ("b", "rank", 2, 100, None),
        ("c", "rank", 2, 100, None),
    ]
    first, second, _ = outcome.rewards
    assert first.explanation == "rank 1 of 4 in November review sprint (score 9)"
    assert second.explanation == "rank 2 (tied) of 4 in November review sprint (score 5)"
    # The summary names the team by its name, not its slug.
    assert first.summary == "November review sprint: A, rank 1 of 4"
    assert second.summary == "November review sprint: B, rank 2 (tied) of 4"


def test_tied_first_places_are_all_winners() -> None:
    definition = define(rewards=[{"rank": 1, "xp": 10}])
    outcome = results(definition, standings(definition, [tally("a", 3), tally("b", 3)], END))
    assert outcome.winners == ("a", "b")
    assert [reward.team for reward in outcome.rewards] == ["a", "b"]


@pytest.mark.parametrize(
    ("scoring", "text"),
    [("points", "(41.5 XP)"), ("average_per_member", "(20.75 per member)"), ("sum", "(score 41.5)")],
)
def test_explanations_state_the_score_as_scored(scoring: str, text: str) -> None:
    definition = define(scoring=scoring, rewards=[{"rank": 1, "xp": 1}])
    outcome = results(definition, standings(definition, [tally("a", 40, 1.5)], END))
    assert outcome.rewards[0].explanation == f"rank 1 of 1 in November review sprint {text}"


def test_ineligible_teams_earn_nothing() -> None:
    definition = define(min_members=2, rewards=[{"rank": 1, "xp": 10}, {"rank": 2, "xp": 5}])
    outcome = results(definition, standings(definition, [tally("solo", 99), tally("pair", 1, 1)], END))
    assert outcome.ranks == {"pair": 1}
    assert outcome.winners == ("pair",)
    assert [reward.team for reward in outcome.rewards] == ["pair"]
    assert outcome.rewards[0].explanation.startswith("rank 1 of 1 in")


def test_first_to_goal_pays_completion_to_every_team_that_reached_it() -> None:
    definition = define(
        mode="first_to_goal",
        goal=10,
        timezone="Europe/Paris",
        rewards=[{"rank": 1, "xp": 100}, {"rank": 2, "xp": 50}],
        completion_reward={"xp": 20, "badge": "reviewer"},
    )
    tallies = [
        tally("fast", 10, reached=START + HOUR),
        tally("slow", 12, reached=START + 2 * HOUR),
        tally("no", 9),
    ]
    outcome = results(definition, standings(definition, tallies, END))
    assert outcome.winners == ("fast",)
    assert [(reward.team, reward.kind, reward.xp) for reward in outcome.rewards] == [
        ("fast", "rank", 100),
        ("slow", "rank", 50),
        ("fast", "completion", 20),
        ("slow", "completion", 20),
    ]
    assert outcome.rewards[2].explanation == (
        "reached the goal of 10 in November review sprint on 2026-11-02 11:00 (Europe/Paris), rank 1 of 3"
    )
    assert outcome.rewards[2].summary == "November review sprint: Fast reached the goal, rank 1 of 3"


def test_first_to_goal_has_no_winner_when_nobody_reached_it() -> None:
    definition = define(mode="first_to_goal", goal=100, completion_reward={"xp": 20})
    outcome = results(definition, standings(definition, [tally("a", 10), tally("b", 20)], END))
    assert outcome.winners == ()
    assert outcome.ranks == {"b": 1, "a": 2}
    assert outcome.rewards == ()


def test_first_to_goal_without_a_completion_reward_pays_ranks_only() -> None:
    definition = define(mode="first_to_goal", goal=5, rewards=[{"rank": 1, "xp": 7}])
    outcome = results(definition, standings(definition, [tally("a", 5, reached=START), tally("b", 9)], END))
    assert outcome.winners == ("a",)
    assert [(reward.team, reward.kind) for reward in outcome.rewards] == [("a", "rank")]


def test_a_cooperative_goal_achieved_pays_every_eligible_team() -> None:
    definition = define(mode="cooperative", goal=20, min_members=2, completion_reward={"xp": 30})
    tallies = [tally("a", 10, 5), tally("b", 3, 2), tally("solo", 50)]
    outcome = results(definition, standings(definition, tallies, END))
    assert outcome.achieved is True
    assert outcome.winners == ("a", "b")
    assert [(reward.team, reward.kind, reward.rank, reward.xp) for reward in outcome.rewards] == [
        ("a", "completion", 1, 30),
        ("b", "completion", 2, 30),
    ]
    assert outcome.rewards[0].explanation == (
        "the teams of November review sprint reached the goal of 20 together (20 combined)"
    )
    assert outcome.rewards[0].summary == "November review sprint: the goal, reached together"


def test_a_cooperative_goal_missed_pays_nobody() -> None:
    definition = define(mode="cooperative", goal=20, completion_reward={"xp": 30})
    outcome = results(definition, standings(definition, [tally("a", 10), tally("b", 9.5)], END))
    assert outcome.achieved is False
    assert outcome.winners == ()
    assert outcome.rewards == ()


def test_a_cooperative_goal_achieved_without_a_completion_reward_has_winners_but_no_rewards() -> None:
    definition = define(mode="cooperative", goal=5)
    outcome = results(definition, standings(definition, [tally("a", 10), tally("b", 1)], END))
    assert outcome.winners == ("a", "b")
    assert outcome.rewards == ()


def test_results_survive_json() -> None:
    definition = define(
        mode="first_to_goal", goal=5, rewards=[{"rank": 1, "xp": 7}], completion_reward={"xp": 1}
    )
    outcome = results(definition, standings(definition, [tally("a", 5, reached=START), tally("b", 2)], END))
    assert Results.from_dict(json.loads(json.dumps(outcome.as_dict()))) == outcome
    # Results stored before rewards had summaries still load, with an empty one.
    stored = outcome.as_dict()
    for reward in stored["rewards"]:
        del reward["summary"]
    assert [reward.summary for reward in Results.from_dict(stored).rewards] == ["", ""]


# ------------------------------------------------------------------------------------------ document


def test_the_document_is_json_ready_with_rounded_numbers_and_integer_milliseconds() -> None:
    definition = define(
        mode="first_to_goal",
        goal=10,
        description="Who reviews most?",
        starts_at=datetime(2026, 11, 2, 9, 0, 0, 123_456, tzinfo=UTC),
        completion_reward={"xp": 1},
    )
    reached = datetime(2026, 11, 2, 10, 0, 0, 999_999, tzinfo=UTC)
    table = standings(
        definition, [tally("a", 3.14159, 7, reached=reached), tally("b", 1 / 3)], START + 3 * HOUR
    )
    doc = document(definition, table, ChallengeState.LIVE, None)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["id"] == "november-reviews"
    assert doc["description"] == "Who reviews most?"
    assert (doc["mode"], doc["scoring"], doc["metrics"], doc["goal"]) == (
        "first_to_goal",
        "sum",
        ["reviews_done"],
        10,
    )
    assert doc["state"] == "live"
    assert doc["starts_at_ms"] == 1_793_610_000_123
    assert doc["ends_at_ms"] == int(END.timestamp() * 1000)
    assert doc["closes_at_ms"] == doc["ends_at_ms"] + 3_600_000
    assert all(type(doc[key]) is int for key in ("starts_at_ms", "ends_at_ms", "closes_at_ms"))
    team_a = doc["teams"]["a"]
    assert team_a == {
        "name": "A",
        "score": 10.14,
        "rank": 1,
        "eligible": True,
        "member_count": 2,
        "members": {"a-u2": {"contribution": 7}, "a-u1": {"contribution": 3.14}},
        "pace_per_hour": 3.38,
        "projection": 33.81,  # 10.14 + 3.38 an hour for the 7 hours left
        "progress": 1.0,
        "reached_goal_at_ms": 1_793_613_600_999,
    }
    assert doc["teams"]["b"]["score"] == 0.33
    assert doc["teams"]["b"]["reached_goal_at_ms"] is None
    assert doc["combined"] is None
    assert doc["results"] is None


def test_the_document_before_the_start_has_no_pace() -> None:
    definition = define()
    doc = document(
        definition, standings(definition, [tally("a")], START - HOUR), ChallengeState.SCHEDULED, None
    )
    assert doc["teams"]["a"]["pace_per_hour"] is None
    assert doc["teams"]["a"]["projection"] is None
    assert doc["teams"]["a"]["progress"] is None
    assert doc["goal"] is None


def test_a_finished_cooperative_document_carries_the_combined_score_and_the_results() -> None:
    definition = define(mode="cooperative", goal=3, completion_reward={"xp": 5})
    table = standings(definition, [tally("a", 1 / 3, 1), tally("b", 2)], END + 2 * HOUR)
    outcome = results(definition, table)
    doc = document(definition, table, ChallengeState("finished"), outcome)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["state"] == "finished"
    assert doc["combined"] == {"score": 3.33, "goal": 3, "progress": 1.0, "achieved": True}
    assert doc["results"] == outcome.as_dict()
    assert doc["results"]["winners"] == ["b", "a"]  # by rank


# ------------------------------------------------------------------------------------------ properties

scores = st.integers(min_value=0, max_value=6).map(float)  # few values: plenty of ties
team_tallies = st.lists(
    st.tuples(st.lists(scores, max_size=3), st.integers(min_value=0, max_value=3)), min_size=1, max_size=8
).map(
    lambda teams: [
        TeamTally(
            f"t{index}", f"Team {index}", members, {f"u{index}-{n}": value for n, value in enumerate(values)}
        )
        for index, (values, members) in enumerate(teams)
    ]
)


@given(tallies=team_tallies, mode=st.sampled_from(["highest", "cooperative"]), min_members=st.integers(1, 3))
def test_ranks_are_competition_ranks_of_the_scores(
    tallies: list[TeamTally], mode: str, min_members: int
) -> None:
    goal = None if mode == "highest" else 10
    table = standings(define(mode=mode, goal=goal, min_members=min_members), tallies, END)
    ranked = [team for team in table.teams if team.eligible]
    assert {team.slug for team in ranked} == {t.slug for t in tallies if t.member_count >= min_members}
    for team in table.teams:
        if not team.eligible:
            assert team.rank is None
            continue
        assert team.rank == 1 + sum(other.score > team.score for other in ranked)
    assert [team.rank for team in ranked] == sorted(team.rank for team in ranked if team.rank is not None)


@given(
    tallies=team_tallies,
    rewarded=st.sets(st.integers(min_value=1, max_value=9), max_size=4),
    shuffle=st.randoms(use_true_random=False),
)
def test_results_reward_exactly_the_teams_at_the_rewarded_ranks(
    tallies: list[TeamTally], rewarded: set[int], shuffle: Any
) -> None:
    definition = define(rewards=[{"rank": rank, "xp": rank * 10} for rank in sorted(rewarded)])
    table = standings(definition, tallies, END)
    outcome = results(definition, table)
    expected = {(team.slug, team.rank) for team in table.teams if team.rank in rewarded}
    assert {(reward.team, reward.rank) for reward in outcome.rewards} == expected
    assert all(reward.xp == (reward.rank or 0) * 10 and reward.kind == "rank" for reward in outcome.rewards)
    assert set(outcome.winners) == {slug for slug, rank in outcome.ranks.items() if rank == 1}

    shuffled = list(tallies)
    shuffle.shuffle(shuffled)
    assert standings(definition, shuffled, END) == table
