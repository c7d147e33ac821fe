"""Challenge scores from the scoring transaction (`server.services.challenges.scoring`): each accepted event
added once to the open challenges it counts for, for the team its user belonged to when it occurred, and
the first_to_goal reached row, through the worker's `ScoringStep`.

Unless a test says otherwise the challenge ``review-sprint`` (reviews, sum, every team) runs from START to
END, a day either side of NOW, and batches are received at NOW. Default rules: a review is worth 10 XP,
80 a day at most.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import MetricEvent
from persistence.models import Challenge, ChallengeGoalReached, ChallengeScore, Team, TeamMembership
from persistence.scoring import Scorer, ScoreResult, Submission
from server.services.scoring.rules import RulesService
from tasks.scoring_step import ScoringStep
from tests.live.conftest import NOW, World

START = NOW - timedelta(days=1)
END = NOW + timedelta(days=1)
HOUR = timedelta(hours=1)

Event = tuple[str, str, float, datetime]
"""(event id, metric, value, occurred_at)."""


class RecordingNotifier:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def changed(self, challenge_ids: Iterable[str]) -> None:
        self.calls.append(list(challenge_ids))


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def step(
    sessions: async_sessionmaker[AsyncSession], rules: RulesService, notifier: RecordingNotifier
) -> ScoringStep:
    return ScoringStep(Scorer(sessions), rules, None, notifier=notifier)


async def add_challenge(
    sessions: async_sessionmaker[AsyncSession],
    challenge_id: str = "review-sprint",
    *,
    state: str = "live",
    starts_at: datetime = START,
    ends_at: datetime = END,
    **fields: Any,
) -> None:
    body = {
        "id": challenge_id,
        "name": challenge_id.replace("-", " ").title(),
        "metrics": ["reviews_done"],
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        **fields,
    }
    async with sessions() as session, session.begin():
        session.add(
            Challenge(
                id=challenge_id,
                definition=body,
                state=state,
                starts_at=starts_at,
                ends_at=ends_at,
                version=1,
                created_at=START - timedelta(days=1),
            )
        )


async def score(step: ScoringStep, user_id: str, *events: Event, now: datetime = NOW) -> ScoreResult:
    submissions = [
        Submission(MetricEvent(event_id, user_id, metric, value, when), "test")
        for event_id, metric, value, when in events
    ]
    return await step.run(submissions, now)


async def scores(
    sessions: async_sessionmaker[AsyncSession], challenge_id: str = "review-sprint"
) -> dict[tuple[str, str], tuple[float, int]]:
    """(team slug, user id) -> (total, events)."""
    async with sessions() as session:
        rows = await session.execute(
            select(Team.slug, ChallengeScore.user_id, ChallengeScore.total, ChallengeScore.events)
            .join(Team, Team.id == ChallengeScore.team_id)
            .where(ChallengeScore.challenge_id == challenge_id)
        )
        return {(slug, str(user_id)): (total, events) for slug, user_id, total, events in rows}


async def reached(
    sessions: async_sessionmaker[AsyncSession], challenge_id: str = "review-sprint"
) -> dict[str, datetime]:
    async with sessions() as session:
        rows = await session.execute(
            select(Team.slug, ChallengeGoalReached.reached_at)
            .join(Team, Team.id == ChallengeGoalReached.team_id)
            .where(ChallengeGoalReached.challenge_id == challenge_id)
        )
        return dict(rows.all())


async def add_membership(
    sessions: async_sessionmaker[AsyncSession],
    slug: str,
    user_id: str,
    joined: datetime,
    left: datetime | None,
) -> None:
    async with sessions() as session, session.begin():
        team = await session.scalar(select(Team.id).where(Team.slug == slug))
        assert team is not None
        session.add(TeamMembership(team_id=team, user_id=uuid.UUID(user_id), joined_at=joined, left_at=left))


def review(event_id: str, value: float, at: datetime) -> Event:
    return (event_id, "reviews_done", value, at)


async def test_sum_per_team_and_member(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep, notifier: RecordingNotifier
) -> None:
    ana, ben, cy = await world.add_user("ana"), await world.add_user("ben"), await world.add_user("cy")
    await world.add_team("platform", {ana: START - HOUR, ben: START - HOUR})
    await world.add_team("web", {cy: START - HOUR})
    await add_challenge(sessions)
    await score(step, ana, review("a1", 2, NOW - HOUR), review("a2", 3, NOW), ("a3", "commits", 4, NOW))
    await score(step, ben, review("b1", 4, NOW))
    await score(step, cy, review("c1", 1, NOW))
    assert await scores(sessions) == {
        ("platform", ana): (5.0, 2),
        ("platform", ben): (4.0, 1),
        ("web", cy): (1.0, 1),
    }
    assert notifier.calls == [["review-sprint"]] * 3


async def test_points_count_the_xp_awarded_after_the_daily_cap(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: START - HOUR})
    await add_challenge(sessions, scoring="points")
    await score(step, ana, review("a1", 7, NOW - HOUR))  # 70 XP
    await score(step, ana, review("a2", 3, NOW))  # 30 XP, 10 under the day's cap of 80
    assert await scores(sessions) == {("platform", ana): (80.0, 2)}
    await score(step, ana, review("a3", 1, NOW))  # the cap absorbs it all: it counts, for nothing
    assert await scores(sessions) == {("platform", ana): (80.0, 3)}


async def test_the_window_includes_its_start_and_excludes_its_end(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep, notifier: RecordingNotifier
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: START - HOUR})
    await add_challenge(sessions, starts_at=NOW - HOUR, ends_at=NOW)
    await score(
        step,
        ana,
        review("start", 1, NOW - HOUR),
        review("end", 10, NOW),
        review("before", 100, NOW - HOUR - timedelta(microseconds=1)),
    )
    assert await scores(sessions) == {("platform", ana): (1.0, 1)}
    await score(step, ana, review("outside", 1, NOW + HOUR), now=NOW + HOUR)
    assert notifier.calls == [["review-sprint"]]  # the second batch changed no challenge


async def test_late_events_count_until_the_grace_period_closes(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: START - HOUR})
    await add_challenge(sessions, starts_at=NOW - 2 * HOUR, ends_at=NOW, grace_seconds=3600)
    await score(step, ana, review("late", 2, NOW - timedelta(minutes=1)), now=NOW + HOUR)
    await score(
        step, ana, review("too-late", 5, NOW - timedelta(minutes=1)), now=NOW + HOUR + timedelta(seconds=1)
    )
    assert await scores(sessions) == {("platform", ana): (2.0, 1)}


async def test_a_member_who_switched_teams_counts_for_each_by_event_time(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {})
    await world.add_team("web", {})
    await add_membership(sessions, "platform", ana, START - HOUR, NOW - HOUR)
    await add_membership(sessions, "web", ana, NOW - HOUR, None)
    await add_challenge(sessions)
    await score(
        step,
        ana,
        review("early", 2, NOW - 2 * HOUR),
        review("switch", 3, NOW - HOUR),  # joined_at included, left_at excluded
        review("later", 4, NOW),
    )
    assert await scores(sessions) == {("platform", ana): (2.0, 1), ("web", ana): (7.0, 2)}


async def test_a_member_of_a_team_not_taking_part_adds_nothing(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep, notifier: RecordingNotifier
) -> None:
    ana, dee = await world.add_user("ana"), await world.add_user("dee")
    await world.add_team("platform", {ana: START - HOUR})
    await world.add_team("web", {})
    await world.add_team("data", {dee: START - HOUR})
    await add_challenge(sessions, teams=["platform", "web"])
    await score(step, dee, review("d1", 5, NOW))
    await score(step, ana, review("a1", 1, NOW))
    assert await scores(sessions) == {("platform", ana): (1.0, 1)}
    assert notifier.calls == [["review-sprint"]]


async def test_two_challenges_on_one_metric_both_count_it_and_a_finished_one_none(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep, notifier: RecordingNotifier
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: START - HOUR})
    await add_challenge(sessions)
    await add_challenge(sessions, "review-race", state="scheduled", mode="first_to_goal", goal=100)
    await add_challenge(sessions, "review-archive", state="finished")
    await score(step, ana, review("a1", 3, NOW))
    assert await scores(sessions) == {("platform", ana): (3.0, 1)}
    assert await scores(sessions, "review-race") == {("platform", ana): (3.0, 1)}
    assert await scores(sessions, "review-archive") == {}
    assert notifier.calls == [["review-race", "review-sprint"]]


async def test_an_event_sent_again_adds_nothing(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep, notifier: RecordingNotifier
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: START - HOUR})
    await add_challenge(sessions)
    await score(step, ana, review("a1", 3, NOW))
    result = await score(step, ana, review("a1", 3, NOW), review("a2", 1, NOW))
    assert [status.status for status in result.statuses] == ["duplicate", "accepted"]
    await score(step, ana, review("a1", 3, NOW))
    assert await scores(sessions) == {("platform", ana): (4.0, 2)}
    assert len(notifier.calls) == 2


async def test_first_to_goal_is_reached_once_at_the_batch_time(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("platform", {ana: START - HOUR})
    await world.add_team("web", {ben: START - HOUR})
    await add_challenge(sessions, mode="first_to_goal", goal=5)
    await score(step, ana, review("a1", 3, NOW - HOUR), now=NOW - HOUR)
    assert await reached(sessions) == {}
    await score(step, ana, review("a2", 2, NOW), now=NOW)
    await score(step, ana, review("a3", 2, NOW), now=NOW + HOUR)
    await score(step, ben, review("b1", 4, NOW), now=NOW + HOUR)
    assert await reached(sessions) == {"platform": NOW}


async def test_average_first_to_goal_divides_by_the_current_members(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("platform", {ana: START - HOUR, ben: START - HOUR})
    await add_challenge(sessions, mode="first_to_goal", goal=5, scoring="average_per_member")
    await score(step, ana, review("a1", 8, NOW))
    assert await reached(sessions) == {}  # 8 / 2
    await score(step, ben, review("b1", 2, NOW), now=NOW + HOUR)
    assert await reached(sessions) == {"platform": NOW + HOUR}


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_batches_of_one_team_add_up_exactly(
    world: World, sessions: async_sessionmaker[AsyncSession], step: ScoringStep
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("platform", {ana: START - HOUR, ben: START - HOUR})
    await add_challenge(sessions)
    await add_challenge(sessions, "review-race", mode="first_to_goal", goal=100)
    for round_ in range(5):
        await asyncio.gather(
            score(step, ana, *(review(f"a{round_}-{i}", 1, NOW) for i in range(10))),
            score(step, ben, *(review(f"b{round_}-{i}", 1, NOW) for i in range(10))),
        )
    expected = {("platform", ana): (50.0, 50), ("platform", ben): (50.0, 50)}
    assert await scores(sessions) == expected
    assert await scores(sessions, "review-race") == expected
    # The last round crossed the goal together: whichever committed second saw the other's rows.
    assert await reached(sessions, "review-race") == {"platform": NOW}
