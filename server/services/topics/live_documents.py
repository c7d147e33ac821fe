"""The live documents of the ``team:{slug}`` topics and of ``activity:global``: recomputed from the database
after the commits that change them, kept beside their streams, pushed coalesced.

Their writers (a scoring batch, a challenge's finish, a membership change, a rename) hold no lock of
these topics and publish nothing inside their transactions: each writes an unversioned entry into the
live outbox (``(topic, None, b"")``: "this document changed"), and after its commit hands it to the
process's outbox relay, which hands it here (`LiveDocuments.on_changed`, the relay's ``on_changed``).
Like the challenge scoreboards (`server.services.challenges.scoreboards`), a push computes the document
as the database has it now and publishes the delta from the stored document to it by a compare-and-set
on the topic's position (`server.services.topics.document_push`; `server.hub.documents` on Redis,
`MemoryDocuments` embedded), so a snapshot is the stored document at its position, consistent with the
stream by construction, and any number of processes may push one topic. Pushes are coalesced
(`server.services.topics.coalesce`): at most one per topic per ``push_ms``, however many batches
changed it meanwhile. The outbox entries are deleted once a push computed after them has published; if
the process dies first, a relay's sweep hands them to its own `LiveDocuments`.

Why this converges: every change marks its topic after its commit, and the push that follows computes
the document after that mark, so the last push of a topic shows every committed change; a push never
replaces a newer document (the compare-and-set fails and it diffs again). Which teams a scoring batch
marks: those its users belong to when it commits. A membership change takes the member's state row
(``FOR SHARE``, as `server.services.people.teams` does) so it cannot interleave with the member's
scoring: the one that commits second sees the other's change, and marks what it changed.

The feed's deltas keep its rows keyed by ``id`` (`protocol.row_ops`); the first document of a topic with
no stored one is a delta that sets the whole document.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine
from persistence.db import begin_snapshot_read
from persistence.live_outbox import Outbox, OutboxEntry
from persistence.models import utcnow
from protocol import activity_topic, diff_ops, row_ops
from server.hub.documents import Stored
from server.hub.publish import TopicChange
from server.hub.streams import Position
from server.services.topics.activity import activity_document
from server.services.topics.coalesce import Coalescer
from server.services.topics.document_push import Documents, PushFailed, push_document
from server.services.topics.documents import team_document
from server.services.topics.rows import find_team, team_members

log = logging.getLogger("gamif.live")

Document = dict[str, Any]


class UnknownTeam(LookupError):
    """The topic names no team (any more)."""


def changed_entry(topic: str) -> tuple[str, None, bytes]:
    """The outbox row saying that ``topic``'s document changed (written in the changing transaction)."""
    return topic, None, b""


class LiveDocuments:
    """One per process: serves the team and feed snapshots, and pushes those documents when told (by the
    outbox relay) that they changed."""

    def __init__(
        self,
        store: Documents,
        sessions: async_sessionmaker[AsyncSession],
        engine: Callable[[], Awaitable[Engine]],
        outbox: Outbox,
        *,
        push_ms: int = 250,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.engine = engine
        """The rules' current engine (`RulesService.engine`): team documents show levels."""
        self.outbox = outbox
        self.clock = clock
        self._last: dict[str, Stored] = {}
        self._entries: defaultdict[str, set[int]] = defaultdict(set)
        """The outbox entries of each topic that its next successful push makes redundant."""
        self._pushes = Coalescer(
            lambda topic: self.push(topic, min_interval_ms=push_ms), push_ms, log, gone=(UnknownTeam,)
        )

    # -- what changed -------------------------------------------------------------------------------

    def on_changed(self, entries: Sequence[OutboxEntry]) -> None:
        """The relay's ``on_changed``: push each entry's topic, then delete the entries it covers."""
        for entry in entries:
            self._entries[entry.topic].add(entry.id)
        self.changed(entry.topic for entry in entries)

    def changed(self, topics: Iterable[str]) -> None:
        """Schedule a push of each topic (from a running event loop)."""
        for topic in dict.fromkeys(topics):
            self._pushes.touch(topic)

    async def settled(self) -> None:
        """Until every topic marked so far has been pushed (or given up)."""
        await self._pushes.settled()

    async def aclose(self) -> None:
        """Push what is pending now (a process stopping), then stop."""
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

    async def push(self, topic: str, *, min_interval_ms: int = 0) -> Stored:
        """Publish the delta from the topic's stored document to the document as it is now (nothing if
        they are equal), then delete the outbox entries it covers; the document and position after it."""
        covered = self._entries.pop(topic, set())
        try:
            stored = self._last.get(topic) or await self.store.read(topic)
            stored = await push_document(
                self.store,
                topic,
                stored,
                lambda: self.document(topic),
                lambda before, after: _change(topic, before, after),
                min_interval_ms=min_interval_ms,
            )
        except UnknownTeam:
            await self.outbox.remove(covered)  # a team deleted: nothing left to show
            raise
        except BaseException as error:
            self._entries[topic] |= covered  # not pushed: the next try (or a sweep) covers them
            if isinstance(error, PushFailed):
                self._last.pop(topic, None)
            raise
        self._last[topic] = stored
        await self.outbox.remove(covered)
        return stored

    async def snapshot(self, topic: str) -> tuple[Document, Position]:
        """The stored document at the stream's head (pushed first if the topic has none); UnknownTeam."""
        stored = await self.store.read(topic)
        if stored.document is None:
            stored = await self.push(topic)
        assert stored.document is not None
        return stored.document, stored.position


def _change(topic: str, before: Document | None, after: Document) -> TopicChange:
    if before is None:
        return TopicChange(topic, [["set", [], after]])  # whatever a mirror had, it now has this
    if topic == activity_topic():
        ops = row_ops(("items",), "id", before["items"], after["items"])
        return TopicChange(topic, [op.to_wire() for op in ops])
    return TopicChange(topic, diff_ops(before, after))


__all__ = ["LiveDocuments", "UnknownTeam", "changed_entry"]
