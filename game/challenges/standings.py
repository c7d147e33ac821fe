"""Where the teams of a challenge stand, and what they won: pure arithmetic on per-member totals.

The caller gives each team's tally (members' contributions, member count at the start, when it reached
the goal) and the current instant: the engine never reads a clock. ``standings`` ranks the teams,
``results`` freezes the outcome and the rewards once the challenge closes, and ``document`` renders
both as the JSON the live topic ``challenge:{id}`` carries.

Ranks are competition ranks: equal scores share a rank and the next rank skips (1, 2, 2, 4). Scores
are kept to a millionth so that equal work ties exactly, whatever order the floats were added in.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .definition import ChallengeDefinition, Mode, Reward, Scoring

SCORE_DIGITS = 6
"""Scores are rounded to a millionth before ranking (float sums are otherwise order-dependent)."""
SHOWN_DIGITS = 2
"""Numbers in the live document are rounded to hundredths."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = 3600.0


class ChallengeState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    CLOSING = "closing"
    """Live and past ``ends_at``: late events still count until ``closes_at``."""
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class TeamTally:
    """What the caller knows of one team: its members' totals on the challenge's metrics (XP for
    ``points``), its member count when the challenge started, and when it reached the goal."""

    slug: str
    name: str
    member_count: int
    contributions: Mapping[str, float] = field(default_factory=dict)
    reached_goal_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MemberContribution:
    user_id: str
    contribution: float


@dataclass(frozen=True, slots=True)
class TeamStanding:
    slug: str
    name: str
    score: float
    rank: int | None
    """None for a team that does not take part (fewer than ``min_members``)."""
    eligible: bool
    member_count: int
    members: tuple[MemberContribution, ...]
    """Highest contribution first."""
    pace_per_hour: float | None
    """Score per hour of the window elapsed so far; None until the window has begun."""
    projection: float | None
    """The score at ``ends_at`` if the pace holds; None until the window has begun."""
    progress: float | None
    """Score / goal, at most 1.0; None without a goal."""
    reached_goal_at: datetime | None


@dataclass(frozen=True, slots=True)
class Combined:
    """A cooperative challenge's shared score: every eligible team together against the goal."""

    score: float
    goal: float
    progress: float
    achieved: bool


@dataclass(frozen=True, slots=True)
class Standings:
    as_of: datetime
    teams: tuple[TeamStanding, ...]
    """Eligible teams by rank (ties by name), then the others by score."""
    combined: Combined | None = None
    """Cooperative challenges only."""

    def team(self, slug: str) -> TeamStanding:
        return next(team for team in self.teams if team.slug == slug)


@dataclass(frozen=True, slots=True)
class TeamReward:
    """One reward a team earned; each of its members receives ``xp`` and ``badge``."""

    team: str
    kind: Literal["rank", "completion"]
    rank: int | None
    xp: int
    badge: str | None
    explanation: str
    summary: str = ""
    """The reward in a person's words, with the team's name and no date ("Sprint of the week: Platform,
    rank 1 of 3"); "" in results stored before summaries existed."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "kind": self.kind,
            "rank": self.rank,
            "xp": self.xp,
            "badge": self.badge,
            "explanation": self.explanation,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class Results:
    """The frozen outcome of a challenge: stored once at close, never recomputed."""

    ranks: Mapping[str, int]
    """Eligible teams only."""
    winners: tuple[str, ...]
    rewards: tuple[TeamReward, ...]
    achieved: bool | None = None
    """Cooperative challenges only: whether the teams reached the goal together."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ranks": dict(self.ranks),
            "winners": list(self.winners),
            "achieved": self.achieved,
            "rewards": [reward.as_dict() for reward in self.rewards],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Results:
        """The inverse of `as_dict` (results are stored as JSON)."""
        return cls(
            ranks=dict(data["ranks"]),
            winners=tuple(data["winners"]),
            achieved=data["achieved"],
            rewards=tuple(TeamReward(**reward) for reward in data["rewards"]),
        )


# ------------------------------------------------------------------------------------------ standings


def standings(definition: ChallengeDefinition, tallies: Iterable[TeamTally], now: datetime) -> Standings:
    """Score and rank the teams as of ``now``. Tallies are taken as the competing teams (the caller
    resolves "every team"), but a team the definition does not list is a caller error."""
    tallies = list(tallies)
    slugs = [tally.slug for tally in tallies]
    if len(set(slugs)) != len(slugs):
        raise ValueError("each team may be tallied once")
    if definition.teams is not None:
        strangers = sorted(set(slugs) - set(definition.teams))
        if strangers:
            raise ValueError(f"teams not in challenge {definition.id!r}: {', '.join(strangers)}")
    if any(tally.member_count < 0 for tally in tallies):
        raise ValueError("a member count cannot be negative")

    elapsed, remaining = _hours(definition, now)
    goal = definition.goal
    scored = [(tally, _score(definition.scoring, tally)) for tally in tallies]
    eligible = [(tally, score) for tally, score in scored if tally.member_count >= definition.min_members]
    ranks = _ranks(eligible, _rank_key(definition.mode))

    teams: list[TeamStanding] = []
    for tally, score in scored:
        pace = None if elapsed is None else score / elapsed
        teams.append(
            TeamStanding(
                slug=tally.slug,
                name=tally.name,
                score=score,
                rank=ranks.get(tally.slug),
                eligible=tally.slug in ranks,
                member_count=tally.member_count,
                members=tuple(
                    MemberContribution(user_id, value)
                    for user_id, value in sorted(
                        tally.contributions.items(), key=lambda item: (-item[1], item[0])
                    )
                ),
                pace_per_hour=pace,
                projection=None if pace is None else score + pace * remaining,
                progress=None if goal is None else min(1.0, score / goal),
                reached_goal_at=tally.reached_goal_at,
            )
        )
    teams.sort(key=lambda team: (team.rank is None, team.rank or 0, -team.score, team.name, team.slug))

    combined = None
    if definition.mode is Mode.COOPERATIVE:
        assert goal is not None  # the definition requires it
        total = round(math.fsum(score for _, score in eligible), SCORE_DIGITS)
        combined = Combined(score=total, goal=goal, progress=min(1.0, total / goal), achieved=total >= goal)
    return Standings(as_of=now, teams=tuple(teams), combined=combined)


def _score(scoring: Scoring, tally: TeamTally) -> float:
    total = math.fsum(tally.contributions.values())
    if scoring is Scoring.AVERAGE_PER_MEMBER:
        total /= max(tally.member_count, 1)  # an empty team has no contributions either
    return round(total, SCORE_DIGITS)


def _hours(definition: ChallengeDefinition, now: datetime) -> tuple[float | None, float]:
    """Hours of the window elapsed (None before it has begun) and still to come, as of ``now``."""
    if now <= definition.starts_at:
        return None, 0.0
    end = min(now, definition.ends_at)
    elapsed = (end - definition.starts_at).total_seconds() / _HOUR
    return elapsed, (definition.ends_at - end).total_seconds() / _HOUR


RankKey = tuple[int, int, float]


def _rank_key(mode: Mode) -> Callable[[TeamTally, float], RankKey]:
    """Smaller ranks first. first_to_goal: the teams that reached the goal, earliest first, then the
    others by score; otherwise by score."""
    if mode is Mode.FIRST_TO_GOAL:
        return lambda tally, score: (
            (0, (tally.reached_goal_at - _EPOCH) // timedelta(microseconds=1), 0.0)
            if tally.reached_goal_at is not None
            else (1, 0, -score)
        )
    return lambda _tally, score: (1, 0, -score)


def _ranks(
    scored: list[tuple[TeamTally, float]], key: Callable[[TeamTally, float], RankKey]
) -> dict[str, int]:
    """Competition ranks: equal keys share a rank, the next rank skips past them."""
    keyed = sorted(((key(tally, score), tally.slug) for tally, score in scored), key=lambda item: item[0])
    ranks: dict[str, int] = {}
    previous: RankKey | None = None
    rank = 0
    for position, (team_key, slug) in enumerate(keyed, start=1):
        if team_key != previous:
            rank, previous = position, team_key
        ranks[slug] = rank
    return ranks


# ------------------------------------------------------------------------------------------ results


def results(definition: ChallengeDefinition, standings: Standings) -> Results:
    """Who won and what each team earns: the rank rewards by rank (tied teams each get their rank's),
    and the completion reward for reaching the goal. Teams that do not take part earn nothing."""
    ranked = [team for team in standings.teams if team.eligible]
    ranks = {team.slug: team.rank for team in standings.teams if team.rank is not None}
    shared = Counter(ranks.values())
    by_rank = {reward.rank: reward for reward in definition.rewards}
    rewards: list[TeamReward] = []
    for slug, rank in ranks.items():
        reward = by_rank.get(rank)
        if reward is not None:
            team = standings.team(slug)
            tied = " (tied)" if shared[rank] > 1 else ""
            text = (
                f"rank {rank}{tied} of {len(ranks)} in {definition.name} "
                f"({_score_text(definition.scoring, team.score)})"
            )
            summary = f"{definition.name}: {team.name}, rank {rank}{tied} of {len(ranks)}"
            rewards.append(_reward(team, "rank", reward, text, summary))

    achieved: bool | None = None
    if definition.mode is Mode.COOPERATIVE:
        assert standings.combined is not None
        combined = standings.combined
        achieved = combined.achieved
        winners = tuple(team.slug for team in ranked) if achieved else ()
        if achieved and definition.completion_reward is not None:
            text = (
                f"the teams of {definition.name} reached the goal of {_number(combined.goal)} together "
                f"({_number(combined.score)} combined)"
            )
            summary = f"{definition.name}: the goal, reached together"
            rewards.extend(
                _reward(team, "completion", definition.completion_reward, text, summary) for team in ranked
            )
    elif definition.mode is Mode.FIRST_TO_GOAL:
        reached = [(team, team.reached_goal_at) for team in ranked if team.reached_goal_at is not None]
        winners = tuple(team.slug for team, _ in reached if team.rank == 1)
        if definition.completion_reward is not None:
            goal = _number(definition.goal or 0.0)  # first_to_goal always has one
            for team, reached_at in reached:
                when = reached_at.astimezone(ZoneInfo(definition.timezone))
                text = (
                    f"reached the goal of {goal} in {definition.name} on "
                    f"{when:%Y-%m-%d %H:%M} ({definition.timezone}), rank {team.rank} of {len(ranked)}"
                )
                summary = (
                    f"{definition.name}: {team.name} reached the goal, rank {team.rank} of {len(ranked)}"
                )
                rewards.append(_reward(team, "completion", definition.completion_reward, text, summary))
    else:
        winners = tuple(team.slug for team in ranked if team.rank == 1)
    return Results(ranks=ranks, winners=winners, rewards=tuple(rewards), achieved=achieved)


def _reward(
    team: TeamStanding, kind: Literal["rank", "completion"], reward: Reward, text: str, summary: str
) -> TeamReward:
    return TeamReward(
        team=team.slug,
        kind=kind,
        rank=team.rank,
        xp=reward.xp,
        badge=reward.badge,
        explanation=text,
        summary=summary,
    )


def _score_text(scoring: Scoring, score: float) -> str:
    if scoring is Scoring.POINTS:
        return f"{_number(score)} XP"
    if scoring is Scoring.AVERAGE_PER_MEMBER:
        return f"{_number(score)} per member"
    return f"score {_number(score)}"


def _number(value: float) -> str:
    """412, 41.25: no trailing zeros, at most two decimals."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


# ------------------------------------------------------------------------------------------ document


def document(
    definition: ChallengeDefinition, standings: Standings, state: ChallengeState, results: Results | None
) -> dict[str, Any]:
    """The JSON-ready state of a challenge for the live topic: numbers to hundredths, instants in epoch
    milliseconds. ``results`` is given once the challenge has finished (None before)."""
    combined = standings.combined
    return {
        "id": definition.id,
        "name": definition.name,
        "description": definition.description,
        "mode": definition.mode.value,
        "scoring": definition.scoring.value,
        "metrics": list(definition.metrics),
        "goal": _shown(definition.goal),
        "timezone": definition.timezone,
        "starts_at_ms": _ms(definition.starts_at),
        "ends_at_ms": _ms(definition.ends_at),
        "closes_at_ms": _ms(definition.closes_at),
        "state": ChallengeState(state).value,
        "teams": {
            team.slug: {
                "name": team.name,
                "score": _shown(team.score),
                "rank": team.rank,
                "eligible": team.eligible,
                "member_count": team.member_count,
                "members": {
                    member.user_id: {"contribution": _shown(member.contribution)} for member in team.members
                },
                "pace_per_hour": _shown(team.pace_per_hour),
                "projection": _shown(team.projection),
                "progress": _shown(team.progress),
                "reached_goal_at_ms": None if team.reached_goal_at is None else _ms(team.reached_goal_at),
            }
            for team in standings.teams
        },
        "combined": None
        if combined is None
        else {
            "score": _shown(combined.score),
            "goal": _shown(combined.goal),
            "progress": _shown(combined.progress),
            "achieved": combined.achieved,
        },
        "results": None if results is None else results.as_dict(),
    }


def _shown(value: float | None) -> float | None:
    return None if value is None else round(value, SHOWN_DIGITS)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)
