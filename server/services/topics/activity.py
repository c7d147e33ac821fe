"""The ``activity:global`` topic (PROTOCOL.md §8, §9): everyone's recent notable moments, newest first.

The source of truth is the ``notifications`` table: the level-ups, badges and completed missions that
scoring keeps for each player (`server.services.scoring.live`) are also the feed, so its document is a query
(the newest `FEED_SIZE` of those rows by id, joined with their users) and needs no storage of its own.

Live: its document is kept beside its stream and pushed, coalesced, after the commits of batches that kept
notable moments (`server.services.topics.live_documents`): each such batch tells its process's live
documents after its commit, and nothing takes a feed-wide lock. A delta keeps the rows keyed by ``id``
(new rows set at the head, old ones removed as they fall beyond `FEED_SIZE`).

Secret badges: the feed is public, so a secret badge's row says only that one was earned (``{"secret":
true}``), as decided by the award's own ``secret`` flag (`persistence.models.BadgeAward`).

Not pushed on their own: renames and deletions of users (rows on screen keep what they showed until the
feed's next delta or snapshot).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import BadgeAward, Notification, User
from server.services.topics.documents import ms

FEED_SIZE = 50
"""The most rows the feed shows."""
FEED_KINDS = ("level_up", "badge_earned", "mission_completed")
"""The notification kinds the feed shows (not ``rank_changed``: it is decided after the commit)."""


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
    """What the feed shows of a notification's event data (no explanations, no XP; the award's ``summary``,
    null for notifications kept before summaries existed)."""
    data = note.data
    if note.kind == "level_up":
        return {
            "level": data["level"],
            "previous_level": data["previous_level"],
            "summary": data.get("summary"),
        }
    if note.kind == "mission_completed":
        return {
            "mission_id": data["mission_id"],
            "name": data["name"],
            "period": data["period"],
            "summary": data.get("summary"),
        }
    tier, period = data.get("tier"), data.get("period")
    if (note.user_id, data.get("badge_id"), tier or "", period or "") in secret:
        return {"secret": True}
    return {
        "secret": False,
        "badge_id": data["badge_id"],
        "name": data["name"],
        "tier": tier,
        "period": period,
        "summary": data.get("summary"),
    }


async def activity_document(session: AsyncSession) -> dict[str, Any]:
    """The ``activity:global`` document."""
    return {"items": await feed_rows(session)}


__all__ = [
    "FEED_KINDS",
    "FEED_SIZE",
    "activity_document",
    "feed_rows",
]
