"""Topic names (PROTOCOL.md, "Topics").

user:{user_id}                      one user's own state (private: only that user)
leaderboard:{board}:{period}        a ranking, e.g. leaderboard:xp:weekly
team:{slug}                         a team's members and totals
presence:global                     who is online
presence:team:{slug}                who of a team is online
activity:global                     the organisation's recent notable moments
challenge:{challenge_id}            a team challenge's live scoreboard
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from protocol.limits import MAX_TOPIC_LENGTH

__all__ = [
    "PERIODS",
    "TOPIC_PATTERN",
    "TOPIC_REGEX",
    "Topic",
    "activity_topic",
    "challenge_topic",
    "is_topic",
    "leaderboard_topic",
    "parse_topic",
    "presence_topic",
    "team_topic",
    "user_topic",
]

_ID = r"[a-z0-9][a-z0-9_-]{0,63}"
"""User and challenge ids, leaderboard boards (user ids are lower-case UUIDs today)."""
_SLUG = r"[a-z0-9][a-z0-9-]{1,63}"
"""Team slugs, as the HTTP API defines them."""
PERIODS = ("daily", "weekly", "monthly", "all_time")

TOPIC_REGEX = (
    rf"^(?:user:{_ID}"
    rf"|leaderboard:{_ID}:(?:daily|weekly|monthly|all_time)"
    rf"|team:{_SLUG}"
    rf"|presence:(?:global|team:{_SLUG})"
    r"|activity:global"
    rf"|challenge:{_ID})$"
)
"""The whole grammar; a topic is also at most MAX_TOPIC_LENGTH (128) characters."""
TOPIC_PATTERN = re.compile(TOPIC_REGEX)

Kind = Literal["user", "leaderboard", "team", "presence", "activity", "challenge"]


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: its kind and the parts after the kind.

    ``user`` → (user_id,); ``leaderboard`` → (board, period); ``team`` → (slug,);
    ``presence`` → ("global",) or ("team", slug); ``activity`` → ("global",);
    ``challenge`` → (challenge_id,)."""

    kind: Kind
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ":".join((self.kind, *self.parts))


def is_topic(value: str) -> bool:
    return len(value) <= MAX_TOPIC_LENGTH and TOPIC_PATTERN.fullmatch(value) is not None


def parse_topic(value: str) -> Topic:
    """The topic's kind and parts; ValueError if it is not a topic."""
    if not is_topic(value):
        raise ValueError(f"not a topic: {value[:MAX_TOPIC_LENGTH]!r}")
    kind, _, rest = value.partition(":")
    if kind == "leaderboard":
        board, _, period = rest.partition(":")
        return Topic("leaderboard", (board, period))
    if kind == "presence":
        return Topic("presence", ("global",) if rest == "global" else ("team", rest.partition(":")[2]))
    if kind == "user":
        return Topic("user", (rest,))
    if kind == "team":
        return Topic("team", (rest,))
    if kind == "activity":
        return Topic("activity", (rest,))
    return Topic("challenge", (rest,))


def _checked(value: str) -> str:
    parse_topic(value)
    return value


def user_topic(user_id: str) -> str:
    return _checked(f"user:{user_id}")


def leaderboard_topic(board: str, period: str) -> str:
    return _checked(f"leaderboard:{board}:{period}")


def team_topic(slug: str) -> str:
    return _checked(f"team:{slug}")


def presence_topic(team: str | None = None) -> str:
    """``presence:global``, or ``presence:team:{team}``."""
    return _checked("presence:global" if team is None else f"presence:team:{team}")


def activity_topic() -> str:
    """``activity:global``: the feed of level-ups, badges and missions of everyone."""
    return _checked("activity:global")


def challenge_topic(challenge_id: str) -> str:
    return _checked(f"challenge:{challenge_id}")
