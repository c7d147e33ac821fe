"""The documents the read services answer: a user, their own progress (/me), a public profile, and the
badge catalogue.

Here, below the API, because assembling them is those services' whole job (`profiles`, `badges_catalogue`):
the HTTP routes answer them as they are (the OpenAPI document names them by class, as before).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReadModel(BaseModel):
    """Like the API's own response bodies (`server.api.schemas.Output`): built from attributes too."""

    model_config = ConfigDict(from_attributes=True)


class UserOut(ReadModel):
    id: str
    handle: str
    display_name: str
    email: str | None = None
    timezone: str
    avatar_url: str | None
    role: str
    created_at: datetime


# -- me and profiles -------------------------------------------------------------------------------


class BadgeOut(ReadModel):
    badge_id: str
    name: str
    tier: str | None
    period: str | None
    secret: bool
    earned_at: datetime
    explanation: str
    summary: str | None = Field(
        description='the award in a person\'s words ("Badge: Second pair of eyes (silver)"); '
        "null for badges earned before summaries existed"
    )


class LockedBadgeOut(ReadModel):
    badge_id: str
    name: str
    description: str
    tiers: list[str] | None
    earned_tiers: list[str]


class StreakOut(ReadModel):
    streak_id: str
    name: str
    current: int = Field(description="as of now, in the user's timezone (0 once lapsed)")
    best: int
    freezes: int


class MissionOut(ReadModel):
    mission_id: str
    name: str
    period: str
    progress: float
    goal: float
    completed: bool
    reward_xp: int


class LevelOut(ReadModel):
    level: int
    xp: int
    level_xp: int = Field(description="total XP at which the current level starts")
    next_level_xp: int | None = Field(description="total XP the next level needs (null at the top level)")
    progress: float = Field(description="0..1 from this level to the next")


class MeOut(ReadModel):
    user: UserOut
    level: LevelOut
    badges: list[BadgeOut]
    locked_badges: list[LockedBadgeOut] = Field(
        description="badges not (fully) earned; secret ones are left out"
    )
    streaks: list[StreakOut]
    missions: list[MissionOut] = Field(description="current periods' missions")
    teams: list[str]
    rule_version: int


class ProfileOut(ReadModel):
    handle: str
    display_name: str
    avatar_url: str | None
    level: LevelOut
    badges: list[BadgeOut]
    streaks: list[StreakOut]
    teams: list[str]


# -- the badge catalogue --------------------------------------------------------------------------


class BadgeTierOut(ReadModel):
    name: str
    threshold: int | float = Field(description="the criterion's value this tier needs")


class EarnedBadgeOut(ReadModel):
    key: str = Field(description="as in the user topic's badges: `reviewer:gold`, `marathon@2026-11-20`")
    tier: str | None
    period: str | None = Field(description="for a repeatable badge: the period it was earned in")
    earned_at: datetime


class CatalogueBadgeOut(ReadModel):
    id: str = Field(
        description="the badge's rule id; for a secret badge the caller has not earned, an opaque "
        "placeholder (`secret-1`, `secret-2`, ... in rule order) that says nothing about it"
    )
    hidden: bool = Field(description="a secret badge not earned yet: only `id` and `secret` are shown")
    secret: bool
    name: str | None = Field(description="null when hidden")
    description: str | None = Field(description="null when hidden or when the rules give none")
    icon: str | None
    repeat: Literal["daily", "weekly", "monthly"] | None = Field(
        description="earnable again each such period; null: once (or hidden)"
    )
    xp: int | None = Field(description="XP granted each time it (a tier of it) is earned; null when hidden")
    tiers: list[BadgeTierOut] | None = Field(description="in order, lowest first; null: untiered or hidden")
    earned: list[EarnedBadgeOut] = Field(description="the caller's awards of it, oldest first")


class BadgeCatalogueOut(ReadModel):
    rule_version: int
    badges: list[CatalogueBadgeOut] = Field(description="every badge of the current rules, in rule order")
