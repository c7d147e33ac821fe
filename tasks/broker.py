"""The task queue: taskiq on a Redis stream, made to lose nothing.

taskiq-redis's `RedisStreamBroker` is the one that acknowledges (at-least-once), with three gaps this
subclass closes:

- its consumer group starts at ``$``, so messages kicked before the first worker created the group are
  never read: the group starts at ``0`` here;
- it re-claims a crashed worker's unacknowledged messages only after it has read new ones, so with no
  new traffic they wait forever: here every reader claims messages idle for ``claim_idle_ms`` every
  ``claim_every`` seconds, traffic or not (XAUTOCLAIM is atomic: two workers never claim the same one);
- its stream grows forever unless given a ``maxlen``, which would drop unread messages under a
  backlog: here the readers trim only what the group has acknowledged (below the oldest pending
  message and the last delivered one).

A message is acknowledged only when its task says so (`tasks.scoring` acknowledges after the commit),
and the acknowledgement is retried while Redis is down. While a worker holds a message (running it,
or waiting for a store to come back) it renews its claim every third of ``claim_idle_ms`` (XCLAIM
JUSTID: the delivery count stays), so only the messages of a worker that died or hangs are taken over,
not those of a live worker waiting out an outage.

What cannot be run goes to the dead-letter stream ``<queue>:dead`` (`dead_letter`), kept until an admin
replays or drops it (`gamif queue`, `server.cli.queue_commands`).

A message may therefore run twice (a worker that dies after its work but before its ack, or one
that stalls longer than ``claim_idle_ms``): tasks must be idempotent, as scoring is (per event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage

from server.backoff import Backoff
from server.metrics.families import REDIS_ERRORS

from .compat.taskiq_redis import MESSAGE_FIELD, StreamBroker
from .dead_letters import dead_letter_fields

_CLAIM_BATCH = 100
_RETRY_FIRST = 0.1
_RETRY_MAX = 5.0

log = logging.getLogger("gamif.tasks")


CONSUMER_GROUP = "gamif-workers"
"""The consumer group every worker reads the queue in."""


class ReliableStreamBroker(StreamBroker):
    def __init__(
        self,
        url: str,
        *,
        queue_name: str,
        consumer_group_name: str = CONSUMER_GROUP,
        claim_idle_ms: int = 30_000,
        claim_every: float = 1.0,
        read_block_ms: int = 1_000,
        max_deliveries: int = 10,
        **connection_kwargs: Any,
    ) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=consumer_group_name,
            start_id="0",
            # Kept under redis-py's 5 s socket timeout, so that a blocked read never looks like a dead link.
            read_block_ms=read_block_ms,
            claim_idle_ms=claim_idle_ms,
            **connection_kwargs,
        )
        self.claim_every = claim_every
        self.max_deliveries = max_deliveries
        """A message taken this many times by workers that never finished it (each died, or hung, while
        holding it: one that kills its worker, say) is not delivered again but dead-lettered."""
        self.dead_letter_name = f"{queue_name}:dead"
        self._held: set[bytes] = set()
        """Entries this process took and has not acknowledged: their claim is renewed (`_renew`)."""
        self.renew_every = claim_idle_ms / 3000
        """Seconds between two renewals of the claims on the held entries: a third of the claim timeout."""

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        # A Redis restart or a network cut must not end the worker: wait, reconnect, read on. What was
        # taken and not acknowledged is pending in the group (kept by Redis's persistence) and claimed.
        # The claims are renewed beside the reading: taskiq stops reading while every task slot is busy
        # (all of them waiting out an outage, say), and that is when they matter.
        renewing = asyncio.create_task(self._keep_claims())
        backoff = Backoff(_RETRY_FIRST, _RETRY_MAX)
        try:
            while True:
                try:
                    async for message in self._listen_once():
                        backoff.reset()
                        yield message
                except (RedisError, OSError) as error:
                    REDIS_ERRORS.labels("queue").inc()
                    delay = backoff.step()
                    log.warning("task queue: Redis unavailable (%r); retrying in %.1f s", error, delay)
                    await asyncio.sleep(delay)
                    with contextlib.suppress(RedisError, OSError):
                        await self.declare_consumer_group()  # a Redis that restarted empty has no group
        finally:
            renewing.cancel()

    async def _keep_claims(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    await self._renew(redis)
            except (RedisError, OSError):
                pass  # Redis is down: no other worker can claim them either; the reader says so

    async def _listen_once(self) -> AsyncGenerator[AckableMessage, None]:
        queue, group = self.queue_name, self.consumer_group_name
        async with Redis(connection_pool=self.connection_pool) as redis:
            next_claim = 0.0
            while True:
                # redis-py types stream replies loosely: [(stream, [(id, {field: value})])].
                fetched: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] = await redis.xreadgroup(
                    group, self.consumer_name, {queue: ">"}, block=self.read_block_ms, count=self.read_count
                )  # type: ignore[assignment]
                for _stream, entries in fetched or ():
                    for entry_id, fields in entries:
                        yield self._message(entry_id, fields)
                if time.monotonic() < next_claim:
                    continue
                next_claim = time.monotonic() + self.claim_every
                for entry_id, fields in await self._claim(redis):
                    yield self._message(entry_id, fields)
                await self._trim(redis)

    def _message(self, entry_id: bytes, fields: dict[bytes, bytes]) -> AckableMessage:
        self._held.add(entry_id)
        return AckableMessage(data=fields[MESSAGE_FIELD], ack=self._acknowledger(entry_id))

    def _acknowledger(self, entry_id: bytes) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            # The work is done (committed): losing the ack to a Redis restart would only make it run
            # again, but waiting for Redis here spares that.
            await self._until_done(
                "acknowledge a message",
                lambda redis: redis.xack(self.queue_name, self.consumer_group_name, entry_id),
            )
            self._held.discard(entry_id)

        return ack

    async def _renew(self, redis: Redis) -> None:
        """Reset the idle time of the entries this process holds, so that no other worker claims them
        while this one works on them (JUSTID: their delivery count is left alone)."""
        if not self._held:
            return
        held: list[bytes | str | int | memoryview[int]] = list(self._held)
        kept: list[bytes] = await redis.xclaim(  # type: ignore[assignment]  # JUSTID: ids only
            self.queue_name, self.consumer_group_name, self.consumer_name, 0, held, justid=True
        )
        # One acknowledged meanwhile (by another worker that took it over) is no longer pending.
        self._held.difference_update(set(held) - set(kept))

    async def dead_letter(self, data: bytes, *, reason: str, attempts: int, events: int) -> str:
        """Keep a message that cannot be run in the dead-letter stream (before its ack: a crash in
        between leaves it in both, never in neither); the new entry's id."""
        fields = dead_letter_fields(
            data, reason=reason, attempts=attempts, events=events, worker=self.consumer_name
        )
        entry = await self._until_done(
            "write to the dead-letter stream", lambda redis: redis.xadd(self.dead_letter_name, fields)
        )
        return _text(entry)

    async def _until_done(self, what: str, command: Callable[[Redis], Awaitable[Any]]) -> Any:
        """Run ``command`` until Redis answers it (it restarts, fails over): what depends on it was
        already done and must not be lost."""
        backoff = Backoff(_RETRY_FIRST, _RETRY_MAX)
        while True:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    return await command(redis)
            except (RedisError, OSError) as error:
                REDIS_ERRORS.labels("queue").inc()
                delay = backoff.step()
                log.warning(
                    "task queue: cannot %s, Redis unavailable (%r); retrying in %.1f s", what, error, delay
                )
                await asyncio.sleep(delay)

    async def _claim(self, redis: Redis) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Messages another consumer took and has not acknowledged for ``claim_idle_ms`` (it died, or
        it is stuck): this one takes them over."""
        reply = await redis.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=_CLAIM_BATCH,
        )
        # [next start id, [(id, fields), ...], deleted ids]; a trimmed entry comes back without fields.
        claimed: list[tuple[bytes, dict[bytes, bytes]]] = [
            (entry_id, fields) for entry_id, fields in reply[1] if fields
        ]
        if not claimed:
            return []
        counts = redis.pipeline(transaction=False)
        for entry_id, _ in claimed:
            counts.xpending_range(self.queue_name, self.consumer_group_name, entry_id, entry_id, 1)
        kept = []
        for (entry_id, fields), rows in zip(claimed, await counts.execute(), strict=True):
            taken = int(rows[0]["times_delivered"]) if rows else 0
            if taken <= self.max_deliveries:
                kept.append((entry_id, fields))
                continue
            # Every worker that took it stopped before finishing it: giving it to another would only
            # stop that one too.
            reason = f"taken {taken} times by workers that stopped (died or hung) before finishing it"
            dead = await self.dead_letter(fields[MESSAGE_FIELD], reason=reason, attempts=taken, events=0)
            await redis.xack(self.queue_name, self.consumer_group_name, entry_id)
            log.error(
                "task queue: message %s was %s: moved to the dead-letter stream %s as %s",
                _text(entry_id),
                reason,
                self.dead_letter_name,
                dead,
            )
        return kept

    async def _trim(self, redis: Redis) -> None:
        """Delete the entries the group has acknowledged: older than both its oldest pending entry and
        the last one it was given."""
        try:
            groups = await redis.xinfo_groups(self.queue_name)
            pending = await redis.xpending(self.queue_name, self.consumer_group_name)
        except ResponseError:
            return  # the stream or the group is gone (Redis restarted empty): nothing to trim
        ours = next((g for g in groups if _text(g["name"]) == self.consumer_group_name), None)
        if ours is None or _text(ours["last-delivered-id"]) == "0-0":
            return
        keep_from = _next_id(_text(ours["last-delivered-id"]))
        if pending["pending"]:
            keep_from = min(keep_from, _text(pending["min"]), key=_id_key)
        await redis.xtrim(self.queue_name, minid=keep_from, approximate=False)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _next_id(entry_id: str) -> str:
    ms, seq = _id_key(entry_id)
    return f"{ms}-{seq + 1}"
