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

A message may therefore run twice (a worker that dies after its work but before its ack, or one
slower than ``claim_idle_ms``): tasks must be idempotent, as scoring is (per event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

_CLAIM_BATCH = 100
_RETRY_FIRST = 0.1
_RETRY_MAX = 5.0

log = logging.getLogger("gamif.tasks")


class ReliableStreamBroker(RedisStreamBroker):
    def __init__(
        self,
        url: str,
        *,
        queue_name: str,
        consumer_group_name: str = "gamif-workers",
        claim_idle_ms: int = 30_000,
        claim_every: float = 1.0,
        read_block_ms: int = 1_000,
        **connection_kwargs: Any,
    ) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=consumer_group_name,
            consumer_id="0",
            # Kept under redis-py's 5 s socket timeout, so that a blocked read never looks like a dead link.
            xread_block=read_block_ms,
            idle_timeout=claim_idle_ms,
            **connection_kwargs,
        )
        self.claim_every = claim_every

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        # A Redis restart or a network cut must not end the worker: wait, reconnect, read on. What was
        # taken and not acknowledged is pending in the group (kept by Redis's persistence) and claimed.
        delay = _RETRY_FIRST
        while True:
            try:
                async for message in self._listen_once():
                    delay = _RETRY_FIRST
                    yield message
            except (RedisError, OSError) as error:
                log.warning("task queue: Redis unavailable (%r); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                with contextlib.suppress(RedisError, OSError):
                    await self._declare_consumer_group()  # a Redis that restarted empty has no group

    async def _listen_once(self) -> AsyncGenerator[AckableMessage, None]:
        queue, group = self.queue_name, self.consumer_group_name
        async with Redis(connection_pool=self.connection_pool) as redis:
            next_claim = 0.0
            while True:
                # redis-py types stream replies loosely: [(stream, [(id, {field: value})])].
                fetched: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] = await redis.xreadgroup(
                    group, self.consumer_name, {queue: ">"}, block=self.block, count=self.count
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
        return AckableMessage(
            data=fields[b"data"],
            ack=self._ack_generator(id=entry_id, queue_name=self.queue_name),  # type: ignore[arg-type]
        )

    async def _claim(self, redis: Redis) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Messages another consumer took and has not acknowledged for ``claim_idle_ms`` (it died, or
        it is stuck): this one takes them over."""
        reply = await redis.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            start_id="0-0",
            count=_CLAIM_BATCH,
        )
        # [next start id, [(id, fields), ...], deleted ids]; a trimmed entry comes back without fields.
        return [(entry_id, fields) for entry_id, fields in reply[1] if fields]

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
