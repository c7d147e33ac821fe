"""Leaderboards on Redis, live: recording each scored batch, and the ``leaderboard:{board}:{period}`` topics.

Only with Redis (``GAMIF_REDIS_URL``). Embedded mode has no `LiveBoards`: nothing is recorded, and the
topic's documents are computed from the database, live too (`server.services.boards.embedded`).

Recording
    After a scoring transaction commits, `LiveBoards.record` turns it into `Award`s exactly as
    `Leaderboards.rebuild` reads them from the database (one per new ledger line of non-zero XP, at the
    batch's ``received_at``, the ledger's ``created_at``; one per accepted metric event at its
    ``occurred_at``; teams from the membership history at that time) and records them once. A failed
    record is not retried (it is not idempotent): it marks the boards dirty, and a repair rebuilds them
    from the database by itself once Redis answers (`server.services.boards.repair`).
    What the record returns also tells who climbed into a top bracket (`server.services.boards.rank_notices`).

Documents and their position (PROTOCOL.md §9, §10)
    A board topic's document (the top 100 of `Leaderboards.top`, names from the database) is kept in
    Redis beside its stream (`server.hub.documents`): the stored document is the state at the stream's
    head, and every delta is published together with the document it leads to, by a compare-and-set on
    the topic's position. A snapshot is that stored document and position, read in one script, so it is
    consistent with the stream by construction (no lock is needed). Only when there is none yet (or its
    period has ended) does a snapshot compute the board and publish it first.

Live deltas, coalesced
    `record` only marks the topics whose board and current period changed. Per topic, at most once per
    ``push_ms`` (``GAMIF_LEADERBOARD_PUSH_MS``), the process reads the top rows again and publishes one
    delta from the last published document to the new one (`board_ops`: `protocol.row_ops` on ``rows``,
    plus ``set`` of ``ranked`` and of the period fields), so a thousand events a second give each
    watcher at most 1000 / ``push_ms`` frames a second per topic. The process keeps the last document it
    published (and its position) to diff against; when another process published since, the
    compare-and-set answers with the current document, and the board is read and diffed again. The
    interval is also checked in Redis against the topic's last delta, so several workers together still
    publish a topic at most about once per interval.

Display names are cached per process (a renamed user shows the new name once the process restarts).
Unlike the database snapshot, the Redis boards also list disabled users, and break ties by who reached
the score first (see `persistence.leaderboards`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import XpAwarded
from persistence.leaderboards import (
    PERIODS,
    XP_BOARD,
    Award,
    BoardChange,
    Leaderboards,
    Page,
    TeamHistory,
)
from persistence.models import User
from persistence.scoring import ScoreResult, Submission
from protocol import leaderboard_topic, row_ops
from server.config import Settings
from server.hub.documents import DocumentStore, Stored
from server.hub.publish import Publisher, TopicChange
from server.hub.redis import RedisStreams
from server.hub.streams import Position
from server.services.boards.rank_notices import RankNotifier
from server.services.boards.repair import FIRST_DELAY_S, BoardsRepair
from server.services.scoring.rules import RulesService
from server.services.topics.coalesce import Coalescer
from server.services.topics.document_push import LastPushed
from server.services.topics.documents import LEADERBOARD_SIZE, ms, ranked_board_document

log = logging.getLogger("gamif.leaderboards")

_NAME_CACHE_SIZE = 100_000


def board_document(page: Page, names: Mapping[str, str], size: int = LEADERBOARD_SIZE) -> dict[str, Any]:
    """The §9 document of a page of `Leaderboards.top` (rows already in rank order)."""
    rows = [
        {"member": row.member, "display_name": names.get(row.member, row.member), "score": row.score,
         "rank": row.rank}
        for row in page.rows[:size]
    ]  # fmt: skip
    return ranked_board_document(
        page.board, page.span.period, (page.span.start, page.span.end), page.ranked, rows, size
    )


def board_ops(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[list[Any]]:
    """The delta from one board document to the next: the rows' ops (§11.6), then a ``set`` of each other
    field that changed (``ranked``, the period's bounds). Without a ``before``, a delta that sets it all."""
    if before is None:
        return [["set", [], dict(after)]]
    ops = [op.to_wire() for op in row_ops(("rows",), "member", before["rows"], after["rows"])]
    ops += [
        ["set", [key], value] for key, value in after.items() if key != "rows" and before.get(key) != value
    ]
    return ops


def awards_of(
    submissions: Sequence[Submission], result: ScoreResult, received_at: datetime, history: TeamHistory
) -> list[Award]:
    """What a committed batch adds to the boards, as `Leaderboards.rebuild` reads it from the database:
    the ledger lines the scorer wrote (the engine's non-zero `XpAwarded` effects, stamped ``received_at``)
    and the accepted events."""
    awards = []
    for user_id, outcome in sorted(result.outcomes.items()):
        for effect in outcome.effects:
            if isinstance(effect, XpAwarded) and effect.amount:
                teams = history.teams_at(user_id, received_at)
                awards.append(Award(user_id, XP_BOARD, effect.amount, received_at, teams))
    for submission, status in zip(submissions, result.statuses, strict=True):
        if status.status == "accepted":
            event = submission.event
            teams = history.teams_at(event.user_id, event.occurred_at)
            awards.append(Award(event.user_id, event.metric, event.value, event.occurred_at, teams))
    return awards


class LiveBoards:
    """One per process on Redis: records batches, pushes coalesced deltas, serves snapshots."""

    def __init__(
        self,
        leaderboards: Leaderboards,
        store: DocumentStore,
        sessions: async_sessionmaker[AsyncSession],
        *,
        push_ms: int = 250,
        ranks: RankNotifier | None = None,
        boards: Callable[[], Awaitable[Sequence[str]]] | None = None,
        repair_delay_s: float = FIRST_DELAY_S,
    ) -> None:
        self.leaderboards = leaderboards
        self.ranks = ranks
        """Who tells players of their climbs (`server.services.boards.rank_notices`), if anyone."""
        self.store = store
        self.sessions = sessions
        self.push_ms = push_ms
        self._names: dict[str, str] = {}
        self._last = LastPushed(store)
        self._pushes = Coalescer(lambda topic: self.push(topic, min_interval_ms=push_ms), push_ms, log)
        self._boards = boards
        """The board names (``xp`` and the rules' metrics): the topics a repair refreshes."""
        self.repair = BoardsRepair(leaderboards, sessions, self._refresh_all, first_delay_s=repair_delay_s)
        self._dirty_checked = False

    # -- recording ----------------------------------------------------------------------------------

    async def record(
        self, submissions: Sequence[Submission], result: ScoreResult, received_at: datetime
    ) -> None:
        """Record a committed batch once and schedule the pushes; never raises (the batch has committed):
        a failure marks the boards dirty for the repair."""
        if not result.accepted:
            return
        try:
            async with self.sessions() as session:
                users = {s.event.user_id for s in submissions}
                history = await TeamHistory.load(session, users)
            awards = awards_of(submissions, result, received_at, history)
            changes = await self.leaderboards.record(awards)
        except Exception as error:
            self.repair.failed(repr(error))
            return
        if not self._dirty_checked:
            # Once per process: a repair that a stopped process left unfinished is taken over.
            self._dirty_checked = True
            try:
                if await self.leaderboards.dirty() is not None:
                    self.repair.resume()
            except Exception:
                self._dirty_checked = False  # the next record asks again
        self.mark(changes)
        if self.ranks is not None:
            await self.ranks.notify(changes)

    def mark(self, changes: Iterable[BoardChange]) -> None:
        """Schedule a push of the user boards whose current period the changes touched."""
        for change in changes:
            if change.scope != "user":
                continue  # team boards have no topic yet
            if change.span != self.leaderboards.span(change.span.period):
                continue  # a late award in a past period: the topic shows the current one
            self.touch(leaderboard_topic(change.board, change.span.period))

    def touch(self, topic: str) -> None:
        self._pushes.touch(topic)

    async def settled(self) -> None:
        """Until every change marked so far has been pushed, each topic at its interval."""
        await self._pushes.settled()

    async def aclose(self) -> None:
        """Push what is pending now (a worker stopping), then stop (a pending repair is left to the
        next process that records: the dirty mark is in Redis, if Redis could be told)."""
        await self.repair.aclose()
        await self._pushes.aclose(self.push)

    async def _refresh_all(self) -> int:
        """After a repair: push every board topic that has a document."""
        names = ["xp"] if self._boards is None else list(await self._boards())
        return await self.refresh(board_topics(names))

    # -- documents ----------------------------------------------------------------------------------

    async def document(self, board: str, period: str) -> dict[str, Any]:
        """The board's current document, from Redis (names from the database)."""
        page = await self.leaderboards.top(board, period, limit=LEADERBOARD_SIZE)  # type: ignore[arg-type]
        return board_document(page, await self._display_names(row.member for row in page.rows))

    async def push(self, topic: str, *, min_interval_ms: int = 0) -> Stored:
        """Publish the delta from the topic's stored document to the board as it is now (nothing if they
        are equal); returns the document and position after it."""
        _, board, period = topic.split(":")
        return await self._last.push(
            topic,
            lambda _stored: self.document(board, period),
            lambda before, after: TopicChange(topic, board_ops(before, after)),
            min_interval_ms=min_interval_ms,
        )

    async def snapshot(self, board: str, period: str) -> tuple[dict[str, Any], Position]:
        """The document at the stream's head (see the module docstring)."""
        topic = leaderboard_topic(board, period)
        stored = await self.store.read(topic)
        span = self.leaderboards.span(period)  # type: ignore[arg-type]
        start_ms = 0 if span.start is None else ms(span.start)
        if stored.document is None or stored.document["period_start_ms"] != start_ms:
            # From what the store holds now: this process's memory of the topic may be of an epoch since
            # restarted (a Redis restart, `gamif restore`), and a snapshot must stand at the current one.
            self._last.last[topic] = stored
            stored = await self.push(topic)
        assert stored.document is not None
        return stored.document, stored.position

    async def refresh(self, topics: Iterable[str]) -> int:
        """Push the topics that have a document now (after a rebuild); how many changed."""
        changed = 0
        for topic in topics:
            stored = await self.store.read(topic)
            if stored.document is None:
                continue  # nobody has looked at it in this epoch: its first snapshot will read it
            self._last.last[topic] = stored
            if (await self.push(topic)).position != stored.position:
                changed += 1
        return changed

    async def _display_names(self, members: Iterable[str]) -> dict[str, str]:
        wanted = list(members)
        missing = {m for m in wanted if m not in self._names}
        if missing:
            ids = [uuid.UUID(m) for m in missing]
            async with self.sessions() as session:
                rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
                found = {str(user_id): name for user_id, name in rows}
            if len(self._names) + len(found) > _NAME_CACHE_SIZE:
                self._names.clear()  # crude but bounded
            self._names.update(found)
        return {m: self._names.get(m, m) for m in wanted}


def board_topics(boards: Iterable[str]) -> list[str]:
    """Every topic of these boards (all periods)."""
    return [leaderboard_topic(board, period) for board in boards for period in PERIODS]


async def open_live_boards(
    settings: Settings, streams: RedisStreams, sessions: async_sessionmaker[AsyncSession], rules: RulesService
) -> LiveBoards:
    """The process's `LiveBoards` on the hub's Redis (periods in UTC, weeks as the rules start them, as the
    database snapshot counts them)."""
    week_starts = (await rules.rules()).week_starts
    leaderboards = Leaderboards(streams.redis, prefix=settings.redis_prefix, week_starts=week_starts)
    ranks = RankNotifier(sessions, Publisher(streams), leaderboards.span)

    async def boards() -> list[str]:
        return ["xp", *(await rules.rules()).metrics]

    return LiveBoards(
        leaderboards,
        DocumentStore(streams),
        sessions,
        push_ms=settings.leaderboard_push_ms,
        ranks=ranks,
        boards=boards,
    )


__all__ = ["LiveBoards", "awards_of", "board_document", "board_ops", "board_topics", "open_live_boards"]
