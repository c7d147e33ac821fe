"""Leaderboards live in embedded mode (no Redis): the ``leaderboard:{board}:{period}`` topics.

Embedded there are no Redis boards to record in: a board's document is computed from the database
(`TopicDirectory.compute_board`: `board_totals`, the top 100, competition ranks, ties by member id,
display names from the users), the same computation whatever asks for it.

Documents and their position (PROTOCOL.md §9, §10, §12)
    As for the challenge scoreboards (`server.services.challenges.scoreboards`), a board topic's document is
    kept beside its stream (`MemoryDocuments`): the stored document is the state at the stream's head,
    and every delta is published together with the document it leads to, by a compare-and-set on the
    topic's position. A snapshot is that stored document and position, so the deltas that follow it
    apply to it exactly. Only when there is none yet (the topic's first subscribe, or the stream forgot
    the topic) or its period has ended does a snapshot compute the board, publishing the change first.

Live deltas, coalesced
    After a scoring batch commits, `record` marks the board topics it may have changed (``xp`` when it
    awarded XP, and the metrics of its accepted events; the periods containing the award's time) among
    those someone has subscribed to: a topic nobody looked at is never computed nor published (its first
    subscribe computes it). Per topic, at most once per ``push_ms`` (``GAMIF_LEADERBOARD_PUSH_MS``), the
    board is computed again and the delta from the stored document to it (`board_ops`: row ops, plus
    ``set`` of ``ranked`` and of the period's fields) is published when they differ; a thousand events a
    second cost each board one query and its watchers one frame per interval. A computation also picks up
    what scoring does not announce (a renamed or disabled user) at the board's next push.

Memory: one stored document per board topic subscribed to (the boards are ``xp`` and the rules'
metrics, four periods each), forgotten with the topic's stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from game import RuleSet, XpAwarded
from game.periods import period_bounds
from persistence.leaderboards import PERIODS, Period, cast_period
from persistence.scoring import ScoreResult, Submission
from protocol import leaderboard_topic
from server.hub.documents import Stored
from server.hub.publish import TopicChange
from server.hub.streams import Position
from server.services.boards.live import board_ops
from server.services.scoring.rules import RulesService
from server.services.topics.coalesce import Coalescer
from server.services.topics.document_push import Documents, push_document
from server.services.topics.documents import ms
from server.services.topics.refused import TopicRefused

log = logging.getLogger("gamif.leaderboards")


def touched_boards(
    submissions: Sequence[Submission], result: ScoreResult, received_at: datetime
) -> dict[str, list[datetime]]:
    """The boards a committed batch changed, each with when its awards count (`board_totals`): XP at
    ``received_at`` (the ledger's time, when any XP was awarded), a metric at its accepted events'
    ``occurred_at``."""
    boards: dict[str, list[datetime]] = {}
    if any(
        isinstance(effect, XpAwarded) and effect.amount
        for outcome in result.outcomes.values()
        for effect in outcome.effects
    ):
        boards["xp"] = [received_at]
    for submission, status in zip(submissions, result.statuses, strict=True):
        if status.status == "accepted":
            boards.setdefault(submission.event.metric, []).append(submission.event.occurred_at)
    return boards


class BoardSource(Protocol):
    """What the embedded boards use of the topic directory (`server.services.topics.directory.TopicDirectory`
    is one): the rules and the clock, a board's check against the rules, and its document computed from
    the database. Named here, by what this module uses, because the directory holds these boards: the
    directory imports this module, and this module does not import the directory."""

    @property
    def rules(self) -> RulesService: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    async def board_rules(self, board: str) -> RuleSet:
        """The current rules, if ``board`` is one of their boards; else TopicRefused."""
        ...

    async def compute_board(self, board: str, period: Period) -> dict[str, Any]:
        """The board's document as the database has it now (the current period by ``clock``)."""
        ...


class EmbeddedBoards:
    """One per embedded process: serves the board topics' snapshots and pushes their coalesced deltas."""

    def __init__(self, directory: BoardSource, store: Documents, *, push_ms: int = 250) -> None:
        self.directory = directory
        self.store = store
        self.push_ms = push_ms
        self._watched: set[str] = set()
        """The topics subscribed to (validated boards only, so bounded by the rules' boards × periods)."""
        self._pushes = Coalescer(
            lambda topic: self.push(topic, min_interval_ms=push_ms), push_ms, log, gone=(TopicRefused,)
        )

    # -- what changed -------------------------------------------------------------------------------

    async def record(
        self, submissions: Sequence[Submission], result: ScoreResult, received_at: datetime
    ) -> None:
        """`ScoringStep`, after the commit: schedule a push of the watched topics the batch changed; never
        raises (the batch has committed)."""
        if not result.accepted or not self._watched:
            return
        try:
            week_starts = (await self.directory.rules.rules()).week_starts
            now = self.directory.clock()
            for board, moments in touched_boards(submissions, result, received_at).items():
                for period in PERIODS:
                    topic = leaderboard_topic(board, period)
                    if topic not in self._watched:
                        continue
                    start, end = period_bounds(cast_period(period), now, week_starts)
                    if start is None or end is None or any(start <= moment < end for moment in moments):
                        self._pushes.touch(topic)  # else a late event, in a period the topic no longer shows
        except Exception:
            log.exception("leaderboards: could not schedule the pushes of a batch")

    def touch(self, topic: str) -> None:
        """Schedule a push of ``topic`` if anyone subscribed to it (from a running event loop)."""
        if topic in self._watched:
            self._pushes.touch(topic)

    async def aclose(self) -> None:
        """Push what is pending now (a process stopping), then stop."""
        await self._pushes.aclose(self.push)

    # -- documents ----------------------------------------------------------------------------------

    async def push(self, topic: str, *, min_interval_ms: int = 0) -> Stored:
        """Publish the delta from the topic's stored document to the board as the database has it now
        (nothing if they are equal, or if no document is stored: nobody subscribed in this epoch)."""
        stored = await self.store.read(topic)
        if stored.document is None:
            self._watched.discard(topic)  # the stream forgot it: its next subscribe computes it again
            return stored
        return await self._publish(topic, stored, min_interval_ms=min_interval_ms)

    async def _publish(self, topic: str, stored: Stored, *, min_interval_ms: int = 0) -> Stored:
        _, board, period = topic.split(":")
        return await push_document(
            self.store,
            topic,
            stored,
            lambda _stored: self.directory.compute_board(board, cast_period(period)),
            lambda before, after: TopicChange(topic, board_ops(before, after)),
            min_interval_ms=min_interval_ms,
        )

    async def snapshot(self, board: str, period: Period) -> tuple[dict[str, Any], Position]:
        """The document at the stream's head (see the module docstring); TopicRefused for an unknown board."""
        rules = await self.directory.board_rules(board)
        topic = leaderboard_topic(board, period)
        # Watched before anything is read: a batch committing from now on schedules a push.
        self._watched.add(topic)
        stored = await self.store.read(topic)
        start, _ = period_bounds(period, self.directory.clock(), rules.week_starts)
        start_ms = 0 if start is None else ms(start)
        if stored.document is None or stored.document["period_start_ms"] != start_ms:
            stored = await self._publish(topic, stored)
        assert stored.document is not None
        return stored.document, stored.position


__all__ = ["BoardSource", "EmbeddedBoards", "touched_boards"]
