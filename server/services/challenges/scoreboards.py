"""The live scoreboard of a challenge: the ``challenge:{id}`` topic (PROTOCOL.md, topics).

Its document (`game.challenges.document`, plus members' display names) is computed from the database:
the definition and state, the members' totals (``challenge_scores``, written by the scoring
transactions), the participating teams and their member counts, and when each reached the goal. Any
signed-in user may watch it (spectators included); only members' events ever count.

Like the leaderboards, the document is kept beside the topic's stream and each delta is published
together with the document it leads to, by a compare-and-set on the topic's position
(`server.hub.documents` on Redis; `server.hub.documents.MemoryDocuments` when embedded): a snapshot is the
stored document at its position, consistent with the stream by construction, and several processes may
publish one topic.

Pushes are coalesced: `changed` (a committed scoring batch, a start, a finish) marks the challenge, and
each topic is pushed at most once per ``push_ms``. A push whose state differs from the last one's also
carries an event: ``challenge_started`` or ``challenge_finished`` (with the results and rewards).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game.challenges import (
    ChallengeDefinition,
    ChallengeState,
    Results,
    document,
    standings,
)
from persistence.challenge_results import team_tallies
from persistence.models import Challenge, User, utcnow
from protocol import challenge_topic, diff_ops
from server.hub.documents import Stored
from server.hub.publish import TopicChange
from server.hub.streams import Position
from server.services.topics.coalesce import Coalescer
from server.services.topics.document_push import Documents, LastPushed

log = logging.getLogger("gamif.challenges")


class UnknownChallenge(LookupError):
    pass


class ChallengeScoreboards:
    """One per process: serves snapshots, and pushes coalesced deltas when told a challenge changed."""

    def __init__(
        self,
        store: Documents,
        sessions: async_sessionmaker[AsyncSession],
        *,
        push_ms: int = 250,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.push_ms = push_ms
        self.clock = clock
        self._last = LastPushed(store)
        self._pushes = Coalescer(
            lambda topic: self.push(topic, min_interval_ms=push_ms), push_ms, log, gone=(UnknownChallenge,)
        )

    # -- what changed -------------------------------------------------------------------------------

    def changed(self, challenge_ids: Iterable[str]) -> None:
        """`ChallengeNotifier`: schedule a push of each challenge's topic (from a running event loop)."""
        for challenge_id in challenge_ids:
            self._pushes.touch(challenge_topic(challenge_id))

    async def aclose(self) -> None:
        """Push what is pending now (a process stopping), then stop."""
        await self._pushes.aclose(self.push)

    # -- documents ----------------------------------------------------------------------------------

    async def exists(self, challenge_id: str) -> bool:
        async with self.sessions() as session:
            return await session.get(Challenge, challenge_id) is not None

    async def document(self, challenge_id: str) -> dict[str, Any]:
        """The scoreboard as the database has it now."""
        now = self.clock()
        async with self.sessions() as session:
            row = await session.get(Challenge, challenge_id)
            if row is None:
                raise UnknownChallenge(challenge_id)
            definition = ChallengeDefinition.model_validate(row.definition)
            state = ChallengeState(row.state)
            if state is ChallengeState.LIVE and now >= definition.ends_at:
                state = ChallengeState.CLOSING
            teams = await team_tallies(session, challenge_id, definition)
            members = {uuid.UUID(user_id) for _, tally in teams.values() for user_id in tally.contributions}
            names: dict[uuid.UUID, str] = {}
            if members:
                rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(members)))
                names = {row.id: row.display_name for row in rows}
        tallies = [tally for _, tally in teams.values()]
        table = standings(definition, tallies, now)
        results = None
        if state is ChallengeState.FINISHED and row.results is not None:
            results = Results.from_dict(row.results)
        shown = document(definition, table, state, results)
        for team in shown["teams"].values():
            for user_id, member in team["members"].items():
                member["display_name"] = names.get(uuid.UUID(user_id), user_id)
        return shown

    async def push(self, topic: str, *, min_interval_ms: int = 0) -> Stored:
        """Publish the delta from the topic's stored document to the scoreboard as it is now (nothing if
        they are equal); returns the document and position after it."""
        challenge_id = topic.split(":", 1)[1]
        return await self._last.push(
            topic,
            lambda _stored: self.document(challenge_id),
            lambda before, after: TopicChange(
                topic, diff_ops(before or {}, after), _transition_events(before or {}, after)
            ),
            min_interval_ms=min_interval_ms,
        )

    async def snapshot(self, challenge_id: str) -> tuple[dict[str, Any], Position]:
        """The document at the stream's head (see the module docstring); UnknownChallenge if none."""
        topic = challenge_topic(challenge_id)
        stored = await self.store.read(topic)
        if stored.document is None:
            # From what the store holds now: this process's memory of the topic may be of an epoch since
            # restarted (a Redis restart, `gamif restore`), and a snapshot must stand at the current one.
            self._last.last[topic] = stored
            stored = await self.push(topic)
        assert stored.document is not None
        return stored.document, stored.position


def _transition_events(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A start or a finish seen by this push (none for the first document of a topic)."""
    was, now = before.get("state"), after.get("state")
    if was is None or was == now:
        return []
    summary = {"challenge_id": after["id"], "name": after["name"], "state": now}
    if now == ChallengeState.LIVE and was == ChallengeState.SCHEDULED:
        return [("challenge_started", {**summary, "ends_at_ms": after["ends_at_ms"]})]
    if now == ChallengeState.FINISHED:
        return [("challenge_finished", {**summary, "results": after.get("results")})]
    return []


__all__ = ["ChallengeScoreboards", "Documents", "UnknownChallenge"]
