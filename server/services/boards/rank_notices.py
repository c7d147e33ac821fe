"""Rank-change notifications (PROTOCOL.md §13 ``rank_changed``): telling a player they climbed into the
top 10, the top 3 or to first place of the XP leaderboard of the week or of all time.

Decided from what recording a committed batch on the Redis boards returns (`BoardChange`: the rank
before and after the batch), so only with Redis. Kept as a notification (delivered when the player next
connects, until marked read) and sent live as an event on their ``user:{id}`` topic (an event-only
change: the user document does not hold ranks), in a small transaction of its own after the scoring
commit.

Not every swing: a notice is due when the rank moves into a better bracket (10, 3, 1) than it was in,
and at most once per bracket, or a better one, per board period (a week; all time: ever) for a player.
So a player hovering around 10th place hears of it once a week, and one who climbs to first hears at
most three times. Two workers recording the same player at the same moment might both send one: rare,
and harmless.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import begin_write
from persistence.leaderboards import XP_BOARD, BoardChange, Period, PeriodSpan
from persistence.models import Notification, utcnow
from protocol import user_topic
from server.hub.publish import Publisher, TopicChange
from server.services.people.notifications import insert_notifications

log = logging.getLogger("gamif.ranks")

RANK_PERIODS: tuple[Period, ...] = ("weekly", "all_time")
"""The XP boards whose climbs are told: the week's race and the hall of fame (a day is too short to
matter, a month is between the two)."""
BRACKETS = (1, 3, 10)
"""The ranks worth telling, best first."""

Span = Callable[[Period], PeriodSpan]


def bracket(rank: int | None) -> int | None:
    """The best bracket ``rank`` is in (1, 3 or 10), or None."""
    return None if rank is None else next((top for top in BRACKETS if rank <= top), None)


@dataclass(frozen=True, slots=True)
class RankNotice:
    user_id: str
    span: PeriodSpan
    data: dict[str, Any]
    """The event's data: ``board``, ``period``, ``rank``, ``previous_rank`` (if it was ranked), ``score``,
    ``top``."""

    @property
    def top(self) -> int:
        return int(self.data["top"])


def rank_notices(changes: Iterable[BoardChange], current: Span) -> list[RankNotice]:
    """The climbs into a better bracket on the XP user boards of `RANK_PERIODS`, current periods only."""
    notices = []
    for change in changes:
        period = change.span.period
        if change.scope != "user" or change.board != XP_BOARD or period not in RANK_PERIODS:
            continue
        if change.span != current(period):
            continue  # a late award in a past period
        top, before = bracket(change.rank), bracket(change.previous_rank)
        if top is None or (before is not None and before <= top):
            continue
        data: dict[str, Any] = {"board": change.board, "period": period, "rank": change.rank}
        if change.previous_rank is not None:
            data["previous_rank"] = change.previous_rank
        data["score"] = change.score
        data["top"] = top
        notices.append(RankNotice(change.member, change.span, data))
    return sorted(notices, key=lambda n: (n.user_id, RANK_PERIODS.index(n.span.period)))


class RankNotifier:
    """Stores and sends the rank notices of recorded batches (one per process, beside `LiveBoards`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        current: Span,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.publisher = publisher
        self.current = current
        self.clock = clock

    async def notify(self, changes: Sequence[BoardChange]) -> list[RankNotice]:
        """Store and send what ``changes`` call for; the notices sent. Never raises (the batch has
        committed, and the boards are recorded): a failure is logged."""
        try:
            notices = rank_notices(changes, self.current)
            if not notices:
                return []
            async with self.sessions() as session, session.begin():
                await begin_write(session)  # reads, then writes: SQLite's write lock first
                notices = await _not_told(session, notices)
                rows = [
                    {"user_id": uuid.UUID(n.user_id), "kind": "rank_changed", "data": n.data} for n in notices
                ]
                await insert_notifications(session, rows, self.clock())
            if notices:
                await self.publisher.publish(
                    TopicChange(user_topic(n.user_id), (), [("rank_changed", n.data)]) for n in notices
                )
        except Exception:
            log.exception("ranks: could not notify the rank changes of a batch")
            return []
        return notices


async def _not_told(session: AsyncSession, notices: list[RankNotice]) -> list[RankNotice]:
    """The notices whose player has not been told of this bracket or a better one in the same period."""
    told: dict[tuple[str, str], list[tuple[datetime, int]]] = {}
    rows = await session.execute(
        select(Notification.user_id, Notification.data, Notification.created_at).where(
            Notification.kind == "rank_changed",
            Notification.user_id.in_(list({uuid.UUID(n.user_id) for n in notices})),
        )
    )
    for user_id, data, created_at in rows:
        if data.get("board") == XP_BOARD:
            told.setdefault((str(user_id), str(data.get("period"))), []).append(
                (created_at, int(data["top"]))
            )
    due = []
    for notice in notices:
        start = notice.span.start
        earlier = told.get((notice.user_id, notice.span.period), [])
        if not any(top <= notice.top and (start is None or at >= start) for at, top in earlier):
            due.append(notice)
    return due


__all__ = ["BRACKETS", "RANK_PERIODS", "RankNotice", "RankNotifier", "bracket", "rank_notices"]
