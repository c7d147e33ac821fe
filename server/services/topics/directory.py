"""The topic directory (PROTOCOL.md §8 and §9): which topics exist, who may read them, and their snapshots.

Documents are built by `server.services.topics.documents` from the rows `server.services.topics.rows`
reads, the same way the services that publish deltas build them, so that a delta computed from two of them
(`protocol.diff_ops`) turns a snapshot into the next one exactly.

Leaderboards: the snapshot is the document kept beside the topic's stream, read together with its
position: on Redis the Redis boards' top (`server.services.boards.live`), embedded the document
computed from the database as below (`TopicDirectory.compute_board`, kept and pushed live by
`server.services.boards.embedded`).

Consistency of a snapshot with its position: a writer publishes a topic's delta while it still holds the
row locks of what the delta describes, and commits after. `TopicDirectory.snapshot` takes those rows with
a shared lock first (PostgreSQL: ``FOR SHARE``; SQLite: the database write lock, ``BEGIN IMMEDIATE``),
then reads the stream's head, then the rest: a writer is either done (committed, delta published) or has
not published yet, so the document is exactly the state at the position returned. The rows: a user's
state row for ``user:{id}``; the team's row for ``team:{slug}`` (its writers lock it after their users'
rows: users, then teams, each in id order, so that they cannot deadlock; `server.services.topics.locks`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, RuleSet
from game.periods import period_bounds
from persistence.db import begin_write
from persistence.leaderboards import Period, cast_period
from persistence.models import Team, User, utcnow
from persistence.scoring import load_state
from protocol import ErrorCode, parse_topic
from server.hub.streams import Position
from server.services.challenges.scoreboards import UnknownChallenge
from server.services.scoring.rules import RulesService
from server.services.topics.activity import activity_document, lock_feed
from server.services.topics.documents import leaderboard_document, team_document, user_document
from server.services.topics.locks import lock_states, lock_teams
from server.services.topics.refused import TopicRefused
from server.services.topics.refused import unknown_topic as _unknown
from server.services.topics.rows import earned_badges, find_team, find_user, team_members, top_scores

if TYPE_CHECKING:
    from server.services.boards.embedded import EmbeddedBoards
    from server.services.boards.live import LiveBoards
    from server.services.challenges.scoreboards import ChallengeScoreboards

Head = Callable[[], Awaitable[Position]]
Clock = Callable[[], datetime]


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
    ) -> None:
        """Without ``challenges`` there are no challenge topics; without ``boards`` or ``embedded_boards``
        a leaderboard snapshot is computed from the database and no deltas follow (what `EmbeddedBoards`
        itself computes its documents with: a directory of its own, built without boards)."""
        self.sessions = sessions
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
        current position; it is called once the document's rows are locked)."""
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
        if kind == "activity":
            return await self._activity_snapshot(head)
        engine = await self.rules.engine()
        now = self.clock()
        async with self.sessions() as session, session.begin():
            await begin_write(session)  # SQLite: BEGIN IMMEDIATE, the write lock (no writer mid-commit)
            if kind == "team":
                return await self._team_snapshot(session, engine, parts[0], head, now)
            return await self._user_snapshot(session, engine, parts[0], head, now)

    # -- parts -------------------------------------------------------------------------------------

    async def _user_snapshot(
        self, session: AsyncSession, engine: Engine, user_id: str, head: Head, now: datetime
    ) -> tuple[dict[str, Any], Position]:
        user = await _user(session, user_id)
        states = await lock_states(session, [user.id], engine.version)
        position = await head()  # under the lock: no writer of this user is between publish and commit
        row = states.get(user.id)
        state = load_state(engine, user_id, user.timezone, row.state if row else {})
        badges = await earned_badges(session, user.id)
        version = row.rule_version if row else engine.version
        return user_document(engine, user, state, version, badges, now), position

    async def _team_snapshot(
        self, session: AsyncSession, engine: Engine, slug: str, head: Head, now: datetime
    ) -> tuple[dict[str, Any], Position]:
        team = await _team(session, slug)
        # Every writer of a team's document (scoring a member, a membership change) publishes while it holds
        # the team's row FOR UPDATE: under FOR SHARE none is between publish and commit, so the members and
        # their XP read next are the state at the head.
        (team,) = await lock_teams(session, [team.id], read=True)
        position = await head()
        members = await team_members(session, engine, [team.id], now)
        return team_document(engine, team, members[team.id]), position

    async def _activity_snapshot(self, head: Head) -> tuple[dict[str, Any], Position]:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            # Writers publish the feed's delta under its lock (exclusive) and commit before releasing it.
            await lock_feed(session, shared=True)
            position = await head()
            return await activity_document(session), position

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
