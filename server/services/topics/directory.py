"""The topic directory (PROTOCOL.md §8 and §9): which topics exist, who may read them, and their snapshots.

Documents are built by `server.services.topics.documents` from the rows `server.services.topics.rows`
reads, the same way the services that publish deltas build them, so that a delta computed from two of them
(`protocol.diff_ops`) turns a snapshot into the next one exactly.

Leaderboards: the snapshot is the document kept beside the topic's stream, read together with its
position: on Redis the Redis boards' top (`server.services.boards.live`), embedded the document
computed from the database as below (`TopicDirectory.compute_board`, kept and pushed live by
`server.services.boards.embedded`).

Consistency of a snapshot with its position.

- ``user:{id}``: the user's state row numbers the states of the document (``live_version``, one more per
  committed change, whose delta the outbox holds until published: `server.services.topics.outbox_relay`).
  The snapshot reads the user, the state with its version and the badges in one consistent read
  transaction (`persistence.db.begin_snapshot_read`), without a lock; then, the transaction closed, it
  asks the stream where that version stands (`Streams.position_at`). If the stream is behind (committed
  changes not published yet: their process is about to, or died), the snapshot publishes them from the
  outbox itself and asks again; if it has moved past and no longer tells where the version was, it reads
  again (a few times, then the topic is reported unavailable). So no lock is held across the network.
- ``team:{slug}`` and ``activity:global``: documents kept beside their streams and pushed by
  compare-and-set (`server.services.topics.live_documents`): the snapshot is the stored document at its
  position, consistent by construction, with no lock either.

A directory built without a relay or live documents (a tool's, or the one `EmbeddedBoards` computes
board documents with) computes these documents from the database and reads the head after: no deltas
are guaranteed to follow from that position, so such a directory serves no screens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, RuleSet
from game.periods import period_bounds
from persistence.db import begin_snapshot_read
from persistence.leaderboards import Period, cast_period
from persistence.models import Team, User, UserStateRow, utcnow
from persistence.scoring import load_state
from protocol import ErrorCode, parse_topic
from server.hub.streams import Missing, Position
from server.services.challenges.scoreboards import UnknownChallenge
from server.services.errors import Unavailable
from server.services.scoring.rules import RulesService
from server.services.topics.activity import activity_document
from server.services.topics.documents import leaderboard_document, team_document, user_document
from server.services.topics.live_documents import LiveDocuments, UnknownTeam
from server.services.topics.outbox_relay import OutboxRelay
from server.services.topics.refused import TopicRefused
from server.services.topics.refused import unknown_topic as _unknown
from server.services.topics.rows import earned_badges, find_team, find_user, team_members, top_scores

if TYPE_CHECKING:
    from server.services.boards.embedded import EmbeddedBoards
    from server.services.boards.live import LiveBoards
    from server.services.challenges.scoreboards import ChallengeScoreboards

Head = Callable[[], Awaitable[Position]]
Clock = Callable[[], datetime]

SNAPSHOT_READS = 5
"""Reads of a user's document before its snapshot gives up: each further one means that the stream
moved past the version just read and forgot where it was, i.e. several changes committed meanwhile."""


class TopicDirectory:
    """Which topics exist, who may read them, and their snapshots (presence topics are the hub's own)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: RulesService,
        *,
        clock: Clock = utcnow,
        boards: LiveBoards | None = None,
        embedded_boards: EmbeddedBoards | None = None,
        challenges: ChallengeScoreboards | None = None,
        relay: OutboxRelay | None = None,
        documents: LiveDocuments | None = None,
    ) -> None:
        """Without ``challenges`` there are no challenge topics; without ``boards`` or ``embedded_boards``
        a leaderboard snapshot is computed from the database and no deltas follow (what `EmbeddedBoards`
        itself computes its documents with: a directory of its own, built without boards). ``relay``: the
        process's outbox relay, on the streams the user topics are published to (a user snapshot asks
        them where its version stands); a directory without one serves user snapshots at ``head``, with
        no guarantee that deltas follow from there (for tools that read documents, not screens).
        ``documents``: the team and feed documents kept beside their streams (without: computed, at
        ``head``, the same way)."""
        self.sessions = sessions
        self.relay = relay
        self.documents = documents
        self.rules = rules
        self.clock = clock
        self.boards = boards
        """On Redis: where leaderboard snapshots come from (and the Redis boards the reads page through)."""
        self.embedded_boards = embedded_boards
        """Embedded (no Redis): the live leaderboard topics, their documents computed from the database."""
        self.challenges = challenges
        """The challenges' scoreboards (``challenge:{id}`` topics), when the hub serves them."""

    async def authorize(self, user_id: str, topic: str) -> None:
        """Whether ``user_id`` may subscribe to ``topic`` (which matches the grammar); raises TopicRefused."""
        parsed = parse_topic(topic)
        kind, parts = parsed.kind, parsed.parts
        if kind == "presence":
            raise ValueError(f"presence topics are the hub's own, not the directory's: {topic}")
        if kind == "challenge":
            # Spectators too: anyone signed in may watch a challenge (only members' events count).
            if self.challenges is None or not await self.challenges.exists(parts[0]):
                raise _unknown(f"no challenge {parts[0]!r}")
            return
        if kind == "leaderboard":
            await self.board_rules(parts[0])
            return
        if kind == "activity":
            return  # any authenticated user (§8)
        if kind == "user":
            if parts[0] == user_id:
                return  # one's own: the session's authentication has just found the account
            # Anyone else's, whether or not that user exists: the same answer, without a look, so that
            # the reply says nothing about which ids are accounts (PROTOCOL.md §8).
            raise TopicRefused(ErrorCode.FORBIDDEN_TOPIC, "user topics are private")
        async with self.sessions() as session:
            await _team(session, parts[0])

    async def snapshot(self, topic: str, head: Head) -> tuple[dict[str, Any], Position]:
        """The topic's document and the stream position it is the state at (``head`` reads the stream's
        current position, for the documents computed here without a store that tells their position)."""
        parsed = parse_topic(topic)
        kind, parts = parsed.kind, parsed.parts
        if kind == "presence":
            raise ValueError(f"presence topics are the hub's own, not the directory's: {topic}")
        if kind == "challenge":
            if self.challenges is None:
                raise _unknown(f"no challenge {parts[0]!r}")
            try:
                return await self.challenges.snapshot(parts[0])
            except UnknownChallenge:
                raise _unknown(f"no challenge {parts[0]!r}") from None
        if kind == "leaderboard":
            board, period = parts
            if self.boards is not None:
                await self.board_rules(board)
                return await self.boards.snapshot(board, cast_period(period))
            if self.embedded_boards is not None:
                return await self.embedded_boards.snapshot(board, cast_period(period))
            return await self._leaderboard(board, cast_period(period), head)
        if kind in ("activity", "team"):
            if self.documents is None:
                return await self._computed(topic, head)
            try:
                return await self.documents.snapshot(topic)
            except UnknownTeam:
                raise _unknown(f"no team {parts[0]!r}") from None
        return await self._user_snapshot(await self.rules.engine(), parts[0], head, self.clock())

    # -- parts -------------------------------------------------------------------------------------

    async def _user_snapshot(
        self, engine: Engine, user_id: str, head: Head, now: datetime
    ) -> tuple[dict[str, Any], Position]:
        topic = f"user:{user_id}"
        for _ in range(SNAPSHOT_READS):
            document, version = await self._user_document(engine, user_id, now)
            if self.relay is None:
                return document, await head()
            streams = self.relay.streams
            at = await streams.position_at(topic, version)
            if isinstance(at, Missing):
                # Committed changes up to this version are not published yet: publish them from the outbox.
                await self.relay.bring_up(topic, at.last)
                at = await streams.position_at(topic, version)
            if isinstance(at, Position):
                return document, at
            # The stream moved past this version and no longer says where it was: read a fresher state.
        raise Unavailable(f"{topic}: its state changed faster than it could be read", retry_after_seconds=1)

    async def _user_document(self, engine: Engine, user_id: str, now: datetime) -> tuple[dict[str, Any], int]:
        """The user's document and the live version it is the state at, read from one snapshot of the
        database, without a lock (a user never scored: version 0)."""
        async with self.sessions() as session, session.begin():
            await begin_snapshot_read(session)
            user = await _user(session, user_id)
            row = await session.get(UserStateRow, user.id)
            state = load_state(engine, user_id, user.timezone, row.state if row else {})
            badges = await earned_badges(session, user.id)
            version = row.rule_version if row else engine.version
            document = user_document(engine, user, state, version, badges, now)
            return document, row.live_version if row else 0

    async def _computed(self, topic: str, head: Head) -> tuple[dict[str, Any], Position]:
        """A team's or the feed's document as the database has it, then the head (no live documents)."""
        engine = await self.rules.engine()  # first: not on a second connection inside the transaction
        async with self.sessions() as session, session.begin():
            await begin_snapshot_read(session)
            if topic == "activity:global":
                document = await activity_document(session)
            else:
                team = await _team(session, topic.removeprefix("team:"))
                members = await team_members(session, engine, [team.id], self.clock())
                document = team_document(engine, team, members[team.id])
        return document, await head()

    async def _leaderboard(self, board: str, period: Period, head: Head) -> tuple[dict[str, Any], Position]:
        await self.board_rules(board)  # a refused topic's head is never read
        # Without a live-boards service nothing publishes board deltas: the head only names the state.
        position = await head()
        return await self.compute_board(board, period), position

    async def compute_board(self, board: str, period: Period) -> dict[str, Any]:
        """The board's document as the database has it now (the current period by ``clock``): the
        embedded snapshot, and what `EmbeddedBoards` diffs its deltas against."""
        rules = await self.board_rules(board)
        bounds = period_bounds(period, self.clock(), rules.week_starts)
        async with self.sessions() as session:
            ranked, scores = await top_scores(session, board, bounds)
        return leaderboard_document(board, period, bounds, ranked, scores)

    async def board_rules(self, board: str) -> RuleSet:
        """The current rules, if ``board`` is one of their boards (``xp`` or a metric); else TopicRefused."""
        rules = await self.rules.rules()
        if board != "xp" and board not in rules.metrics:
            raise _unknown(f"no leaderboard {board!r}: boards are xp and the metrics of the rules")
        return rules


async def _user(session: AsyncSession, user_id: str) -> User:
    user = await find_user(session, user_id)
    if user is None:
        raise _unknown("no such user")
    return user


async def _team(session: AsyncSession, slug: str) -> Team:
    team = await find_team(session, slug)
    if team is None:
        raise _unknown(f"no team {slug!r}")
    return team


__all__ = ["Clock", "Head", "TopicDirectory"]
