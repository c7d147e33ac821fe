"""A challenge's lifecycle in the database: starting it, and finishing it (results frozen, rewards paid).

Each transition happens exactly once however many processes attempt it, by construction:

- start: one conditional UPDATE (scheduled -> live where starts_at <= now); a second process's UPDATE
  matches nothing;
- finish: one transaction per challenge that locks its row (FOR UPDATE; SQLite: the database write lock),
  re-reads its state (another process may have finished it meanwhile: then nothing happens), computes
  the standings and results (`game.challenges`), stores them, marks the challenge finished, and pays the
  rewards. Everything commits together or nothing does: a process killed mid-way leaves the challenge
  live, and the next attempt finishes it once.

Who is paid: the members of a rewarded team at the end of the window (``ends_at``, by membership
history: joined before it, not left before it), whether or not they contributed; disabled accounts are
not paid. A user receives each kind of reward (rank, completion) at most once per challenge (the
``challenge_rewards`` primary key): a member of two rewarded teams gets the larger one. Eligibility
(``min_members``) counts a team's current members, as the live scoreboard does.

A reward goes through the engine (`Engine.grant`) like a mission's: XP with its level-ups, the badge if
the user lacks it, and ledger lines whose rule is ``challenges.<id>`` and whose explanation reads
"reward for rank 1 of 4 in November review sprint (score 412) → +200 XP".

Live screens: like a scoring batch (`persistence.scoring`), a finish takes an optional ``before_commit``
hook that runs last inside its transaction, the rewarded users' rows still locked, with a `ScoredBatch` of
them (their states before and after the rewards, the badge rows inserted). The server passes the scoring
path's push (`server.services.scoring.live.ScoringPush`): the members' ``user:`` deltas and events written
into the live outbox, and their notifications, stored in this transaction, so exactly once.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Effect, Engine, Outcome, UserState
from game.challenges import ChallengeDefinition, Results, TeamReward, TeamTally, results, standings

from .db import begin_write
from .models import (
    Challenge,
    ChallengeGoalReached,
    ChallengeReward,
    ChallengeScore,
    Team,
    TeamMembership,
    User,
    table_of,
)
from .scoring import BeforeCommit, ScoredBatch, ScoredUser, dump_state, load_state
from .scoring_rows import EffectRows
from .scoring_writes import writes_for

SCHEDULED, LIVE, FINISHED = "scheduled", "live", "finished"
REWARD_SOURCE = "challenge"
"""The ledger's ``source`` of a challenge's reward."""
_KIND_ORDER = {"rank": 0, "completion": 1}


@dataclass(frozen=True, slots=True)
class Pending:
    """A challenge not finished yet, with the instants the lifecycle acts at."""

    id: str
    state: str
    starts_at: datetime
    closes_at: datetime

    @property
    def next_boundary(self) -> datetime:
        return self.starts_at if self.state == SCHEDULED else self.closes_at


@dataclass(frozen=True, slots=True)
class Finished:
    """What finishing a challenge did: its frozen results and, by user id, the rewards' outcomes."""

    challenge_id: str
    results: Results
    rewarded: dict[str, Outcome]


@dataclass(frozen=True, slots=True)
class _Payment:
    user_id: uuid.UUID
    team_id: uuid.UUID
    reward: TeamReward


async def start_due(sessions: async_sessionmaker[AsyncSession], now: datetime) -> list[str]:
    """Move every scheduled challenge whose start has come to live; the ids this call moved."""
    table = table_of(Challenge)
    async with sessions() as session, session.begin():
        await begin_write(session)
        result = await session.execute(
            update(table)
            .where(table.c.state == SCHEDULED, table.c.starts_at <= now)
            .values(state=LIVE, started_at=now)
            .returning(table.c.id)
        )
        return sorted(result.scalars())


async def pending(sessions: async_sessionmaker[AsyncSession]) -> list[Pending]:
    """The challenges not finished yet (scheduled or live), by id."""
    async with sessions() as session:
        rows = await session.execute(
            select(
                Challenge.id, Challenge.state, Challenge.starts_at, Challenge.ends_at, Challenge.definition
            )
            .where(Challenge.state != FINISHED)
            .order_by(Challenge.id)
        )
        # closes_at is not a column: the grace period lives in the definition (its default included).
        return [
            Pending(id_, state, starts_at, ends_at + timedelta(seconds=_grace(definition)))
            for id_, state, starts_at, ends_at, definition in rows
        ]


async def finish(
    sessions: async_sessionmaker[AsyncSession],
    engine: Engine,
    challenge_id: str,
    now: datetime,
    *,
    before_commit: BeforeCommit | None = None,
) -> Finished | None:
    """Finish the challenge if it is due (closed by ``now``) and not finished yet, in one transaction;
    None when there was nothing to do (finished meanwhile, unknown, or its end was moved later).
    ``before_commit`` (if given) runs last inside the transaction when a user was rewarded, as the
    scorer's (see the module doc); raising from it rolls the finish back."""
    async with sessions() as session, session.begin():
        await begin_write(session)
        row = await session.scalar(select(Challenge).where(Challenge.id == challenge_id).with_for_update())
        if row is None or row.state == FINISHED:
            return None
        definition = ChallengeDefinition.model_validate(row.definition)
        if definition.closes_at > now:
            return None
        teams = await team_tallies(session, challenge_id, definition)
        table = standings(definition, [tally for _, tally in teams.values()], now)
        outcome = results(definition, table)
        row.results = outcome.as_dict()
        row.state = FINISHED
        row.finished_at = now
        if row.started_at is None:  # its whole window passed while no process ran
            row.started_at = now
        await session.flush()
        payments = await _payments(session, definition, teams, outcome)
        scored = await _pay(session, engine, challenge_id, payments, now)
        if before_commit is not None and scored:
            await session.flush()
            await before_commit(ScoredBatch(session, engine, now, scored))
    rewarded = {user_id: user.outcome for user_id, user in scored.items()}
    return Finished(challenge_id, outcome, rewarded)


def _grace(definition: dict[str, Any]) -> int:
    grace = definition.get("grace_seconds")
    if grace is None:
        grace = ChallengeDefinition.model_fields["grace_seconds"].default
    return int(grace)


async def team_tallies(
    session: AsyncSession, challenge_id: str, definition: ChallengeDefinition
) -> dict[str, tuple[uuid.UUID, TeamTally]]:
    """By slug: each participating team's id and tally (every active team when none are listed): what
    the results are computed from, and the live scoreboard too."""
    members = (
        select(TeamMembership.team_id, func.count().label("n"))
        .where(TeamMembership.left_at.is_(None))
        .group_by(TeamMembership.team_id)
        .subquery()
    )
    query = select(Team.id, Team.slug, Team.name, func.coalesce(members.c.n, 0)).outerjoin(
        members, members.c.team_id == Team.id
    )
    if definition.teams is not None:
        query = query.where(Team.slug.in_(definition.teams))
    else:
        query = query.where(Team.archived_at.is_(None))
    teams = list(await session.execute(query))
    contributions: dict[uuid.UUID, dict[str, float]] = defaultdict(dict)
    scores = await session.execute(
        select(ChallengeScore.team_id, ChallengeScore.user_id, func.sum(ChallengeScore.total))
        .where(ChallengeScore.challenge_id == challenge_id)
        .group_by(ChallengeScore.team_id, ChallengeScore.user_id)
    )
    for team_id, user_id, total in scores:
        contributions[team_id][str(user_id)] = float(total)
    goal_rows = await session.execute(
        select(ChallengeGoalReached.team_id, ChallengeGoalReached.reached_at).where(
            ChallengeGoalReached.challenge_id == challenge_id
        )
    )
    reached = dict(goal_rows.all())
    return {
        slug: (
            team_id,
            TeamTally(slug, name, int(count), contributions.get(team_id, {}), reached.get(team_id)),
        )
        for team_id, slug, name, count in teams
    }


async def _payments(
    session: AsyncSession,
    definition: ChallengeDefinition,
    teams: dict[str, tuple[uuid.UUID, TeamTally]],
    outcome: Results,
) -> list[_Payment]:
    """Each member's rewards: one per kind, the larger when a user is in two rewarded teams."""
    if not outcome.rewards:
        return []
    team_ids = sorted({teams[reward.team][0] for reward in outcome.rewards})
    end = definition.ends_at
    rows = await session.execute(
        select(TeamMembership.team_id, TeamMembership.user_id)
        .join(User, User.id == TeamMembership.user_id)
        .where(
            TeamMembership.team_id.in_(team_ids),
            TeamMembership.joined_at < end,
            or_(TeamMembership.left_at.is_(None), TeamMembership.left_at >= end),
            User.disabled_at.is_(None),
        )
        .distinct()
    )
    members: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for team_id, user_id in rows:
        members[team_id].add(user_id)
    chosen: dict[tuple[uuid.UUID, str], _Payment] = {}
    for reward in outcome.rewards:
        team_id = teams[reward.team][0]
        for user_id in members[team_id]:
            key = (user_id, reward.kind)
            best = chosen.get(key)
            if best is None or (reward.xp, reward.badge is not None) > (
                best.reward.xp,
                best.reward.badge is not None,
            ):
                chosen[key] = _Payment(user_id, team_id, reward)
    return sorted(chosen.values(), key=lambda p: (p.user_id, _KIND_ORDER[p.reward.kind]))


async def _insert_rewards(
    session: AsyncSession, challenge_id: str, payments: Sequence[_Payment], now: datetime
) -> set[tuple[uuid.UUID, str]]:
    """Record the payments unless recorded already; the (user, kind) pairs this call recorded."""
    table = table_of(ChallengeReward)
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    statement = insert(table).on_conflict_do_nothing().returning(table.c.user_id, table.c.kind)
    rows = [
        {
            "challenge_id": challenge_id,
            "user_id": p.user_id,
            "kind": p.reward.kind,
            "team_id": p.team_id,
            "xp": p.reward.xp,
            "badge": p.reward.badge,
            "granted_at": now,
        }
        for p in payments
    ]
    result = await session.execute(statement, rows)
    return {(user_id, kind) for user_id, kind in result}


async def _pay(
    session: AsyncSession,
    engine: Engine,
    challenge_id: str,
    payments: Sequence[_Payment],
    now: datetime,
) -> dict[str, ScoredUser]:
    """Record the rewards, then apply those newly recorded to the users' states, ledgers and badges; by
    user id, each rewarded user's part (as a scored batch's, for the before-commit hook)."""
    if not payments:
        return {}
    recorded = await _insert_rewards(session, challenge_id, payments, now)
    by_user: dict[uuid.UUID, list[TeamReward]] = defaultdict(list)
    for p in payments:
        if (p.user_id, p.reward.kind) in recorded:
            by_user[p.user_id].append(p.reward)
    if not by_user:
        return {}
    writes = writes_for(session)
    # Locked in user-id order, as the scoring transactions do, so the two never deadlock on states.
    locked = await writes.lock_states(session, sorted(by_user), engine.version, now)
    rule_id = f"challenges.{challenge_id}"
    states: list[dict[str, Any]] = []
    rows = EffectRows()
    befores: dict[str, tuple[str, UserState, int, Outcome]] = {}
    for user_id, version, stored, timezone in locked:
        state = before = load_state(engine, str(user_id), timezone, stored)
        effects: list[Effect] = []
        for reward in by_user[user_id]:
            outcome = engine.grant(
                state,
                xp=reward.xp,
                badge=reward.badge,
                source=REWARD_SOURCE,
                explanation=reward.explanation,
                rule_id=rule_id,
                summary=reward.summary or None,
            )
            state = outcome.state
            effects.extend(outcome.effects)
        befores[str(user_id)] = (timezone, before, version, Outcome(state, tuple(effects), ()))
        states.append(
            {
                "user_id": user_id,
                "xp": state.xp,
                "level": state.level,
                "rule_version": engine.version,
                "state": dump_state(state),
                "updated_at": now,
            }
        )
        rows.add(user_id, effects, now)
    await writes.update_states(session, states)
    new_badges = await rows.write(session, writes)
    return {
        key: ScoredUser(key, timezone, before, version, outcome, frozenset(new_badges.get(key, ())))
        for key, (timezone, before, version, outcome) in befores.items()
    }


__all__ = ["FINISHED", "LIVE", "SCHEDULED", "Finished", "Pending", "finish", "pending", "start_due"]
