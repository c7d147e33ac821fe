"""Challenge scores from the scoring transaction: the batch's accepted events added to ``challenge_scores``
by (challenge, team at the event's time, user), and ``challenge_goal_reached`` for first_to_goal teams.

Exactly once comes from the scorer: only the events its transaction inserted reach here, and everything
commits with them. What counts where is `game.challenges.attribution`; this module reads and writes:

- the open challenges whose window meets the batch's events: one query, definitions parsed once per
  (id, version) and process;
- the batch's users' membership history: one query;
- the additions: one upsert (``total = total + excluded.total``) for the whole batch;
- first_to_goal: for the (challenge, team) pairs the batch touched, the team's total (``average_per_member``:
  divided by its current member count) against the goal, and the reached row (at the batch's time) unless
  one exists. On PostgreSQL a transaction-scoped advisory lock per pair, taken in key order, serialises
  the check between concurrent batches of one team, so the batch that crosses the goal sees the others'
  committed rows and none is missed. SQLite's write lock already serialises batches.

Known limit: a batch that read a challenge as open while it was being finished still adds to its rows
after the results froze (they are frozen from what was committed; nothing is paid twice).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from game import Effect, MetricEvent, RuleSet
from game.challenges import ChallengeDefinition, Mode, Scoring
from game.challenges.attribution import OPEN_STATES, Tally, attribute, metric_xp, reached_goal

from .leaderboards import TeamHistory
from .models import Challenge, ChallengeGoalReached, ChallengeScore, Team, TeamMembership, table_of

_PARSED: dict[tuple[str, int], tuple[dict[str, Any], ChallengeDefinition]] = {}
"""Definitions parsed by (id, version), with the JSON they were parsed from: an edit bumps the version,
and the JSON is compared too (much cheaper than parsing) in case an id is re-created, or another
database is used by the same process."""
_PARSED_MAX = 512


@dataclass(frozen=True, slots=True)
class ScoredEvents:
    """One user's accepted events of a batch and the engine's effects for them (for ``points``)."""

    events: Sequence[MetricEvent]
    effects: Sequence[Effect]


async def open_challenges(
    session: AsyncSession, first: datetime, last: datetime
) -> list[ChallengeDefinition]:
    """The challenges not finished whose window could hold an event stamped between ``first`` and ``last``."""
    # Share-locked until this transaction commits, so a challenge's finish (which takes its row for
    # update first) waits for the scores being written, and never freezes results a write then changes.
    # A challenge being finished right now is skipped, not waited for: the finisher holds its row and
    # then takes users' rows, which this transaction holds already.
    rows = await session.execute(
        select(Challenge.id, Challenge.version, Challenge.definition)
        .where(
            Challenge.state.in_(sorted(OPEN_STATES)), Challenge.starts_at <= last, Challenge.ends_at > first
        )
        .with_for_update(read=True, skip_locked=True)
    )
    definitions = []
    for challenge_id, version, body in rows:
        cached = _PARSED.get((challenge_id, version))
        if cached is not None and cached[0] == body:
            definitions.append(cached[1])
            continue
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()  # old versions pile up only through edits: starting over is cheap
        definition = ChallengeDefinition.model_validate(body)
        _PARSED[challenge_id, version] = (body, definition)
        definitions.append(definition)
    return definitions


async def record(
    session: AsyncSession, rules: RuleSet, users: Iterable[ScoredEvents], now: datetime
) -> set[str]:
    """Add a scored batch's events to the open challenges they count for (``now``: the batch's time);
    the ids of the challenges whose scores changed."""
    users = list(users)
    events = [event for user in users for event in user.events]
    if not events:
        return set()
    challenges = await open_challenges(
        session, min(e.occurred_at for e in events), max(e.occurred_at for e in events)
    )
    metrics = {metric for definition in challenges for metric in definition.metrics}
    events = [event for event in events if event.metric in metrics]
    if not events:
        return set()
    xp: dict[str, int] = {}
    if any(definition.scoring is Scoring.POINTS for definition in challenges):
        for user in users:
            xp.update(metric_xp(rules, user.effects, user.events))
    history, team_ids = await _memberships(session, {event.user_id for event in events})
    tallies = attribute(challenges, events, history.teams_at, now, xp)
    if not tallies:
        return set()
    await upsert_scores(session, {(c, team_ids[t], u): tally for (c, t, u), tally in tallies.items()})
    racing = {definition.id: definition for definition in challenges if definition.mode is Mode.FIRST_TO_GOAL}
    pairs = sorted({(c, team_ids[t]) for c, t, _ in tallies if c in racing})
    if pairs:
        await _record_goals(session, racing, pairs, now)
    return {challenge_id for challenge_id, _, _ in tallies}


async def _memberships(session: AsyncSession, user_ids: set[str]) -> tuple[TeamHistory, dict[str, uuid.UUID]]:
    """The users' membership history, and the ids of its teams by slug."""
    rows = list(
        await session.execute(
            select(
                TeamMembership.user_id, Team.id, Team.slug, TeamMembership.joined_at, TeamMembership.left_at
            )
            .join(Team, Team.id == TeamMembership.team_id)
            .where(TeamMembership.user_id.in_([uuid.UUID(user_id) for user_id in user_ids]))
        )
    )
    history = TeamHistory((str(user_id), slug, joined, left) for user_id, _, slug, joined, left in rows)
    return history, {slug: team_id for _, team_id, slug, _, _ in rows}


_UPSERT_POSTGRES = text(
    "INSERT INTO challenge_scores (challenge_id, team_id, user_id, total, events)"
    " SELECT * FROM unnest(CAST(:challenge_id AS text[]), CAST(:team_id AS uuid[]), CAST(:user_id AS uuid[]),"
    " CAST(:total AS float8[]), CAST(:events AS int[]))"
    " ON CONFLICT (challenge_id, team_id, user_id) DO UPDATE"
    " SET total = challenge_scores.total + excluded.total, events = challenge_scores.events + excluded.events"
)


async def upsert_scores(session: AsyncSession, tallies: dict[tuple[str, uuid.UUID, str], Tally]) -> None:
    """Add each tally to its ``challenge_scores`` row (created if missing), in one statement, in key order
    (concurrent batches touching the same rows lock them in one order)."""
    rows = [
        {
            "challenge_id": challenge_id,
            "team_id": team_id,
            "user_id": uuid.UUID(user_id),
            "total": tally.total,
            "events": tally.events,
        }
        for (challenge_id, team_id, user_id), tally in sorted(
            tallies.items(), key=lambda item: (item[0][0], str(item[0][1]), item[0][2])
        )
    ]
    if _dialect(session) == "postgresql":
        columns = ("challenge_id", "team_id", "user_id", "total", "events")
        await session.execute(_UPSERT_POSTGRES, {key: [row[key] for row in rows] for key in columns})
        return
    table = table_of(ChallengeScore)
    statement = _insert(session)(table)
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["challenge_id", "team_id", "user_id"],
            set_={"total": table.c.total + excluded.total, "events": table.c.events + excluded.events},
        ),
        rows,
    )


_LOCK_PAIRS = text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
)  # PostgreSQL evaluates a volatile output after the sort: the locks are taken in key order


def _lock_key(challenge_id: str, team_id: uuid.UUID) -> int:
    digest = hashlib.blake2b(f"challenge-goal:{challenge_id}:{team_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _record_goals(
    session: AsyncSession,
    racing: dict[str, ChallengeDefinition],
    pairs: Sequence[tuple[str, uuid.UUID]],
    now: datetime,
) -> None:
    if _dialect(session) == "postgresql":
        await session.execute(_LOCK_PAIRS, {"keys": sorted({_lock_key(c, t) for c, t in pairs})})
    challenge_ids = sorted({c for c, _ in pairs})
    team_ids = sorted({t for _, t in pairs})
    totals = {
        (challenge_id, team_id): float(total)
        for challenge_id, team_id, total in await session.execute(
            select(ChallengeScore.challenge_id, ChallengeScore.team_id, func.sum(ChallengeScore.total))
            .where(ChallengeScore.challenge_id.in_(challenge_ids), ChallengeScore.team_id.in_(team_ids))
            .group_by(ChallengeScore.challenge_id, ChallengeScore.team_id)
        )
    }
    members: dict[uuid.UUID, int] = defaultdict(int)
    if any(racing[c].scoring is Scoring.AVERAGE_PER_MEMBER for c, _ in pairs):
        # The current members, as the scoreboard counts them.
        for team_id, count in await session.execute(
            select(TeamMembership.team_id, func.count())
            .where(TeamMembership.team_id.in_(team_ids), TeamMembership.left_at.is_(None))
            .group_by(TeamMembership.team_id)
        ):
            members[team_id] = int(count)
    reached: list[dict[str, Any]] = [
        {"challenge_id": c, "team_id": t, "reached_at": now}
        for c, t in pairs
        if reached_goal(racing[c], totals.get((c, t), 0.0), members[t])
    ]
    if reached:
        # An existing row keeps its (earlier) time: a team reaches the goal once.
        await session.execute(
            _insert(session)(table_of(ChallengeGoalReached)).on_conflict_do_nothing(
                index_elements=["challenge_id", "team_id"]
            ),
            reached,
        )


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _insert(session: AsyncSession) -> Any:
    return sqlite_insert if _dialect(session) == "sqlite" else pg_insert
