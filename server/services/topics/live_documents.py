"""The live documents of the ``team:{slug}`` topics and of ``activity:global``: recomputed from the database
after the commits that change them, kept beside their streams, pushed coalesced.

Their writers (a scoring batch, a challenge's finish, a membership change, a rename) hold no lock of
these topics and publish nothing inside their transactions: after the commit, each tells its process's
`LiveDocuments` what changed (`Changed`: a topic, and for a team the members whose entries changed),
through the outbox relay (`server.services.topics.outbox_relay`). Nothing about these topics is written
to the database: they are documents the database already implies, so a mark is only "look again".
Like the challenge scoreboards (`server.services.challenges.scoreboards`), a push computes the document
as the database has it now and publishes the delta from the stored document to it by a compare-and-set
on the topic's position (`server.services.topics.document_push`; `server.hub.documents` on Redis,
`MemoryDocuments` embedded), so a snapshot is the stored document at its position, consistent with the
stream by construction, and any number of processes may push one topic. Pushes are coalesced
(`server.services.topics.coalesce`): at most one per topic per ``push_ms`` per process
(``GAMIF_TEAM_PUSH_MS``, 1 s by default), however many batches changed it meanwhile.

What a push reads. A team's push brings up to date only the members marked since its last push (their
XP, weekly XP and names, in one statement over those members): a 100-member team is not re-read for
every change of one of them. It recomputes the whole team when told so (a membership change, a rename),
when the topic has no stored document, and at least every `FULL_EVERY_S` (so a new week's weekly XP
shows even for members who did nothing). The feed is 50 rows: always recomputed.

Why this converges: every change marks its topic after its commit, and the push that follows reads the
database after that mark and after learning the stored document's position, so a push that publishes
shows every change committed before it read; a push never replaces a newer document (the
compare-and-set fails, and it patches the newer one). A mark lives in its process's memory only: if the
process dies between a commit and its push, the mark is lost, so the processes that score (the workers;
embedded, the hub) also reconcile (`reconcile`, every `RECONCILE_EVERY_S`, started with `start`): they
mark again the members whose state changed since their last round (``user_states.updated_at``), the
teams whose membership changed, and the feed; pushes of what did not change publish nothing. A committed
change therefore reaches its screens within about ``push_ms`` when its process lives, and within
`RECONCILE_EVERY_S` + `RECONCILE_GRACE_S` + ``push_ms`` (4 s by default) when it died right after its
commit (a process that starts looks back `RECONCILE_LOOK_BACK_S`, for a crash with no survivor).

Which teams a scoring batch marks: those its users belong to when it commits. A membership change takes
the member's state row (``FOR SHARE``, as `server.services.people.teams` does) so it cannot interleave
with the member's scoring: the one that commits second sees the other's change, and marks what it changed.

The feed's deltas keep its rows keyed by ``id`` (`protocol.row_ops`); the first document of a topic with
no stored one is a delta that sets the whole document.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine
from persistence.db import begin_snapshot_read
from persistence.models import utcnow
from protocol import activity_topic, diff_ops, row_ops, team_topic
from server.hub.documents import Stored
from server.hub.publish import TopicChange
from server.hub.streams import Position
from server.services.background import Background
from server.services.topics.activity import activity_document
from server.services.topics.coalesce import Coalescer
from server.services.topics.document_push import Documents, PushFailed, push_document
from server.services.topics.documents import team_document, team_member_entry, team_totals
from server.services.topics.rows import (
    find_team,
    recently_changed_members,
    team_members,
    team_members_of,
)

log = logging.getLogger("gamif.live")

Document = dict[str, Any]


FULL_EVERY_S = 10.0
"""A team's push recomputes the whole team at least this often (per process)."""
RECONCILE_EVERY_S = 2.0
"""How often a process looks for changes whose marks a dead process took with it."""
RECONCILE_GRACE_S = 1.0
RECONCILE_LOOK_BACK_S = 60.0
"""How far back a process's first reconciliation looks."""
"""How far back before its last round a reconciliation looks (commits land after their clock reading)."""


class UnknownTeam(LookupError):
    """The topic names no team (any more)."""


@dataclass(frozen=True, slots=True)
class Changed:
    """A committed change of a live document's topic. ``members``: for a team, the user ids of the
    members whose entries changed (None: anything may have: recompute it whole)."""

    topic: str
    members: frozenset[str] | None = None


class LiveDocuments(Background):
    """One per process: serves the team and feed snapshots, pushes those documents when told that they
    changed, and (started) reconciles them every `RECONCILE_EVERY_S`."""

    task_name = "gamif-live-documents"

    def __init__(
        self,
        store: Documents,
        sessions: async_sessionmaker[AsyncSession],
        engine: Callable[[], Awaitable[Engine]],
        *,
        push_ms: int = 250,
        clock: Callable[[], datetime] = utcnow,
        reconcile_every_s: float = RECONCILE_EVERY_S,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.engine = engine
        """The rules' current engine (`RulesService.engine`): team documents show levels."""
        self.clock = clock
        self.reconcile_every_s = reconcile_every_s
        self._last: dict[str, Stored] = {}
        self._marked: dict[str, set[str] | None] = {}
        """Per marked topic, the members whose entries changed since its last push (None: recompute it
        whole)."""
        self._full_at: dict[str, float] = {}
        """When each topic was last recomputed whole here (monotonic seconds)."""
        self._pushes = Coalescer(
            lambda topic: self.push(topic, min_interval_ms=push_ms), push_ms, log, gone=(UnknownTeam,)
        )

    # -- what changed -------------------------------------------------------------------------------

    def changed(self, changes: Iterable[Changed]) -> None:
        """Schedule a push of each change's topic (from a running event loop)."""
        for change in changes:
            marked = self._marked.get(change.topic, set())
            if change.members is None or marked is None:
                self._marked[change.topic] = None
            else:
                self._marked[change.topic] = marked | change.members
            self._pushes.touch(change.topic)

    def _mark_again(self, topic: str, members: set[str] | None) -> None:
        """A push that did not publish: its marks join whatever was marked since."""
        self.changed([Changed(topic, None if members is None else frozenset(members))])

    async def settled(self) -> None:
        """Until every topic marked so far has been pushed (or given up)."""
        await self._pushes.settled()

    async def aclose(self) -> None:
        """Stop reconciling, push what is pending now (a process stopping), then stop."""
        await super().aclose()
        await self._pushes.aclose(self.push)

    # -- documents ----------------------------------------------------------------------------------

    async def document(self, topic: str) -> Document:
        """The topic's document as the database has it now, read from one snapshot of it."""
        engine = await self.engine() if topic != activity_topic() else None
        async with self.sessions() as session, session.begin():
            await begin_snapshot_read(session)
            if engine is None:
                return await activity_document(session)
            team = await find_team(session, topic.removeprefix("team:"))
            if team is None:
                raise UnknownTeam(topic)
            members = await team_members(session, engine, [team.id], self.clock())
            return team_document(engine, team, members[team.id])

    async def patched(self, topic: str, stored: Document, changed: Collection[str]) -> Document:
        """``stored`` (a team's document) with the entries of the members ``changed`` (user ids) as the
        database has them now: brought up to date, added (joined), or removed (left); the totals follow.
        One statement; the team's own fields stay as stored (a change of those, or of the team's existence,
        marks the topic to be recomputed whole)."""
        engine = await self.engine()
        ids = [uuid.UUID(user_id) for user_id in changed]
        async with self.sessions() as session:
            members = await team_members_of(session, engine, topic.removeprefix("team:"), ids, self.clock())
        shown = dict(stored["members"])
        for user_id in changed:
            shown.pop(user_id, None)
        shown.update({member.user_id: team_member_entry(engine, member) for member in members})
        return {**stored, "members": shown, "totals": team_totals(shown)}

    async def push(self, topic: str, *, min_interval_ms: int = 0) -> Stored:
        """Publish the delta from the topic's stored document to the document as it is now (nothing if
        they are equal); the document and position after it."""
        members = self._marked.pop(topic, None)
        whole = (
            members is None
            or topic == activity_topic()
            or time.monotonic() - self._full_at.get(topic, -FULL_EVERY_S) >= FULL_EVERY_S
        )

        async def compute(stored: Document | None) -> Document:
            if whole or stored is None or members is None:
                return await self.document(topic)
            return await self.patched(topic, stored, members)

        started = time.monotonic()
        try:
            stored = self._last.get(topic) or await self.store.read(topic)
            stored = await push_document(
                self.store,
                topic,
                stored,
                compute,
                lambda before, after: _change(topic, before, after),
                min_interval_ms=min_interval_ms,
            )
        except UnknownTeam:
            self._last.pop(topic, None)  # a team deleted: nothing left to show
            raise
        except BaseException as error:
            self._mark_again(topic, members)  # not pushed: the next try covers them
            if isinstance(error, PushFailed):
                self._last.pop(topic, None)
            raise
        if whole:
            self._full_at[topic] = started
        self._last[topic] = stored
        return stored

    async def snapshot(self, topic: str) -> tuple[Document, Position]:
        """The stored document at the stream's head (pushed first if the topic has none); UnknownTeam."""
        stored = await self.store.read(topic)
        if stored.document is None:
            # From what the store holds now: this process's memory of the topic may be of an epoch since
            # restarted (a Redis restart, `gamif restore`), and a snapshot must stand at the current one.
            self._last[topic] = stored
            stored = await self.push(topic)
        assert stored.document is not None
        return stored.document, stored.position

    # -- reconciling --------------------------------------------------------------------------------

    async def reconcile(self, since: datetime) -> list[Changed]:
        """Mark the members of teams whose state changed since ``since``, the teams a member joined or
        left since (to be recomputed whole) and the feed; what it marked."""
        async with self.sessions() as session:
            members, moved = await recently_changed_members(session, since)
        changes = [Changed(activity_topic())]
        changes += [Changed(team_topic(slug)) for slug in sorted(moved)]
        changes += [
            Changed(team_topic(slug), frozenset(ids))
            for slug, ids in sorted(members.items())
            if slug not in moved
        ]
        self.changed(changes)
        return changes

    async def _main(self) -> None:
        # At start, look back further: a process restarted after a crash covers what the crash left.
        since = self.clock() - timedelta(seconds=RECONCILE_LOOK_BACK_S)
        while True:
            await asyncio.sleep(self.reconcile_every_s)
            started = self.clock()
            try:
                await self.reconcile(since - timedelta(seconds=RECONCILE_GRACE_S))
            except Exception as error:  # a store is down: the next round looks further back
                log.warning("live: could not reconcile the team and feed documents (%r)", error)
                continue
            since = started


def _change(topic: str, before: Document | None, after: Document) -> TopicChange:
    if before is None:
        return TopicChange(topic, [["set", [], after]])  # whatever a mirror had, it now has this
    if topic == activity_topic():
        ops = row_ops(("items",), "id", before["items"], after["items"])
        return TopicChange(topic, [op.to_wire() for op in ops])
    return TopicChange(topic, diff_ops(before, after))


__all__ = ["FULL_EVERY_S", "RECONCILE_EVERY_S", "Changed", "LiveDocuments", "UnknownTeam"]
