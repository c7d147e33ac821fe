"""Publishing the live outbox after commit: the one way a committed change of a versioned topic reaches
the streams (and so the screens).

The scoring transaction writes each user's delta into the outbox with the version it leads the user's
document to (`persistence.live_outbox`), and holds no lock of ours across the network: once it has
committed, the process that scored the batch hands the entries to `OutboxRelay.publish`, which appends
them (`Streams.publish_versions`: each exactly once, in version order, whoever sends it and however
often) and deletes them. If a version before them is not published yet (another process committed it
and has not published it, or died first), the relay publishes that topic's earlier entries itself
(`catch_up`). What a crash leaves behind is swept: every relay's `run` loop publishes entries older
than ``grace`` every ``interval``; so a committed change reaches the streams within about
``grace + interval`` (1.5 s by default) even when the process that made it died right after its commit.

Deleting what is published is batched: `publish_committed` queues the ids, and the run loop deletes them
all in one statement before each sweep (a process that dies first leaves them to a sweep, which finds
them published: `Seen`, deleted). A batch's commit is therefore followed by Redis round trips only, not
by a second database transaction.

After the entries, `publish_committed` hands the documents the transaction changed (teams, the feed:
`server.services.topics.live_documents.Changed`) to ``on_changed``, the process's live documents, which
push them coalesced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from redis.exceptions import RedisError

from persistence.live_outbox import Outbox, OutboxEntry
from persistence.models import utcnow
from server.backoff import Backoff
from server.hub.streams import Missing, Streams, Versioned
from server.metrics.families import PUBLISH_FAILURES, REDIS_ERRORS
from server.services.background import Background
from server.services.topics.live_documents import Changed

log = logging.getLogger("gamif.live")

DEFAULT_GRACE_SECONDS = 1.0
"""How old an entry must be before a sweep takes it: its own process normally publishes it within
milliseconds of its commit; a sweep publishing it too would only be answered `Seen`."""
DEFAULT_INTERVAL_SECONDS = 0.5
SWEEP_BATCH = 1_000

OnChanged = Callable[[Sequence[Changed]], None]
"""Told, after a commit, which recomputed documents it changed (`LiveDocuments.changed`)."""


class OutboxRelay(Background):
    task_name = "gamif-outbox-relay"

    def __init__(
        self,
        outbox: Outbox,
        streams: Streams,
        *,
        on_changed: OnChanged | None = None,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self.outbox = outbox
        self.streams = streams
        self.on_changed = on_changed
        self.grace = timedelta(seconds=grace_seconds)
        self.interval = interval_seconds
        self._published: list[int] = []
        """Entries published and not deleted yet (`flush`)."""

    async def publish(self, entries: Sequence[OutboxEntry]) -> None:
        """Publish committed entries (any topics, any order); what is published is deleted with the next
        `flush` (the run loop's, every ``interval``)."""
        versioned = sorted(entries, key=lambda e: (e.topic, e.version))
        if not versioned:
            return
        outcomes = await self.streams.publish_versions(
            [Versioned(e.topic, e.version, e.payload) for e in versioned]
        )
        behind: dict[str, int] = {}
        for entry, outcome in zip(versioned, outcomes, strict=True):
            if isinstance(outcome, Missing):
                behind.setdefault(entry.topic, outcome.last)
            else:
                self._published.append(entry.id)
        for topic, last in behind.items():
            self._published += await self.catch_up(topic, last)

    async def flush(self) -> None:
        """Delete the entries published so far (one statement)."""
        done, self._published = self._published, []
        try:
            await self.outbox.remove(done)
        except BaseException:
            self._published += done  # the next flush tries again (or a sweep finds them published)
            raise

    async def publish_committed(
        self, entries: Sequence[OutboxEntry], changed: Sequence[Changed] = ()
    ) -> None:
        """`publish` what a transaction has just committed, right after its commit, then tell
        ``on_changed`` the documents it ``changed``; never raises. If the streams cannot be reached, the
        entries stay in the outbox and a sweep (this process's or any other's) publishes them: the
        transaction is committed, so its caller carries on (a worker still acknowledges its batch)."""
        if entries:
            try:
                await self.publish(entries)
            except Exception as error:
                PUBLISH_FAILURES.labels("outbox").inc()
                if isinstance(error, RedisError):
                    REDIS_ERRORS.labels("publish").inc()
                log.warning("live: %d committed change(s) left to the sweep (%r)", len(entries), error)
        if changed and self.on_changed is not None:
            self.on_changed(changed)

    async def bring_up(self, topic: str, last: int) -> None:
        """Publish a versioned topic's committed entries after version ``last`` and delete them (what a
        snapshot that found the stream behind its version does)."""
        self._published += await self.catch_up(topic, last)

    async def catch_up(self, topic: str, last: int) -> list[int]:
        """Publish a versioned topic's committed entries after version ``last``, in order; their ids."""
        entries = await self.outbox.after(topic, last)
        if not entries:
            return []
        outcomes = await self.streams.publish_versions(
            [Versioned(e.topic, e.version, e.payload) for e in entries]
        )
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, Missing):
                # A version in between is in no outbox (deleted by hand, or a database restored from a
                # backup): deltas cannot bring screens there. Start the topic over: its screens reload a
                # snapshot, and what is left becomes the new history's baseline.
                log.warning(
                    "live: %s has no outbox entry for version %d; its screens reload it",
                    topic,
                    outcome.last + 1,
                )
                await self.streams.drop(topic)
                rest = entries[index:]
                await self.streams.publish_versions([Versioned(e.topic, e.version, e.payload) for e in rest])
                break
        return [entry.id for entry in entries]

    async def sweep(self) -> int:
        """Publish what is older than the grace (left behind by a crash or a failed publish); how many."""
        swept, after = 0, 0
        cutoff = utcnow() - self.grace
        while True:
            entries = await self.outbox.older_than(cutoff, SWEEP_BATCH, after_id=after)
            if entries:
                await self.publish(entries)
                swept += len(entries)
                after = entries[-1].id
            if len(entries) < SWEEP_BATCH:
                await self.flush()
                return swept

    async def aclose(self) -> None:
        """Stop the loop, then delete what this process published (what it cannot, a sweep finds)."""
        await super().aclose()
        try:
            await self.flush()
        except Exception as error:
            log.warning("live: %d published outbox entries left to a sweep (%r)", len(self._published), error)

    async def _main(self) -> None:
        backoff = Backoff(self.interval, 30.0)
        while True:
            try:
                await self.flush()
                swept = await self.sweep()
            except Exception as error:  # a store is down: try again later, never give up
                delay = backoff.step()
                log.warning("live: the outbox sweep failed (%s); again in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            if swept:
                log.info("live: published %d outbox entries left behind", swept)
            backoff.reset()
            await asyncio.sleep(self.interval)


__all__ = ["DEFAULT_GRACE_SECONDS", "OutboxRelay"]
