"""Ingest with a relay: each affected user's delta turns their snapshot into the next one exactly, its
events explain it, all of one ingest go into the live outbox in its transaction and out through the relay
after the commit, what did not commit publishes nothing and leaves no entry, and a publish that fails
after the commit leaves the batch scored and its changes to the sweep."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from game import MetricEvent
from persistence.db import create_engine
from persistence.live_outbox import Outbox
from persistence.models import MetricEventRow
from persistence.scoring import Scorer, Submission
from protocol import EVENT_DATA
from server.api.endpoints import Principal
from server.api.schemas import MetricEventIn
from server.config import Settings
from server.hub.memory import MemoryStreams
from server.hub.publish import decode_change
from server.services.scoring.ingest import IngestService
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from server.services.topics.outbox_relay import OutboxRelay
from tasks.scoring_step import ScoringStep
from tests.live.conftest import NOW, RecordingRelay, World, apply, snapshot

SERVICE = Principal(kind="service", id=str(uuid.uuid4()), scopes=frozenset({"metrics:write"}))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):  # GAMIF_* variables of the outer environment must not leak in
        if name.upper().startswith("GAMIF_") and not name.upper().startswith("GAMIF_TEST_"):
            monkeypatch.delenv(name)
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


class InlineQueue:
    """Scores a batch as it is queued (the worker's step, without the broker): its errors surface."""

    def __init__(self, step: ScoringStep) -> None:
        self.step = step

    async def enqueue(self, submissions: Sequence[Submission], received_at: datetime) -> None:
        await self.step.run(submissions, received_at)


def ingest_service(
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    settings: Settings,
    relay: OutboxRelay | None,
) -> IngestService:
    return IngestService(sessions, rules, settings, InlineQueue(ScoringStep(Scorer(sessions), rules, relay)))


def metric(event_id: str, user: str, name: str, value: float, hours_ago: float = 1) -> MetricEventIn:
    return MetricEventIn(
        id=event_id, user=user, metric=name, value=value, occurred_at=NOW - timedelta(hours=hours_ago)
    )


async def test_one_delta_per_user_that_turns_each_snapshot_into_the_next(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    settings: Settings,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana, ben, cy = await world.add_user("ana"), await world.add_user("ben"), await world.add_user("cy")
    service = ingest_service(sessions, rules, settings, relay)
    topics = {user: f"user:{user}" for user in (ana, ben, cy)}
    before = {user: await snapshot(directory, streams, topic) for user, topic in topics.items()}

    out = await service.ingest(
        SERVICE,
        [
            metric("r1", "ana", "reviews_done", 12),
            metric("c1", "ana", "commits", 1, hours_ago=30),
            metric("p1", "ben", "prs_merged", 1),
        ],
        now=NOW,
    )
    assert out.accepted == 3
    # One call after the commit; cy is not affected; the feed (a badge, a level-up) comes last. Nothing
    # is left in the outbox.
    assert relay.published == [[*sorted([topics[ana], topics[ben]]), "activity:global"]]
    await relay.flush()  # published entries are deleted in batches
    assert await Outbox(sessions).count() == 0

    events: dict[str, list[dict[str, Any]]] = {}
    for user in (ana, ben):
        document, position = before[user]
        deltas = await streams.since(topics[user], position.epoch, position.offset)
        assert deltas is not None
        (delta,) = deltas
        ops, events[user] = decode_change(delta.payload)
        after, now_at = await snapshot(directory, streams, topics[user])
        assert now_at == delta.position
        assert apply(document, ops) == after
        assert apply(apply(document, ops), ops) == after
        for item in events[user]:  # every award is explained, in the §13 shapes
            EVENT_DATA[item["name"]].model_validate(item["data"])
            assert item["data"]["explanation"]
            assert item["data"]["summary"]  # and summarised in a person's words
            assert item["data"]["rule_version"] == 1
    assert await streams.since(topics[cy], before[cy][1].epoch, before[cy][1].offset) == []

    ana_events = events[ana]
    names = [item["name"] for item in ana_events]
    assert set(names) == {
        "xp_awarded",
        "level_up",
        "badge_earned",
        "mission_completed",
        "streak_extended",
    }
    awards = [item["data"] for item in ana_events if item["name"] == "xp_awarded"]
    assert [a["xp"] for a in awards] == [
        sum(a["amount"] for a in awards[: i + 1]) for i in range(len(awards))
    ]
    document = (await snapshot(directory, streams, topics[ana]))[0]
    assert awards[-1]["xp"] == document["xp"] == 182
    assert {a["rule_id"] for a in awards} == {
        "metrics.reviews_done",
        "metrics.commits",
        "badges.reviewer",
        "badges.review-marathon",
        "missions.daily-reviews",
    }
    reviews = next(a for a in awards if a["rule_id"] == "metrics.reviews_done")
    assert reviews["amount"] == 80
    assert "capped at 80 by the daily cap" in reviews["explanation"]
    assert {a["rule_id"]: a["summary"] for a in awards} == {
        "metrics.reviews_done": "Did 12 code reviews (daily XP cap reached)",
        "metrics.commits": next(a["summary"] for a in awards if a["rule_id"] == "metrics.commits"),
        "badges.reviewer": "Badge: Second pair of eyes (bronze)",
        "badges.review-marathon": "Badge: Review marathon",
        "missions.daily-reviews": "Mission: Review three pull requests today",
    }
    assert next(a["summary"] for a in awards if a["rule_id"] == "metrics.commits").startswith("Pushed ")
    badges = {item["data"]["key"]: item["data"] for item in ana_events if item["name"] == "badge_earned"}
    assert set(badges) == {"reviewer:bronze", "review-marathon@2026-11-20", "first-commit"}
    assert set(badges) <= set(document["badges"])
    assert badges["reviewer:bronze"] | {"explanation": ""} == {
        "key": "reviewer:bronze",
        "badge_id": "reviewer",
        "name": "Second pair of eyes",
        "tier": "bronze",
        "xp": 50,
        "rule_id": "badges.reviewer",
        "rule_version": 1,
        "explanation": "",
        "summary": "Badge: Second pair of eyes (bronze)",
    }
    assert badges["first-commit"].keys() == {
        "key",
        "badge_id",
        "name",
        "rule_id",
        "rule_version",
        "explanation",
        "summary",
    }
    (completed,) = [item["data"] for item in ana_events if item["name"] == "mission_completed"]
    assert completed | {"explanation": ""} == {
        "key": "daily-reviews@2026-11-20",
        "mission_id": "daily-reviews",
        "name": "Review three pull requests today",
        "period": "2026-11-20",
        "reward_xp": 20,
        "rule_id": "missions.daily-reviews",
        "rule_version": 1,
        "explanation": "",
        "summary": "Mission complete: Review three pull requests today",
    }
    assert completed["key"] in document["missions"]
    (level_up,) = [item["data"] for item in ana_events if item["name"] == "level_up"]
    assert (level_up["previous_level"], level_up["level"], level_up["rule_id"]) == (1, 2, "levels")
    assert level_up["summary"] == "Reached level 2"
    # The document's badges carry their summary too (what a snapshot shows).
    assert document["badges"]["reviewer:bronze"]["summary"] == "Badge: Second pair of eyes (bronze)"
    streaks = {
        item["data"]["streak_id"]: item["data"] for item in ana_events if item["name"] == "streak_extended"
    }
    assert {k: (v["name"], v["current"], v["best"]) for k, v in streaks.items()} == {
        "reviewing": ("Review streak", 1, 1),
        "shipping": ("Shipping streak", 1, 1),
    }

    # A re-sent batch scores nothing, so publishes nothing; the next event is the next delta.
    await service.ingest(SERVICE, [metric("r1", "ana", "reviews_done", 12)], now=NOW)
    assert len(relay.published) == 1
    previous, at = await snapshot(directory, streams, topics[ana])
    await service.ingest(SERVICE, [metric("r2", "ana", "reviews_done", 2)], now=NOW)
    (delta,) = await streams.since(topics[ana], at.epoch, at.offset) or []
    ops, more = decode_change(delta.payload)
    assert apply(previous, ops) == (await snapshot(directory, streams, topics[ana]))[0]
    # 14 reviews: past the daily cap, so no XP (and no xp_awarded event), but the missions moved on.
    assert ["merge", ["missions", "weekly-reviews@week of 2026-11-16"], {"progress": 14}] in ops
    assert [item["name"] for item in more] == []


async def test_streak_broken_and_extended(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    settings: Settings,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana = await world.add_user("ana")
    service = ingest_service(sessions, rules, settings, relay)
    await service.ingest(SERVICE, [metric("r1", "ana", "reviews_done", 1, hours_ago=24 * 6)], now=NOW)
    before, at = await snapshot(directory, streams, f"user:{ana}")
    assert before["streaks"]["reviewing"]["current"] == 0  # lapsed: six days ago, two freezes
    await service.ingest(SERVICE, [metric("r2", "ana", "reviews_done", 1)], now=NOW)
    (delta,) = await streams.since(f"user:{ana}", at.epoch, at.offset) or []
    ops, events = decode_change(delta.payload)
    assert apply(before, ops) == (await snapshot(directory, streams, f"user:{ana}"))[0]
    named = {item["name"]: item["data"] for item in events if item["name"].startswith("streak_")}
    assert named["streak_broken"] | {"explanation": ""} == {
        "streak_id": "reviewing",
        "name": "Review streak",
        "previous": 1,
        "rule_id": "streaks.reviewing",
        "rule_version": 1,
        "explanation": "",
        "summary": "Review streak of 1 day ended; a new one starts",
    }
    assert "streak_extended" not in named  # a new streak of 1 beats neither the old current nor the best


class FailingCommit(Session):
    """A session whose commit fails while ``fail`` is set: the publish happened, the commit did not."""

    fail = False


@sa_event.listens_for(FailingCommit, "before_commit")
def _fail(session: Session) -> None:
    if FailingCommit.fail:
        raise RuntimeError("the database went away at commit")


async def count_events(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(MetricEventRow)) or 0)


async def test_a_failing_commit_publishes_nothing_and_leaves_no_entry(
    world: World,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    settings: Settings,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana = await world.add_user("ana")
    topic = f"user:{ana}"
    engine = create_engine(database_url)
    failing = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=FailingCommit)
    service = IngestService(failing, rules, settings, InlineQueue(ScoringStep(Scorer(failing), rules, relay)))
    before, at = await snapshot(directory, streams, topic)
    try:
        FailingCommit.fail = True
        with pytest.raises(RuntimeError, match="went away at commit"):
            await service.ingest(SERVICE, [metric("r1", "ana", "reviews_done", 3)], now=NOW)
    finally:
        FailingCommit.fail = False
    assert relay.published == []
    # The change did not happen, so it was never published, and no outbox entry is left: screens stay
    # where they are, which is the state as it is (nothing was written).
    assert await streams.since(topic, at.epoch, at.offset) == []
    assert await Outbox(sessions).count() == 0
    after, now_at = await snapshot(directory, streams, topic)
    assert now_at == at
    assert after == before
    assert await count_events(sessions) == 0
    # The sender retries, and this time it counts.
    out = await service.ingest(SERVICE, [metric("r1", "ana", "reviews_done", 3)], now=NOW)
    assert out.accepted == 1
    (delta,) = await streams.since(topic, now_at.epoch, now_at.offset) or []
    assert apply(after, decode_change(delta.payload)[0]) == (await snapshot(directory, streams, topic))[0]
    await engine.dispose()


async def test_a_publish_failing_after_the_commit_leaves_the_changes_to_the_sweep(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    settings: Settings,
    directory: TopicDirectory,
    streams: MemoryStreams,
    relay: RecordingRelay,
) -> None:
    ana, ben = await world.add_user("ana"), await world.add_user("ben")
    before, at = await snapshot(directory, streams, f"user:{ana}")
    relay.fail_next_publish = True
    step = ScoringStep(Scorer(sessions), rules, relay)  # what a worker runs for the batch
    submissions = [
        Submission(MetricEvent(f"r{n}", user, "reviews_done", 3, NOW - timedelta(hours=1)), "service:test")
        for n, user in enumerate((ana, ben))
    ]
    await step.run(submissions, NOW)  # committed: the batch is done (a worker acknowledges it)
    assert await count_events(sessions) == 2
    assert await streams.since(f"user:{ana}", at.epoch, at.offset) == []
    assert await Outbox(sessions).count() == 2  # the two users' deltas (the feed is recomputed)

    assert await relay.sweep() == 2  # any relay's, after its grace
    await relay.documents.settled()
    (delta,) = await streams.since(f"user:{ana}", at.epoch, at.offset) or []
    assert (
        apply(before, decode_change(delta.payload)[0])
        == (await snapshot(directory, streams, f"user:{ana}"))[0]
    )
    assert await Outbox(sessions).count() == 0


async def test_without_a_relay_nothing_is_pushed(
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    settings: Settings,
) -> None:
    await world.add_user("ana")
    service = ingest_service(sessions, rules, settings, None)
    out = await service.ingest(SERVICE, [metric("r1", "ana", "reviews_done", 3)], now=NOW)
    assert out.accepted == 1
