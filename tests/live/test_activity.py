"""The ``activity:global`` feed: scoring that inserts notable moments marks the feed changed, and its push
publishes the delta that turns the feed's snapshot into the next one exactly (also when batches run
concurrently: coalesced), the feed keeps the newest 50, XP alone does not mark it, secret badges stay
secret, and anyone may read it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, MetricEvent
from persistence.models import Notification
from persistence.scoring import ScoredBatch, Scorer, Submission
from server.hub.memory import MemoryStreams
from server.hub.publish import decode_change
from server.hub.streams import Position
from server.services.scoring.live import ScoringPush
from server.services.topics.activity import FEED_SIZE
from server.services.topics.directory import TopicDirectory, TopicRefused
from tests.live.conftest import NOW, RecordingRelay, World, apply, snapshot

TOPIC = "activity:global"
TODAY = "2026-11-20T10:00:00+00:00"


def submission(event_id: str, user_id: str, metric: str, value: float) -> Submission:
    return Submission(MetricEvent(event_id, user_id, metric, value, datetime.fromisoformat(TODAY)), "test")


async def score(
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    relay: RecordingRelay,
    *submissions: Submission,
) -> None:
    """Score, then hand the live changes to the relay (which waits for the feed's push)."""
    push = ScoringPush()
    await Scorer(sessions).score(engine, list(submissions), NOW, before_commit=push)
    await relay.publish_committed(push.entries, push.changed)


async def follow(
    directory: TopicDirectory, streams: MemoryStreams, document: dict[str, Any], at: Position
) -> tuple[dict[str, Any], list[list[Any]]]:
    """The feed after every delta since ``at``, checked against a fresh snapshot (at the last delta's
    position); and the deltas' ops."""
    deltas = await streams.since(TOPIC, at.epoch, at.offset)
    assert deltas is not None
    applied = []
    for delta in deltas:
        ops, _ = decode_change(delta.payload)
        document = apply(document, ops)
        applied.append(ops)
    fresh, position = await snapshot(directory, streams, TOPIC)
    assert document == fresh
    assert position == (deltas[-1].position if deltas else at)
    return fresh, applied


async def test_a_level_up_publishes_its_row_at_the_head_of_the_feed(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    document, at = await snapshot(directory, streams, TOPIC)
    assert document == {"items": []}

    await score(sessions, engine, relay, submission("p1", ana, "prs_merged", 4))
    document, _ = await follow(directory, streams, document, at)
    assert document["items"]
    kinds = {row["kind"] for row in document["items"]}
    assert "level_up" in kinds
    level_up = next(row for row in document["items"] if row["kind"] == "level_up")
    assert (level_up["user_id"], level_up["handle"], level_up["display_name"]) == (ana, "ana", "Ana")
    assert set(level_up["data"]) == {"level", "previous_level", "summary"}
    assert level_up["data"]["level"] > level_up["data"]["previous_level"]
    assert level_up["data"]["summary"] == f"Reached level {level_up['data']['level']}"
    assert level_up["at_ms"] == int(NOW.timestamp() * 1000)
    ids = [row["id"] for row in document["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first

    # A later moment of someone else goes to the head.
    at = (await snapshot(directory, streams, TOPIC))[1]
    await score(sessions, engine, relay, submission("p2", ben, "prs_merged", 4))
    document, _ = await follow(directory, streams, document, at)
    assert document["items"][0]["user_id"] == ben
    assert document["items"][-1]["user_id"] == ana


async def test_the_feed_keeps_the_newest_fifty(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana = await world.add_user("ana")
    old = [
        {
            "user_id": uuid.UUID(ana),
            "kind": "level_up",
            "data": {"level": n + 2, "previous_level": n + 1, "xp": n},
            "created_at": NOW - timedelta(days=1),
        }
        for n in range(FEED_SIZE)
    ]
    async with sessions() as session, session.begin():
        await session.execute(insert(Notification), old)
        # Not a feed kind: never shown.
        await session.execute(insert(Notification), [{"user_id": uuid.UUID(ana), "kind": "rank_changed"}])
    document, at = await snapshot(directory, streams, TOPIC)
    assert len(document["items"]) == FEED_SIZE
    oldest = document["items"][-1]["id"]

    await score(sessions, engine, relay, submission("p1", ana, "prs_merged", 4))
    document, (ops,) = await follow(directory, streams, document, at)
    assert len(document["items"]) == FEED_SIZE
    assert oldest not in {row["id"] for row in document["items"]}
    assert ["remove", ["items", {"id": oldest}]] in ops  # rows fall out by their key, not a position
    assert document["items"][0]["at_ms"] == int(NOW.timestamp() * 1000)


async def test_xp_alone_publishes_nothing_on_the_feed(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana = await world.add_user("ana")
    await score(sessions, engine, relay, submission("c1", ana, "commits", 1))  # the first: a badge
    document, at = await snapshot(directory, streams, TOPIC)
    assert document["items"]
    relay.published.clear()
    await score(sessions, engine, relay, submission("c2", ana, "commits", 1))  # 2 XP, nothing notable
    assert relay.published == [[f"user:{ana}"]]
    assert await follow(directory, streams, document, at) == (document, [])


async def test_a_secret_badge_shows_that_one_was_earned_and_nothing_else(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana = await world.add_user("ana")
    document, at = await snapshot(directory, streams, TOPIC)
    await score(sessions, engine, relay, submission("i1", ana, "incidents_resolved", 10))
    document, _ = await follow(directory, streams, document, at)
    badges = [row["data"] for row in document["items"] if row["kind"] == "badge_earned"]
    assert {"secret": True} in badges  # night-shift
    assert not any("night" in str(data).lower() for data in badges)
    shown = [data for data in badges if not data["secret"]]
    assert all({"badge_id", "name", "tier", "period", "summary"} <= set(data) for data in shown)
    assert all(
        data["summary"] == f"Badge: {data['name']}" + (f" ({data['tier']})" if data["tier"] else "")
        for data in shown
    )


async def test_any_user_may_read_the_feed(world: World, directory: TopicDirectory) -> None:
    ana = await world.add_user("ana")
    stranger = str(uuid.uuid4())  # the hub has authenticated whoever asks
    # A refusal raises TopicRefused: returning is the answer "allowed".
    await directory.authorize(ana, TOPIC)
    await directory.authorize(stranger, TOPIC)
    # The same callers are refused what is private, so the calls above did check something.
    with pytest.raises(TopicRefused):
        await directory.authorize(stranger, f"user:{ana}")


# PostgreSQL only: SQLite runs one write transaction at a time, so there is no overlap to test.
@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_batches_publish_a_consistent_feed(
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    world: World,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    users = [await world.add_user(handle) for handle in ("ana", "ben", "cy", "dee")]
    document, at = await snapshot(directory, streams, TOPIC)
    arrived: list[str] = []
    everyone = asyncio.Event()
    pushes: list[ScoringPush] = []

    async def hook(batch: ScoredBatch) -> None:
        # Every batch has inserted nothing yet and holds its user's row before any marks the feed.
        arrived.extend(batch.users)
        if len(arrived) == len(users):
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 10)
        push = ScoringPush()
        await push(batch)
        pushes.append(push)

    scorer = Scorer(sessions)
    await asyncio.gather(
        *(
            scorer.score(engine, [submission(f"p{n}", user, "prs_merged", 4)], NOW, before_commit=hook)
            for n, user in enumerate(users)
        )
    )
    await asyncio.gather(
        *(relay.publish_committed(push.entries, push.changed) for push in pushes)
    )  # each after its commit
    document, applied = await follow(directory, streams, document, at)
    assert 1 <= len(applied) <= len(users)  # coalesced: batches that changed it meanwhile share a push
    assert {row["user_id"] for row in document["items"]} == set(users)
