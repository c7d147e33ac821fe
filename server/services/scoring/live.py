"""Live push of scoring results: each affected user's ``user:{id}`` delta and events (PROTOCOL.md §11, §13).

`ScoringPush` is the scorer's before-commit hook (`persistence.scoring.BeforeCommit`): inside the scoring
transaction, with the users' rows locked, it builds each user's document before and after the batch the
way snapshots build it (`server.services.topics.documents.user_document`) and writes the diff, with the
events of the engine's effects, into the live outbox (`persistence.live_outbox`) as the user's next live
version. Nothing of it goes to Redis inside the transaction: once the transaction has committed, the
caller hands the entries the push kept (``push.entries``) to the process's outbox relay
(`OutboxRelay.publish_committed`), which appends each as its topic's next version, once, in version
order; a failed transaction wrote no entry, so there is nothing to take back, and entries a dead or
cut-off process left behind are published by any relay's sweep. Snapshots of user topics pair the
state with its version (`server.services.topics.directory`).

Teams and the activity feed are documents recomputed after the commit
(`server.services.topics.live_documents`): in the transaction the push only notes, in memory, each team
an affected user belongs to, with the affected members (`changed_teams`), and, if the batch kept notable
moments, the feed; after the commit the relay hands those to the process's live documents, which push
them coalesced. No team or feed lock is taken, and nothing of them is written.

Events: ``xp_awarded`` (awards of 0 XP, absorbed by a daily cap, are left out, as from the ledger),
``level_up``, ``badge_earned`` (for an award the document shows), ``mission_completed``,
``streak_extended`` and ``streak_broken``. The engine's ``mission_progress`` effect has no event: the
progress is in the document.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
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
from persistence import live_outbox
from persistence.live_outbox import OutboxEntry
from persistence.models import BadgeAward, Team, TeamMembership, User
from persistence.pacing import pace
from persistence.scoring import ScoredBatch, ScoredUser
from protocol import activity_topic, diff_ops, team_topic, user_topic
from server.hub.publish import TopicChange, encode_change
from server.services.people.notifications import insert_notifications
from server.services.topics.documents import badge_key, mission_key, user_document
from server.services.topics.live_documents import Changed

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
        await pace()  # two documents built and diffed a user: the loop gets its turns between them
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


async def changed_teams(batch: ScoredBatch) -> list[Changed]:
    """The teams an affected user currently belongs to (archived ones too: their documents show the
    members' XP as it is), each with its affected members, in slug order. Read in the transaction, after
    the users' state rows were locked: a membership change of these users either committed before (and
    is seen here) or waits for this commit (and marks the teams it changes itself)."""
    users = [uuid.UUID(user_id) for user_id in batch.users]
    rows = await batch.session.execute(
        select(Team.slug, TeamMembership.user_id)
        .join(TeamMembership, TeamMembership.team_id == Team.id)
        .where(TeamMembership.user_id.in_(users), TeamMembership.left_at.is_(None))
    )
    members: defaultdict[str, set[str]] = defaultdict(set)
    for slug, user_id in rows:
        members[slug].add(str(user_id))
    return [Changed(team_topic(slug), frozenset(members[slug])) for slug in sorted(members)]


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
        "summary": explanation.summary,
    }


async def live_entries(batch: ScoredBatch, changes: Sequence[TopicChange]) -> list[OutboxEntry]:
    """Write the users' live changes into the outbox, in the batch's transaction: each as the user's next
    live version (their state rows are locked: versions follow the commit order)."""
    users = [uuid.UUID(change.topic.removeprefix("user:")) for change in changes]
    versions = await live_outbox.next_versions(batch.session, users)
    rows: list[tuple[str, int, bytes]] = []
    for user, change in zip(users, changes, strict=True):
        await pace()
        rows.append((change.topic, versions[user], encode_change(change)))
    return await live_outbox.add(batch.session, rows, batch.now)


class ScoringPush:
    """The before-commit hook of one ingest: keeps the notable moments as notifications, writes the users'
    live changes into the outbox (``entries``) and notes which team and feed documents changed
    (``changed``), to hand both to the process's outbox relay once committed.

    Use one per scoring call: ``await scorer.score(..., before_commit=push)``, then (committed) ``await
    relay.publish_committed(push.entries, push.changed)``. A failed transaction wrote no entry: nothing to
    take back."""

    def __init__(self) -> None:
        self.entries: list[OutboxEntry] = []
        """The outbox entries written in the transaction (worth publishing once it committed)."""
        self.changed: list[Changed] = []
        """The team and feed topics whose documents the transaction changed."""

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
        self.entries = await live_entries(batch, changes)
        self.changed = await changed_teams(batch)
        if inserted:
            self.changed.append(Changed(activity_topic()))
