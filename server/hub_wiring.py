"""The live side of the application, assembled from the settings: the hub's backend (`server.hub.wiring`),
the services that keep its topics' documents (leaderboards, challenge scoreboards), the publisher, and the
topic directory over them. The app builds the scoring queue on these, then the hub with its handlers
(`server.hub_handlers`), so that everything is given to each part when it is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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


@dataclass(frozen=True, slots=True)
class LiveServices:
    backend: HubBackend
    publisher: Publisher
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
        if isinstance(streams, MemoryStreams):
            documents = MemoryDocuments(streams)
            challenges = ChallengeScoreboards(documents, sessions, push_ms=push_ms)
            # The embedded boards compute their documents from the database: with a directory of their
            # own, one without boards (the served one below takes its board snapshots from them).
            embedded = EmbeddedBoards(TopicDirectory(sessions, rules), documents, push_ms=push_ms)
            directory = TopicDirectory(sessions, rules, embedded_boards=embedded, challenges=challenges)
            try:
                yield LiveServices(backend, publisher, directory, challenges, embedded_boards=embedded)
            finally:
                await embedded.aclose()
                await challenges.aclose()
            return
        boards = await open_live_boards(settings, streams, sessions, rules)
        challenges = ChallengeScoreboards(DocumentStore(streams), sessions, push_ms=push_ms)
        directory = TopicDirectory(sessions, rules, boards=boards, challenges=challenges)
        try:
            yield LiveServices(backend, publisher, directory, challenges, boards=boards)
        finally:
            await boards.aclose()
            await challenges.aclose()
