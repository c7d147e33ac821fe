"""The ``challenge:{id}`` scoreboard: its snapshot is the document stored at the stream's head, each push
publishes the delta from it to the scores as the database has them (with a start or finish event when
the state moved), and a mirror that follows the deltas ends equal to a fresh snapshot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.models import Challenge, ChallengeScore, Team
from protocol import ErrorCode
from server.hub.documents import DocumentStore, MemoryDocuments
from server.hub.memory import MemoryStreams
from server.hub.publish import decode_change
from server.hub.redis import RedisStreams
from server.hub.streams import Position
from server.services.challenges.scoreboards import ChallengeScoreboards
from server.services.topics.directory import TopicDirectory
from server.services.topics.refused import TopicRefused
from tests.live.conftest import NOW, Clock, World, apply

TOPIC = "challenge:review-sprint"


def definition(**changes: Any) -> dict[str, Any]:
    return {
        "id": "review-sprint",
        "name": "Review sprint",
        "metrics": ["reviews_done"],
        "starts_at": (NOW - timedelta(days=1)).isoformat(),
        "ends_at": (NOW + timedelta(days=1)).isoformat(),
        "teams": ["platform", "web"],
        "rewards": [{"rank": 1, "xp": 100}],
        **changes,
    }


async def add_challenge(sessions: async_sessionmaker[AsyncSession], state: str = "live") -> None:
    body = definition()
    async with sessions() as session, session.begin():
        session.add(
            Challenge(
                id=body["id"],
                definition=body,
                state=state,
                starts_at=NOW - timedelta(days=1),
                ends_at=NOW + timedelta(days=1),
                version=1,
                created_at=NOW - timedelta(days=2),
            )
        )


async def add_score(
    sessions: async_sessionmaker[AsyncSession], slug: str, user_id: str, total: float
) -> None:
    async with sessions() as session, session.begin():
        team = await session.scalar(select(Team.id).where(Team.slug == slug))
        assert team is not None
        row = await session.get(ChallengeScore, ("review-sprint", team, uuid.UUID(user_id)))
        if row is None:
            session.add(
                ChallengeScore(
                    challenge_id="review-sprint",
                    team_id=team,
                    user_id=uuid.UUID(user_id),
                    total=total,
                    events=1,
                )
            )
        else:
            row.total += total
            row.events += 1


async def set_state(sessions: async_sessionmaker[AsyncSession], state: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Challenge).where(Challenge.id == "review-sprint").values(state=state))


@pytest.fixture
def boards(
    sessions: async_sessionmaker[AsyncSession], streams: MemoryStreams, clock: Clock
) -> ChallengeScoreboards:
    return ChallengeScoreboards(MemoryDocuments(streams), sessions, push_ms=0, clock=clock)


async def follow(
    streams: MemoryStreams, boards: ChallengeScoreboards, document: dict[str, Any], at: Position
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The mirror after every delta since ``at``, checked against a fresh snapshot; the events seen."""
    deltas = await streams.since(TOPIC, at.epoch, at.offset)
    assert deltas is not None
    events: list[dict[str, Any]] = []
    for delta in deltas:
        ops, delta_events = decode_change(delta.payload)
        document = apply(document, ops)
        events += delta_events
    fresh, position = await boards.snapshot("review-sprint")
    assert document == fresh
    assert position == (deltas[-1].position if deltas else at)
    return document, events


async def test_the_scoreboard_ranks_teams_and_follows_the_scores(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    streams: MemoryStreams,
    boards: ChallengeScoreboards,
) -> None:
    ana, ben, cy = await world.add_user("ana"), await world.add_user("ben"), await world.add_user("cy")
    await world.add_team("platform", {ana: NOW, ben: NOW})
    await world.add_team("web", {cy: NOW})
    await add_challenge(sessions)
    await add_score(sessions, "platform", ana, 3)
    document, at = await boards.snapshot("review-sprint")
    assert document["state"] == "live"
    assert document["teams"]["platform"]["score"] == 3
    assert document["teams"]["platform"]["rank"] == 1
    assert document["teams"]["web"]["rank"] == 2
    assert document["teams"]["platform"]["members"][ana]["display_name"] == "Ana"

    await add_score(sessions, "web", cy, 5)
    await add_score(sessions, "platform", ben, 1)
    await boards.push(TOPIC)
    await boards.push(TOPIC)  # nothing new: no delta
    document, events = await follow(streams, boards, document, at)
    assert events == []
    assert [document["teams"][slug]["rank"] for slug in ("web", "platform")] == [1, 2]
    assert (await streams.head(TOPIC)).offset == at.offset + 1


async def test_a_start_and_a_finish_come_with_their_events(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    streams: MemoryStreams,
    boards: ChallengeScoreboards,
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: NOW})
    await world.add_team("web", {})
    await add_challenge(sessions, state="scheduled")
    document, at = await boards.snapshot("review-sprint")
    assert document["state"] == "scheduled"

    await set_state(sessions, "live")
    await boards.push(TOPIC)
    document, events = await follow(streams, boards, document, at)
    assert [event["name"] for event in events] == ["challenge_started"]
    assert events[0]["data"]["ends_at_ms"] == document["ends_at_ms"]

    at = await streams.head(TOPIC)
    await set_state(sessions, "finished")
    await boards.push(TOPIC)
    document, events = await follow(streams, boards, document, at)
    assert [event["name"] for event in events] == ["challenge_finished"]
    assert document["state"] == "finished"


async def test_changed_pushes_in_the_background(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    streams: MemoryStreams,
    boards: ChallengeScoreboards,
) -> None:
    ana = await world.add_user("ana")
    await world.add_team("platform", {ana: NOW})
    await world.add_team("web", {})
    await add_challenge(sessions)
    document, at = await boards.snapshot("review-sprint")
    await add_score(sessions, "platform", ana, 2)
    boards.changed(["review-sprint"])
    await boards.aclose()  # pushes what is pending
    document, _ = await follow(streams, boards, document, at)
    assert document["teams"]["platform"]["score"] == 2


async def test_anyone_signed_in_may_watch_an_existing_challenge(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    directory: TopicDirectory,
    boards: ChallengeScoreboards,
    streams: MemoryStreams,
) -> None:
    ana, spectator = await world.add_user("ana"), await world.add_user("spectator")
    await world.add_team("platform", {ana: NOW})
    await world.add_team("web", {})
    await add_challenge(sessions)
    with pytest.raises(TopicRefused) as refused:
        await directory.authorize(spectator, TOPIC)  # the directory has no scoreboards: no challenges
    assert refused.value.code == ErrorCode.UNKNOWN_TOPIC
    served = TopicDirectory(sessions, directory.rules, clock=directory.clock, challenges=boards)
    await served.authorize(spectator, TOPIC)  # not a member: may watch
    document, _ = await served.snapshot(TOPIC, lambda: streams.head(TOPIC))
    assert document["id"] == "review-sprint"
    for topic in ("challenge:nope", "challenge:x1"):
        with pytest.raises(TopicRefused) as refused:
            await served.authorize(spectator, topic)
        assert refused.value.code == ErrorCode.UNKNOWN_TOPIC
        with pytest.raises(TopicRefused):
            await served.snapshot(topic, lambda topic=topic: streams.head(topic))  # type: ignore[misc]


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server, decode_responses=False)
    yield client
    await client.aclose()


async def test_on_redis_two_processes_publish_one_scoreboard_consistently(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    redis: Redis,
    redis_prefix: str,
) -> None:
    """Two workers pushing one challenge: each delta follows the document it was diffed from (the
    compare-and-set on the topic's position), so a mirror that replays the stream ends at the snapshot."""
    streams = RedisStreams(redis, prefix=redis_prefix)
    a, b = (ChallengeScoreboards(DocumentStore(streams), sessions, push_ms=0, clock=clock) for _ in range(2))
    ana, cy = await world.add_user("ana"), await world.add_user("cy")
    await world.add_team("platform", {ana: NOW})
    await world.add_team("web", {cy: NOW})
    await add_challenge(sessions)
    document, at = await a.snapshot("review-sprint")
    await add_score(sessions, "platform", ana, 2)
    await b.push(TOPIC)
    await add_score(sessions, "web", cy, 7)
    await a.push(TOPIC)  # a's last document is stale: it must diff from b's
    deltas = await streams.since(TOPIC, at.epoch, at.offset)
    assert deltas is not None
    assert len(deltas) == 2
    for delta in deltas:
        document = apply(document, decode_change(delta.payload)[0])
    fresh, position = await b.snapshot("review-sprint")
    assert document == fresh
    assert position == deltas[-1].position
    assert fresh["teams"]["web"]["rank"] == 1
