"""The live side of the application, assembled from the settings: the hub's backend (`server.hub.wiring`),
the services that keep its topics' documents (leaderboards, challenge scoreboards, teams and the activity
feed), the publisher, the
outbox relay (running: it publishes what this process's scoring commits, and sweeps what a crashed
process left in the live outbox), and the topic directory over them. The app builds the scoring queue on
these, then the hub with its handlers (`server.hub_handlers`), so that everything is given to each part
when it is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.live_outbox import Outbox
from server.config import Settings
from server.hub.documents import DocumentStore, MemoryDocuments
from server.hub.memory import MemoryStreams
from server.hub.publish import Publisher
from server.hub.wiring import HubBackend, open_backend
from server.services.boards.embedded import EmbeddedBoards
from server.services.boards.live import LiveBoards, open_live_boards
from server.services.challenges.scoreboards import ChallengeScoreboards
from server.services.scoring.rules import RulesService
from server.services.topics.directory import TopicDirectory
from server.services.topics.document_push import Documents
from server.services.topics.live_documents import LiveDocuments
from server.services.topics.outbox_relay import OutboxRelay


@dataclass(frozen=True, slots=True)
class LiveServices:
    backend: HubBackend
    publisher: Publisher
    relay: OutboxRelay
    """Publishes the live outbox after commits (scoring in this process hands it its entries)."""
    documents: LiveDocuments
    """The team and feed documents (the relay tells them what changed)."""
    directory: TopicDirectory
    """Who may read a topic, and its snapshot (the hub's handlers ask it)."""
    challenges: ChallengeScoreboards
    """The challenges' scoreboards (told by scoring and the lifecycle in this process what changed)."""
    boards: LiveBoards | None = None
    """On Redis: the leaderboards (scoring in this process records in them)."""
    embedded_boards: EmbeddedBoards | None = None
    """Embedded (no Redis): the live leaderboard topics (scoring in this process marks them changed)."""

    @property
    def redis(self) -> Redis | None:
        """The Redis client, on Redis (the readiness check pings it, login throttling shares it)."""
        return self.backend.redis


@contextlib.asynccontextmanager
async def open_live(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], rules: RulesService
) -> AsyncIterator[LiveServices]:
    push_ms = settings.leaderboard_push_ms
    async with open_backend(settings) as backend:
        streams = backend.streams
        publisher = Publisher(streams)
        memory: MemoryDocuments | None = None
        store: Documents
        if isinstance(streams, MemoryStreams):
            store = memory = MemoryDocuments(streams)
        else:
            store = DocumentStore(streams)
        outbox = Outbox(sessions)
        documents = LiveDocuments(store, sessions, rules.engine, push_ms=settings.team_push_ms)
        if isinstance(streams, MemoryStreams):
            # Embedded, this process scores: it reconciles (on Redis, the workers do, `tasks.worker`).
            documents.start()
        relay = OutboxRelay(outbox, streams, on_changed=documents.changed)
        relay.start()  # publishes what scoring here commits, and sweeps what any process left behind
        challenges = ChallengeScoreboards(store, sessions, push_ms=push_ms)
        try:
            if isinstance(streams, MemoryStreams):
                assert memory is not None
                # The embedded boards compute their documents from the database: with a directory of their
                # own, one without boards (the served one below takes its board snapshots from them).
                embedded = EmbeddedBoards(TopicDirectory(sessions, rules), memory, push_ms=push_ms)
                directory = TopicDirectory(
                    sessions,
                    rules,
                    embedded_boards=embedded,
                    challenges=challenges,
                    relay=relay,
                    documents=documents,
                )
                try:
                    yield LiveServices(
                        backend, publisher, relay, documents, directory, challenges, embedded_boards=embedded
                    )
                finally:
                    await embedded.aclose()
                return
            boards = await open_live_boards(settings, streams, sessions, rules)
            directory = TopicDirectory(
                sessions, rules, boards=boards, challenges=challenges, relay=relay, documents=documents
            )
            try:
                yield LiveServices(backend, publisher, relay, documents, directory, challenges, boards=boards)
            finally:
                await boards.aclose()
        finally:
            await relay.aclose()  # first: what it hands over after this, nobody would push
            await documents.aclose()
            await challenges.aclose()
