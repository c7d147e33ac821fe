"""The badge catalogue: every badge of the current rules, in rule order, with what the caller has earned.

A secret badge the caller has not earned is a locked placeholder: an id that names nothing
(``secret-1``, ``secret-2``, ... counting the secret badges in rule order), and no name, description,
tiers or criteria. Once earned it shows in full, like any other.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine
from game.rules.badges import BadgeRule
from persistence.models import BadgeAward
from server.services.people.read_models import (
    BadgeCatalogueOut,
    BadgeTierOut,
    CatalogueBadgeOut,
    EarnedBadgeOut,
)
from server.services.topics.documents import badge_key


class BadgeCatalogue:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def for_user(self, engine: Engine, user_id: str) -> BadgeCatalogueOut:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(BadgeAward)
                .where(BadgeAward.user_id == uuid.UUID(user_id), BadgeAward.revoked_at.is_(None))
                .order_by(BadgeAward.earned_at, BadgeAward.id)
            )
            earned: dict[str, list[EarnedBadgeOut]] = defaultdict(list)
            for row in rows:
                earned[row.badge_id].append(
                    EarnedBadgeOut(
                        key=badge_key(row.badge_id, row.tier, row.period),
                        tier=row.tier or None,
                        period=row.period or None,
                        earned_at=row.earned_at,
                    )
                )
        badges = []
        secrets = 0
        for badge_id, badge in engine.rules.badges.items():
            if badge.secret:
                secrets += 1
                if not earned.get(badge_id):
                    badges.append(locked_secret(f"secret-{secrets}"))
                    continue
            badges.append(shown(badge_id, badge, earned.get(badge_id, [])))
        return BadgeCatalogueOut(rule_version=engine.version, badges=badges)


def locked_secret(placeholder: str) -> CatalogueBadgeOut:
    return CatalogueBadgeOut(
        id=placeholder,
        hidden=True,
        secret=True,
        name=None,
        description=None,
        icon=None,
        repeat=None,
        xp=None,
        tiers=None,
        earned=[],
    )


def shown(badge_id: str, badge: BadgeRule, earned: list[EarnedBadgeOut]) -> CatalogueBadgeOut:
    tiers = badge.tiers
    return CatalogueBadgeOut(
        id=badge_id,
        hidden=False,
        secret=badge.secret,
        name=badge.name,
        description=badge.description or None,
        icon=badge.icon,
        repeat=badge.repeat,
        xp=badge.xp,
        tiers=None
        if tiers is None
        else [BadgeTierOut(name=n, threshold=_number(g)) for n, g in tiers.items()],
        earned=earned,
    )


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


__all__ = ["BadgeCatalogue"]
