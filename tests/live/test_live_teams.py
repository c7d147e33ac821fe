"""Live ``team:{slug}`` deltas: scoring a member marks each of their teams changed, and the team's push
publishes the delta that turns its snapshot into the next one exactly, also when two members' batches run
concurrently (coalesced); so do membership and team changes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, MetricEvent
from persistence.db import create_engine, session_factory
from persistence.models import Team, TeamMembership
from persistence.scoring import ScoredBatch, Scorer, Submission
from server.hub.memory import MemoryStreams
from server.hub.publish import decode_change
from server.hub.streams import Position
from server.services.people.teams import TeamsService
from server.services.scoring.live import ScoringPush
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from tests.live.conftest import NOW, Clock, RecordingRelay, World, apply, snapshot

TODAY = "2026-11-20T10:00:00+00:00"


def submission(event_id: str, user_id: str, metric: str, value: float, when: str = TODAY) -> Submission:
    return Submission(MetricEvent(event_id, user_id, metric, value, datetime.fromisoformat(when)), "test")


async def follow(
    directory: TopicDirectory, streams: MemoryStreams, topic: str, document: dict[str, Any], at: Position
) -> dict[str, Any]:
    """The mirror of ``document`` (the snapshot at ``at``) after every delta since, checked against a fresh
    snapshot (which must be at the last delta's position)."""
    deltas = await streams.since(topic, at.epoch, at.offset)
    assert deltas is not None
    for delta in deltas:
        ops, events = decode_change(delta.payload)
        assert events == []
        document = apply(document, ops)
    fresh, position = await snapshot(directory, streams, topic)
    assert document == fresh
    assert position == (deltas[-1].position if deltas else at)
    return fresh


async def test_scoring_members_publishes_each_of_their_teams_delta(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana, ben, cy = await world.add_user("ana"), await world.add_user("ben"), await world.add_user("cy")
    dee = await world.add_user("dee")
    await world.add_team("platform", {ana: NOW, ben: NOW, cy: NOW})
    await world.add_team("infra", {ana: NOW, dee: NOW})
    await world.add_team("frozen", {ben: NOW}, archived=True)
    await world.add_team("web", {dee: NOW}, former=(ben,))
    # XP of an earlier week (in the total, not the week's) and of this one, before the batch.
    await world.score(ana, ("c0", "commits", 1, "2026-11-10T10:00:00+00:00"), now=NOW - timedelta(days=10))
    await world.score(ana, ("r0", "reviews_done", 2, TODAY))
    await world.score(cy, ("p0", "prs_merged", 1, TODAY))
    topics = ["team:platform", "team:infra", "team:frozen", "team:web"]
    before = {topic: await snapshot(directory, streams, topic) for topic in topics}

    batch = [submission("r1", ana, "reviews_done", 10), submission("p1", ben, "prs_merged", 2)]
    push = ScoringPush()
    await Scorer(sessions).score(engine, batch, NOW, before_commit=push)
    await relay.publish_committed(push.entries, push.changed)  # after the commit

    (published,) = relay.published
    assert published[:2] == sorted([f"user:{ana}", f"user:{ben}"])  # the users' changes first
    # Not the former team; the archived one too (its snapshot shows its members' XP as it is).
    assert sorted(published[2:-1]) == ["team:frozen", "team:infra", "team:platform"]
    assert published[-1] == "activity:global"  # the badges the reviews earned, last
    after = {topic: await follow(directory, streams, topic, *before[topic]) for topic in topics[:3]}
    assert after["team:frozen"]["members"][ben]["xp"] > before["team:frozen"][0]["members"][ben]["xp"]
    assert await follow(directory, streams, "team:web", *before["team:web"]) == before["team:web"][0]

    platform, previous = after["team:platform"], before["team:platform"][0]
    assert platform["members"][cy] == previous["members"][cy]  # not in the batch
    for user in (ana, ben):
        assert platform["members"][user]["xp"] > previous["members"][user]["xp"]
        gained = platform["members"][user]["xp"] - previous["members"][user]["xp"]
        assert platform["members"][user]["weekly_xp"] - previous["members"][user]["weekly_xp"] == gained
    assert platform["members"][ana]["xp"] > platform["members"][ana]["weekly_xp"]
    assert platform["totals"]["xp"] == sum(m["xp"] for m in platform["members"].values())
    assert after["team:infra"]["members"][ana] == platform["members"][ana]


async def test_a_user_in_no_team_publishes_no_team_change(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    relay: RecordingRelay,
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("web", {ben: NOW}, former=(ana,))
    push = ScoringPush()
    await Scorer(sessions).score(engine, [submission("r1", ana, "reviews_done", 4)], NOW, before_commit=push)
    await relay.publish_committed(push.entries, push.changed)
    assert relay.published == [[f"user:{ana}", "activity:global"]]  # no team (a badge: the feed)


# PostgreSQL only: SQLite runs one write transaction at a time, so there is no overlap to test.
@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_batches_of_two_members_publish_consistent_totals(
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    world: World,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("platform", {ana: NOW, ben: NOW})
    await world.score(ben, ("p0", "prs_merged", 1, TODAY))
    document, at = await snapshot(directory, streams, "team:platform")
    arrived: list[str] = []
    both = asyncio.Event()
    pushes: list[ScoringPush] = []

    async def hook(batch: ScoredBatch) -> None:
        # Both batches hold their user's row before either reads the team's memberships.
        arrived.extend(batch.users)
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 10)
        push = ScoringPush()
        await push(batch)
        pushes.append(push)

    scorer = Scorer(sessions)
    await asyncio.gather(
        scorer.score(engine, [submission("r1", ana, "reviews_done", 5)], NOW, before_commit=hook),
        scorer.score(engine, [submission("p1", ben, "prs_merged", 2)], NOW, before_commit=hook),
    )
    assert sorted(arrived) == sorted([ana, ben])
    await asyncio.gather(
        *(relay.publish_committed(push.entries, push.changed) for push in pushes)
    )  # each after its commit
    deltas = await streams.since("team:platform", at.epoch, at.offset)
    assert deltas is not None
    assert 1 <= len(deltas) <= 2  # coalesced: a push computed after both commits shows both
    after = await follow(directory, streams, "team:platform", document, at)
    assert after["totals"]["xp"] == after["members"][ana]["xp"] + after["members"][ben]["xp"] > 0


async def test_membership_and_team_changes_publish_team_deltas(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    clock: Clock,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("platform", {ana: NOW})
    await world.score(ben, ("r0", "reviews_done", 3, TODAY))
    teams = TeamsService(sessions, rules, clock=clock)
    teams.relay = relay
    clock.now = NOW + timedelta(minutes=5)
    document, at = await snapshot(directory, streams, "team:platform")

    await teams.add_member("platform", "ben")
    document = await follow(directory, streams, "team:platform", document, at)
    assert document["members"][ben]["weekly_xp"] == document["totals"]["weekly_xp"] > 0
    await teams.add_member("platform", "ben")  # already a member: no change, no delta
    await teams.remove_member("platform", "ana")
    await teams.update("platform", "Platform team", None)
    await teams.archive("platform")
    assert relay.published == [["team:platform"]] * 4
    deltas = await streams.since("team:platform", at.epoch, at.offset)
    assert deltas is not None
    document = await follow(directory, streams, "team:platform", document, deltas[0].position)
    assert list(document["members"]) == [ben]
    assert (document["name"], document["archived"]) == ("Platform team", True)


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_membership_change_holds_one_connection_at_a_time(
    world: World,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    relay: RecordingRelay,
) -> None:
    """A change reads the rules before its transaction: read inside it, each change would hold one
    pooled connection while waiting for a second, and a burst of changes would starve the pool."""
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    await world.add_team("platform", {})
    one = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        pooled = session_factory(one)
        rules = RulesService(pooled)
        await rules.bootstrap()
        teams = TeamsService(pooled, rules, clock=clock)
        teams.relay = relay
        await asyncio.gather(teams.add_member("platform", "ana"), teams.add_member("platform", "ben"))
    finally:
        await one.dispose()
    assert relay.published == [["team:platform"], ["team:platform"]]
    async with sessions() as session:
        members = await session.scalars(
            select(TeamMembership.user_id)
            .join(Team)
            .where(Team.slug == "platform", TeamMembership.left_at.is_(None))
        )
        assert {str(member) for member in members} == {ana, ben}
