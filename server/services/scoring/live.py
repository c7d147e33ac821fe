"""Live push of scoring results: each affected user's ``user:{id}`` delta and events (PROTOCOL.md §11, §13).

`ScoringPush` is the scorer's before-commit hook (`persistence.scoring.BeforeCommit`): inside the scoring
transaction, with the users' rows locked, it builds each user's document before and after the batch the
way snapshots build it (`server.services.topics.documents.user_document`), and publishes the diff with the
events of the engine's effects, all users in one `Publisher.publish` call. Publishing under the locks orders
the deltas as the states (and makes snapshots consistent: see `server.services.topics.directory`). The same
call carries, after the users' changes, a ``team:{slug}`` delta for each team an affected user belongs to
(`team_changes`). If the transaction then fails, `undo` resets the topics so that screens reload them
instead of keeping a change that did not happen.

Events: ``xp_awarded`` (awards of 0 XP, absorbed by a daily cap, are left out, as from the ledger),
``level_up``, ``badge_earned`` (for an award the document shows), ``mission_completed``,
``streak_extended`` and ``streak_broken``. The engine's ``mission_progress`` effect has no event: the
progress is in the document.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from game import (
    BadgeEarned,
    Effect,
    Engine,
    LevelUp,
    MissionCompleted,
    StreakBroken,
    StreakExtended,
    XpAwarded,
)
from persistence.models import BadgeAward, TeamMembership, User
from persistence.scoring import ScoredBatch, ScoredUser
from protocol import diff_ops, team_topic, user_topic
from server.hub.publish import Publisher, TopicChange
from server.services.people.notifications import insert_notifications
from server.services.topics.activity import activity_changes
from server.services.topics.documents import TeamMember, badge_key, mission_key, team_document, user_document
from server.services.topics.locks import lock_teams
from server.services.topics.rows import team_members

log = logging.getLogger("gamif.live")

Event = tuple[str, dict[str, Any]]

NOTIFIED = frozenset({"level_up", "badge_earned", "mission_completed"})
"""Events kept as notifications until read (`server.services.people.notifications`)."""


async def user_changes(batch: ScoredBatch) -> list[TopicChange]:
    """One change per affected user (in user-id order): the delta from the document before the batch to
    the document after it, and the events of what the engine decided."""
    session, engine = batch.session, batch.engine
    ids = sorted(uuid.UUID(user_id) for user_id in batch.users)
    people = {str(user.id): user for user in await session.scalars(select(User).where(User.id.in_(ids)))}
    # Read inside the transaction: the rows include the badges this batch earned.
    earned: dict[str, list[BadgeAward]] = defaultdict(list)
    for row in await session.scalars(
        select(BadgeAward)
        .where(BadgeAward.user_id.in_(ids), BadgeAward.revoked_at.is_(None))
        .order_by(BadgeAward.earned_at, BadgeAward.id)
    ):
        earned[str(row.user_id)].append(row)
    changes = []
    for user_id in map(str, ids):
        scored, person = batch.users[user_id], people[user_id]
        badges_after = earned[user_id]
        badges_before = [
            row for row in badges_after if (row.badge_id, row.tier, row.period) not in scored.new_badges
        ]
        before = user_document(
            engine, person, scored.before, scored.before_rule_version, badges_before, batch.now
        )
        after = user_document(engine, person, scored.outcome.state, engine.version, badges_after, batch.now)
        ops = diff_ops(before, after)
        events = user_events(engine, scored, after)
        if ops or events:
            changes.append(TopicChange(user_topic(user_id), ops, events))
    return changes


async def team_changes(batch: ScoredBatch) -> list[TopicChange]:
    """One change per team that an affected user currently belongs to, in team-id order:
    the delta from the team's document before the batch to the document after it, in five queries.

    The teams' rows are locked FOR UPDATE, after the users' (which the scorer locked: users, then teams,
    each in id order, so no deadlock): concurrent batches of two members of one team build the team's
    document one after the other, each from what the other committed. Members join and leave under the
    user's and the team's locks (`server.services.people.teams`), so the memberships read here hold until
    commit."""
    session, engine = batch.session, batch.engine
    users = [uuid.UUID(user_id) for user_id in batch.users]
    # Archived teams too: their snapshot shows the members' XP as it is, so their mirrors must follow.
    team_ids = await session.scalars(
        select(TeamMembership.team_id)
        .where(TeamMembership.user_id.in_(users), TeamMembership.left_at.is_(None))
        .distinct()
    )
    teams = list(await lock_teams(session, team_ids, read=False))
    if not teams:
        return []
    members = await team_members(session, engine, [team.id for team in teams], batch.now)
    changes = []
    for team in teams:
        after = members[team.id]
        before = [_member_before(member, batch.users.get(member.user_id)) for member in after]
        ops = diff_ops(team_document(engine, team, before), team_document(engine, team, after))
        if ops:
            changes.append(TopicChange(team_topic(team.slug), ops))
    return changes


def _member_before(member: TeamMember, scored: ScoredUser | None) -> TeamMember:
    """A member as the team document showed them before the batch: its ledger lines (all created at the
    batch's time, so in the week ``member.weekly_xp`` sums) were not there yet."""
    if scored is None:
        return member
    added = sum(effect.amount for effect in scored.outcome.effects if isinstance(effect, XpAwarded))
    return dataclasses.replace(member, xp=scored.before.xp, weekly_xp=member.weekly_xp - added)


def user_events(engine: Engine, scored: ScoredUser, after: dict[str, Any]) -> list[Event]:
    """The §13 events of a user's effects, in the engine's order; ``after`` is the user's new document."""
    rules = engine.rules
    events: list[Event] = []
    xp = scored.before.xp
    data: dict[str, Any]
    for effect in scored.outcome.effects:
        if isinstance(effect, XpAwarded):
            if not effect.amount:
                continue
            xp += effect.amount  # the running total: each award says where it brought the user
            events.append(("xp_awarded", {"amount": effect.amount, "xp": xp, **_explained(effect)}))
        elif isinstance(effect, LevelUp):
            data = {
                "level": effect.level_to,
                "previous_level": effect.level_from,
                "xp": effect.xp,
            }
            events.append(("level_up", {**data, **_explained(effect)}))
        elif isinstance(effect, BadgeEarned):
            key = badge_key(effect.badge_id, effect.tier, effect.period)
            if key not in after["badges"]:
                continue  # already awarded, then revoked: the document does not show it
            data = {"key": key, "badge_id": effect.badge_id, "name": effect.name}
            if effect.tier is not None:
                data["tier"] = effect.tier
            if effect.period is not None:
                data["period"] = effect.period
            badge = rules.badges.get(effect.badge_id)
            if badge is not None and badge.xp:
                data["xp"] = badge.xp
            events.append(("badge_earned", {**data, **_explained(effect)}))
        elif isinstance(effect, MissionCompleted):
            mission = rules.missions[effect.mission_id]
            data = {
                "key": mission_key(effect.mission_id, effect.period),
                "mission_id": effect.mission_id,
                "name": mission.name,
                "period": effect.period,
                "reward_xp": effect.reward_xp,
            }
            events.append(("mission_completed", {**data, **_explained(effect)}))
        elif isinstance(effect, StreakExtended):
            name = rules.streaks[effect.streak_id].name
            data = {
                "streak_id": effect.streak_id,
                "name": name,
                "current": effect.length,
                "best": effect.best,
            }
            events.append(("streak_extended", {**data, **_explained(effect)}))
        elif isinstance(effect, StreakBroken) and effect.previous_length > 0:
            name = rules.streaks[effect.streak_id].name
            data = {
                "streak_id": effect.streak_id,
                "name": name,
                "previous": effect.previous_length,
            }
            events.append(("streak_broken", {**data, **_explained(effect)}))
    return events


def _explained(effect: Effect) -> dict[str, Any]:
    explanation = effect.explanation
    return {
        "rule_id": explanation.rule_id,
        "rule_version": explanation.rule_version,
        "explanation": explanation.text,
    }


class ScoringPush:
    """The before-commit hook of one ingest: publishes its users' changes, and can take them back.

    Use one per scoring call: ``await scorer.score(..., before_commit=push)``; if that raises, ``await
    push.undo()``."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.topics: list[str] = []
        """The topics a publish was attempted on (a failed publish may have published some of them)."""

    async def __call__(self, batch: ScoredBatch) -> None:
        changes = await user_changes(batch)
        # What a player must hear about even if away is kept, in the same transaction as the award.
        kept = [
            {"user_id": uuid.UUID(change.topic.removeprefix("user:")), "kind": name, "data": dict(data)}
            for change in changes
            for name, data in change.events
            if name in NOTIFIED
        ]
        inserted = await insert_notifications(batch.session, kept, batch.now)
        changes += await team_changes(batch)
        changes += await activity_changes(batch, inserted)  # last: it takes the feed's lock (see .activity)
        self.topics = [change.topic for change in changes]
        await self.publisher.publish(changes)

    async def undo(self) -> None:
        """Reset the topics published on (their screens reload a snapshot); never raises, so that the
        caller can re-raise the error that made the transaction fail."""
        if not self.topics:
            return
        try:
            await self.publisher.reset(self.topics)
        except Exception:
            log.exception("live: could not reset %d topic(s) after a failed scoring", len(self.topics))
