"""The ``activity:global`` topic (PROTOCOL.md §8, §9): everyone's recent notable moments, newest first.

The source of truth is the ``notifications`` table: the level-ups, badges and completed missions that
scoring keeps for each player (`server.services.scoring.live`) are also the feed, so its document is a query
(the newest `FEED_SIZE` of those rows by id, joined with their users) and needs no storage of its own.

Consistency of a snapshot with its position. Concurrent scoring transactions insert notifications
concurrently, and a delta must turn the feed as the previous writer left it into the feed as this one
leaves it. So a batch that inserted notifications takes one feed-wide lock before it reads the feed
(`lock_feed`): on PostgreSQL a transaction-level advisory lock, held until commit, after its user and team
row locks (taken last, it cannot close a cycle with them); on SQLite the scoring transaction holds the
database write lock already. Under the lock, the feed without this batch's rows is what every committed
writer published, and the feed with them is what this one publishes. A snapshot takes the same lock
shared (SQLite: ``BEGIN IMMEDIATE``), then reads the stream's head, then the feed. Only batches with
notable moments take the lock, so XP-only scoring never waits for it.

Secret badges: the feed is public, so a secret badge's row says only that one was earned (``{"secret":
true}``), as decided by the award's own ``secret`` flag (`persistence.models.BadgeAward`).

Not published: renames (rows keep the name they were shown with until the next snapshot) and deletions
of users (their rows leave on the next snapshot).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import BadgeAward, Notification, User
from persistence.scoring import ScoredBatch
from protocol import activity_topic, row_ops
from server.hub.publish import TopicChange
from server.services.topics.documents import ms

FEED_SIZE = 50
"""The most rows the feed shows."""
FEED_KINDS = ("level_up", "badge_earned", "mission_completed")
"""The notification kinds the feed shows (not ``rank_changed``: it is decided after the commit)."""
FEED_LOCK = 0x67616D6966_0001
"""The advisory lock key of the feed (``gamif`` in ASCII, then 1): one lock for the whole topic."""


async def lock_feed(session: AsyncSession, *, shared: bool) -> None:
    """Take the feed's lock until the transaction ends: shared for a snapshot, exclusive for a writer.
    A no-op on SQLite, where both already hold the database write lock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    lock = func.pg_advisory_xact_lock_shared if shared else func.pg_advisory_xact_lock
    await session.execute(select(lock(FEED_LOCK)))


async def feed_rows(session: AsyncSession, *, without: Collection[int] = ()) -> list[dict[str, Any]]:
    """The feed's rows, newest first, as the document shows them; ``without``: notification ids left out
    (a writer's own, to read the feed as it was before them)."""
    query = (
        select(Notification, User.handle, User.display_name)
        .join(User, User.id == Notification.user_id)
        .where(Notification.kind.in_(FEED_KINDS))
        .order_by(Notification.id.desc())
        .limit(FEED_SIZE)
    )
    if without:
        query = query.where(Notification.id.not_in(list(without)))
    found = (await session.execute(query)).all()
    secret = await _secret_badges(session, [row.Notification for row in found])
    return [
        {
            "id": note.id,
            "kind": note.kind,
            "user_id": str(note.user_id),
            "handle": handle,
            "display_name": display_name,
            "data": _shown(note, secret),
            "at_ms": ms(note.created_at),
        }
        for note, handle, display_name in found
    ]


async def _secret_badges(
    session: AsyncSession, notes: Sequence[Notification]
) -> set[tuple[uuid.UUID, str, str, str]]:
    """The (user, badge, tier, period) of the badge notifications among ``notes`` whose award is secret."""
    badges = [note for note in notes if note.kind == "badge_earned"]
    if not badges:
        return set()
    rows = await session.execute(
        select(BadgeAward.user_id, BadgeAward.badge_id, BadgeAward.tier, BadgeAward.period).where(
            BadgeAward.user_id.in_(list({note.user_id for note in badges})),
            BadgeAward.badge_id.in_(list({str(note.data.get("badge_id")) for note in badges})),
            BadgeAward.secret.is_(True),
        )
    )
    return {(user_id, badge_id, tier or "", period or "") for user_id, badge_id, tier, period in rows}


def _shown(note: Notification, secret: set[tuple[uuid.UUID, str, str, str]]) -> dict[str, Any]:
    """What the feed shows of a notification's event data (no explanations, no XP)."""
    data = note.data
    if note.kind == "level_up":
        return {"level": data["level"], "previous_level": data["previous_level"]}
    if note.kind == "mission_completed":
        return {"mission_id": data["mission_id"], "name": data["name"], "period": data["period"]}
    tier, period = data.get("tier"), data.get("period")
    if (note.user_id, data.get("badge_id"), tier or "", period or "") in secret:
        return {"secret": True}
    return {
        "secret": False,
        "badge_id": data["badge_id"],
        "name": data["name"],
        "tier": tier,
        "period": period,
    }


async def activity_changes(batch: ScoredBatch, inserted: Sequence[int]) -> list[TopicChange]:
    """The feed's delta for a scoring batch that inserted the notifications ``inserted`` (ids), in its
    transaction: takes the feed's lock (last, after the batch's row locks) and diffs the feed without
    them against the feed with them. Nothing (and no lock) for a batch without notable moments."""
    if not inserted:
        return []
    session = batch.session
    await lock_feed(session, shared=False)
    before = await feed_rows(session, without=inserted)
    after = await feed_rows(session)
    ops = [op.to_wire() for op in row_ops(("items",), "id", before, after)]
    return [TopicChange(activity_topic(), ops)] if ops else []


async def activity_document(session: AsyncSession) -> dict[str, Any]:
    """The ``activity:global`` document (the caller holds the feed's lock, shared)."""
    return {"items": await feed_rows(session)}


__all__ = [
    "FEED_KINDS",
    "FEED_LOCK",
    "FEED_SIZE",
    "activity_changes",
    "activity_document",
    "feed_rows",
    "lock_feed",
]
