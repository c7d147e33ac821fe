"""The topic documents of PROTOCOL.md §9, built from rows already read: pure (no SQL, no I/O).

Snapshots (`server.services.topics.directory`) and the services that publish deltas (scoring, teams, the
boards) build their documents with these same functions, so that a delta computed from two of them
(`protocol.diff_ops`) turns a snapshot into the next one exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from game import Engine, UserState
from game.periods import local_day, period_days, period_key, period_label, week_start_index, zone
from game.state import MILLI
from persistence.leaderboards import Period
from persistence.models import BadgeAward, Team, User

LEADERBOARD_SIZE = 100
"""The most rows a leaderboard document shows (§9 ``size``)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch (exact: no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def number(value: float) -> int | float:
    """Whole numbers as integers (``3``, not ``3.0``): the same value whichever way it was computed."""
    return int(value) if float(value).is_integer() else value


def badge_key(badge_id: str, tier: str | None, period: str | None) -> str:
    """A badge's key in the user document: ``reviewer:gold``, ``review-marathon@2026-11-20``."""
    return badge_id + (f":{tier}" if tier else "") + (f"@{period}" if period else "")


def mission_key(mission_id: str, period: str) -> str:
    return f"{mission_id}@{period}"


def user_document(
    engine: Engine,
    user: User,
    state: UserState,
    rule_version: int,
    badges: Iterable[BadgeAward],
    now: datetime,
) -> dict[str, Any]:
    """The ``user:{id}`` document (§9): progress from the engine ``state`` (scored with ``rule_version``)
    and the level curve of ``engine``, the user's earned (not revoked) ``badges`` rows, and the streaks
    and missions as of ``now``."""
    rules = engine.rules
    progress = engine.progress(state)
    return {
        "user_id": str(user.id),
        "handle": user.handle,
        "display_name": user.display_name,
        "xp": state.xp,
        "level": progress.level,
        "level_xp": progress.level_xp,
        "next_level_xp": progress.next_level_xp,
        "progress": round(progress.fraction, 4),  # as /me shows it
        "rule_version": rule_version,
        "badges": {
            badge_key(row.badge_id, row.tier, row.period): {
                "badge_id": row.badge_id,
                "name": rules.badges[row.badge_id].name if row.badge_id in rules.badges else row.badge_id,
                "tier": row.tier or None,
                "period": row.period or None,
                "secret": row.secret,
                "earned_at_ms": ms(row.earned_at),
                "explanation": row.explanation,
                "summary": row.summary,
            }
            for row in badges
            if row.revoked_at is None
        },
        "streaks": {
            streak_id: {
                "name": rule.name,
                "current": engine.streak_as_of(state, streak_id, now),
                "best": state.streaks[streak_id].best if streak_id in state.streaks else 0,
                "freezes": rule.freezes,
            }
            for streak_id, rule in rules.streaks.items()
        },
        "missions": _missions(engine, state, now),
    }


def _missions(engine: Engine, state: UserState, now: datetime) -> dict[str, Any]:
    """The missions of the periods containing ``now`` (in the user's timezone), from the engine state: the
    same sums the engine makes when it scores (``game.engine._Batch._update_missions``)."""
    rules = engine.rules
    today = local_day(now, zone(state.timezone))
    missions: dict[str, Any] = {}
    for mission_id, mission in rules.missions.items():
        index = 0 if mission.measure == "units" else 1
        if mission.period == "window":
            assert mission.starts is not None
            assert mission.ends is not None
            if not mission.starts <= now < mission.ends:
                continue
            key, label = 0, "window"
            raw = state.windows.get(mission_id, (0, 0))[index]
        else:
            key = period_key(today, mission.period, week_start_index(rules.week_starts))
            label = period_label(key, mission.period)
            raw = sum(
                state.days[mission.metric, day][index]
                for day in period_days(key, mission.period)
                if (mission.metric, day) in state.days
            )
        missions[mission_key(mission_id, label)] = {
            "mission_id": mission_id,
            "name": mission.name,
            "period": label,
            "progress": number(raw / MILLI if index == 0 else raw),
            "goal": number(mission.goal),
            "completed": (mission_id, key) in state.missions_done,
            "reward_xp": mission.reward_xp,
        }
    return missions


@dataclass(frozen=True, slots=True)
class TeamMember:
    """What the team document shows of a current member."""

    user_id: str
    handle: str
    display_name: str
    xp: int
    weekly_xp: int
    joined_at: datetime


def team_document(engine: Engine, team: Team, members: Iterable[TeamMember]) -> dict[str, Any]:
    """The ``team:{slug}`` document (§9); levels from ``engine``'s curve."""
    shown = {member.user_id: team_member_entry(engine, member) for member in members}
    return {
        "slug": team.slug,
        "name": team.name,
        "description": team.description,
        "archived": team.archived_at is not None,
        "members": shown,
        "totals": team_totals(shown),
    }


def team_member_entry(engine: Engine, member: TeamMember) -> dict[str, Any]:
    """What the team document shows of one member (under ``members``, keyed by user id)."""
    return {
        "handle": member.handle,
        "display_name": member.display_name,
        "level": engine.level_for(member.xp),
        "xp": member.xp,
        "weekly_xp": member.weekly_xp,
        "joined_at_ms": ms(member.joined_at),
    }


def team_totals(shown: dict[str, dict[str, Any]]) -> dict[str, int]:
    """A team document's ``totals`` from its members' entries."""
    return {
        "members": len(shown),
        "xp": sum(m["xp"] for m in shown.values()),
        "weekly_xp": sum(m["weekly_xp"] for m in shown.values()),
    }


@dataclass(frozen=True, slots=True)
class Score:
    """A member's score on a board, in the board's unit (XP, or the metric's value)."""

    member: str
    display_name: str
    score: int | float


def leaderboard_document(
    board: str,
    period: Period,
    bounds: tuple[datetime | None, datetime | None],
    ranked: int,
    scores: Sequence[Score],
    size: int = LEADERBOARD_SIZE,
) -> dict[str, Any]:
    """The ``leaderboard:{board}:{period}`` document (§9) from the top ``scores`` (any order) and the
    number of ``ranked`` members: rows by score, highest first, then by member (code point order), with
    competition ranks (1, 2, 2, 4)."""
    ordered = sorted(scores, key=lambda s: (-s.score, s.member))[:size]
    rows: list[dict[str, Any]] = []
    for index, entry in enumerate(ordered):
        tied = rows and rows[-1]["score"] == entry.score
        rank = rows[-1]["rank"] if tied else index + 1
        rows.append(
            {"member": entry.member, "display_name": entry.display_name, "score": entry.score, "rank": rank}
        )
    return ranked_board_document(board, period, bounds, ranked, rows, size)


def ranked_board_document(
    board: str,
    period: str,
    bounds: tuple[datetime | None, datetime | None],
    ranked: int,
    rows: Sequence[dict[str, Any]],
    size: int = LEADERBOARD_SIZE,
) -> dict[str, Any]:
    """The §9 document around ``rows`` already ranked (``member``, ``display_name``, ``score``, ``rank``,
    in rank order): the one shape of a board's document, whoever ranked it (the database totals as above, the
    Redis boards in `server.services.boards.live`)."""
    start, end = bounds
    return {
        "board": board,
        "period": period,
        "period_start_ms": 0 if start is None else ms(start),
        "period_end_ms": None if end is None else ms(end),
        "size": size,
        "ranked": ranked,
        "rows": list(rows[:size]),
    }


__all__ = [
    "LEADERBOARD_SIZE",
    "Score",
    "TeamMember",
    "badge_key",
    "leaderboard_document",
    "mission_key",
    "ms",
    "number",
    "ranked_board_document",
    "team_document",
    "team_member_entry",
    "team_totals",
    "user_document",
]
