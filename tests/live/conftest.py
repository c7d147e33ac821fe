"""Fixtures of the topic-document and live-push tests: services on a migrated database (SQLite and
PostgreSQL, through ``database_url``), a settable clock, and helpers that write users, teams and scores.

- ``sessions``: a session factory on the test's database; ``rules``: a bootstrapped `RulesService`
  (the default rules, version 1); ``engine``: its engine.
- ``clock``: a `Clock` (``clock.now``, NOW unless a test moves it); ``directory``: a `TopicDirectory`
  reading it, with ``relay`` (a `RecordingRelay` on ``streams``, not sweeping) for its user snapshots and
  ``documents`` (`LiveDocuments` on ``streams``, pushing at once) for its team and feed snapshots.
- ``world``: a `World` with ``add_user``, ``add_team``, ``score`` (the scorer, at ``now``).
- ``streams``: in-memory hub streams. ``snapshot`` and ``apply`` read a topic's snapshot and apply wire
  ops, as a screen would.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, MetricEvent
from persistence.db import create_engine, session_factory
from persistence.live_outbox import Outbox, OutboxEntry
from persistence.models import Team, TeamMembership, User
from persistence.scoring import Scorer, ScoreResult, Submission
from protocol import apply_ops, parse_op
from server.hub.documents import MemoryDocuments
from server.hub.memory import MemoryStreams
from server.hub.streams import Position
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from server.services.topics.live_documents import Changed, LiveDocuments
from server.services.topics.outbox_relay import OutboxRelay

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
"""A Friday (the week of 2026-11-16, starting on Monday), in the default rules' documentation week."""


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def rules(sessions: async_sessionmaker[AsyncSession]) -> RulesService:
    service = RulesService(sessions)
    await service.bootstrap()
    return service


@pytest.fixture
async def engine(rules: RulesService) -> Engine:
    return await rules.engine()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def documents(
    sessions: async_sessionmaker[AsyncSession], rules: RulesService, streams: MemoryStreams, clock: Clock
) -> AsyncIterator[LiveDocuments]:
    live = LiveDocuments(MemoryDocuments(streams), sessions, rules.engine, push_ms=0, clock=clock)
    yield live
    await live.aclose()


@pytest.fixture
def relay(
    sessions: async_sessionmaker[AsyncSession], streams: MemoryStreams, documents: LiveDocuments
) -> RecordingRelay:
    return RecordingRelay(Outbox(sessions), streams, documents)


@pytest.fixture
def directory(
    sessions: async_sessionmaker[AsyncSession],
    rules: RulesService,
    clock: Clock,
    relay: OutboxRelay,
    documents: LiveDocuments,
) -> TopicDirectory:
    return TopicDirectory(sessions, rules, clock=clock, relay=relay, documents=documents)


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    engine: Engine

    async def add_user(
        self, handle: str, *, timezone: str = "UTC", disabled: bool = False, user_id: str | None = None
    ) -> str:
        key = uuid.UUID(user_id) if user_id else uuid.uuid4()
        async with self.sessions() as session, session.begin():
            session.add(
                User(
                    id=key,
                    handle=handle,
                    email=f"{handle}@example.com",
                    display_name=handle.title(),
                    timezone=timezone,
                    password_hash="-",
                    disabled_at=NOW if disabled else None,
                )
            )
        return str(key)

    async def add_team(
        self,
        slug: str,
        members: dict[str, datetime],
        *,
        former: tuple[str, ...] = (),
        archived: bool = False,
    ) -> None:
        """A team with current ``members`` (user id → joined at) and ``former`` ones (who left)."""
        async with self.sessions() as session, session.begin():
            team = Team(slug=slug, name=slug.title(), description=f"The {slug} team.")
            team.archived_at = NOW if archived else None
            session.add(team)
            await session.flush()
            for user_id, joined in members.items():
                session.add(TeamMembership(team_id=team.id, user_id=uuid.UUID(user_id), joined_at=joined))
            for user_id in former:
                session.add(
                    TeamMembership(team_id=team.id, user_id=uuid.UUID(user_id), joined_at=NOW, left_at=NOW)
                )

    async def score(
        self, user_id: str, *events: tuple[str, str, float, str], now: datetime = NOW
    ) -> ScoreResult:
        """Score ``(event id, metric, value, occurred_at)`` events of a user, received at ``now``."""
        submissions = [
            Submission(MetricEvent(event_id, user_id, metric, value, datetime.fromisoformat(when)), "test")
            for event_id, metric, value, when in events
        ]
        return await Scorer(self.sessions).score(self.engine, submissions, now)


class RecordingRelay(OutboxRelay):
    """A real relay on in-memory streams that remembers the topics of what it was given, waits until the
    documents it hands changes to have pushed them, and can fail on purpose."""

    def __init__(self, outbox: Outbox, streams: MemoryStreams, documents: LiveDocuments) -> None:
        super().__init__(outbox, streams, on_changed=documents.changed, grace_seconds=0)
        self.documents = documents
        self.published: list[list[str]] = []
        """The topics of each committed change handed over (users' entries, then changed documents)."""
        self.fail_next_publish = False

    async def publish(self, entries: Sequence[OutboxEntry]) -> None:
        if self.fail_next_publish:
            self.fail_next_publish = False
            raise ConnectionError("the streams went away")
        await super().publish(entries)
        await self.flush()

    async def publish_committed(
        self, entries: Sequence[OutboxEntry], changed: Sequence[Changed] = ()
    ) -> None:
        if entries or changed:
            self.published.append([entry.topic for entry in entries] + [change.topic for change in changed])
        await super().publish_committed(entries, changed)
        await self.documents.settled()


@pytest.fixture
def streams() -> MemoryStreams:
    return MemoryStreams()


async def snapshot(
    directory: TopicDirectory, streams: MemoryStreams, topic: str
) -> tuple[dict[str, Any], Position]:
    return await directory.snapshot(topic, lambda: streams.head(topic))


def apply(document: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    return apply_ops(document, [parse_op(op) for op in ops])


@pytest.fixture
def world(sessions: async_sessionmaker[AsyncSession], engine: Engine) -> World:
    return World(sessions, engine)
