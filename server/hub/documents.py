"""Topics whose current document is kept beside their stream (leaderboards, challenge scoreboards): in
Redis (`DocumentStore`) or, embedded, in the process (`MemoryDocuments`, the same compare-and-set).

The meta hash of such a topic (`server.hub.redis`) also holds ``doc`` (the canonical msgpack of the
document) and ``doc_epoch``. Invariant: when ``doc_epoch`` is the topic's current epoch, ``doc`` is the
state at offset ``seq``. Every change goes through `DocumentStore.publish_if`, one script that checks that
the topic is still at the position the caller diffed from (a compare-and-set on ``(epoch, seq)``), then
appends the delta and stores the new document in the same atomic step. So several processes may publish
one topic: a publisher whose view is stale gets ``Conflict`` with the current document and diffs again,
and no delta is ever computed against a document other than the one at the offset it follows.

A topic whose history is lost (a new epoch, the meta gone) has no document: the next change is a delta
that sets the whole document (``["set", [], doc]``), which every mirror can apply.

``publish_if`` also bounds the rate: it refuses (``Wait``) while the topic's last delta is less than
``min_interval_ms`` old, by the time the streams stamped it (shared by every process). A skew between
the processes' clocks larger than the interval is ignored rather than waited out.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]
from redis.typing import EncodableT

from protocol import Encoding, encode_value

from .memory import MemoryStreams
from .redis import LUA_HEAD_BODY, LUA_PRELUDE, LUA_PUBLISH_FN, RedisStreams, Script, run_scripts
from .streams import Position, new_epoch

# KEYS: meta, log. ARGV: fresh epoch, meta_ttl_ms. Returns {epoch, seq, doc or false}, creating the epoch.
_READ_LUA = (
    LUA_PRELUDE
    + LUA_HEAD_BODY
    + """
local d = redis.call('HMGET', KEYS[1], 'doc_epoch', 'doc')
if d[1] == epoch then
  return {epoch, seq, d[2]}
end
return {epoch, seq, false}
"""
)

# KEYS: meta, log. ARGV: publish args (7), expected epoch, expected seq, payload, doc, min interval ms.
# Returns {'ok', epoch, offset}, {'conflict', epoch, seq, doc or false} or {'wait', ms}.
_PUBLISH_IF_LUA = (
    LUA_PRELUDE
    + LUA_PUBLISH_FN
    + """
local epoch, seq, at = current(KEYS[1])
if not epoch then
  if ARGV[8] ~= '' then
    return {'conflict', '', 0, false}  -- the history is gone: the caller starts over from no document
  end
  at = 0
elseif epoch ~= ARGV[8] or seq ~= tonumber(ARGV[9]) then
  local d = redis.call('HMGET', KEYS[1], 'doc_epoch', 'doc')
  return {'conflict', epoch, seq, d[1] == epoch and d[2] or false}
end
local interval = tonumber(ARGV[12])
local wait = at + interval - tonumber(ARGV[1])
if wait > 0 and wait <= interval then
  return {'wait', wait}
end
local r = publish(KEYS[1], KEYS[2], ARGV[10], ARGV, 1)
redis.call('HSET', KEYS[1], 'doc_epoch', r[1], 'doc', ARGV[11])
return {'ok', r[1], r[2]}
"""
)

_READ = Script(_READ_LUA)
_PUBLISH_IF = Script(_PUBLISH_IF_LUA)


@dataclass(frozen=True, slots=True)
class Stored:
    """A topic's position and its document there (None: the epoch has no stored document)."""

    position: Position
    document: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Published:
    position: Position


@dataclass(frozen=True, slots=True)
class Conflict:
    """The topic moved since the caller's position: ``current`` is where it is now."""

    current: Stored


@dataclass(frozen=True, slots=True)
class Wait:
    """The topic's last delta is too recent: try again in ``ms``."""

    ms: int


def _document(raw: Any) -> dict[str, Any] | None:
    return None if raw is None else dict(msgpack.unpackb(raw, raw=False))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DocumentStore:
    """Reads and compare-and-set publishes of topics kept with their document (see the module docstring)."""

    def __init__(self, streams: RedisStreams) -> None:
        self.streams = streams
        self.redis = streams.redis

    async def read(self, topic: str) -> Stored:
        """The topic's position (creating its epoch if it has none) and its document there, read together."""
        keys = [self.streams.names.meta(topic), self.streams.names.log(topic)]
        [(epoch, seq, doc)] = await run_scripts(
            self.redis, [(_READ, keys, [new_epoch(), self.streams.idle_ttl_ms])]
        )
        return Stored(Position(_text(epoch), int(seq)), _document(doc))

    async def publish_if(
        self,
        topic: str,
        expected: Position,
        payload: bytes,
        document: dict[str, Any],
        *,
        min_interval_ms: int = 0,
    ) -> Published | Conflict | Wait:
        """Append ``payload`` (an encoded change) and store ``document`` as the state after it, if the topic
        is still at ``expected`` and its last delta is ``min_interval_ms`` old; sent once, never retried."""
        keys = [self.streams.names.meta(topic), self.streams.names.log(topic)]
        args: list[EncodableT] = [
            *self.streams.publish_args(topic),
            expected.epoch,
            expected.offset,
            payload,
            encode_value(document, Encoding.MSGPACK),
            min_interval_ms,
        ]
        [reply] = await run_scripts(self.redis, [(_PUBLISH_IF, keys, args)], once=True)
        kind = _text(reply[0])
        if kind == "ok":
            return Published(Position(_text(reply[1]), int(reply[2])))
        if kind == "wait":
            return Wait(int(reply[1]))
        return Conflict(Stored(Position(_text(reply[1]), int(reply[2])), _document(reply[3])))


class MemoryDocuments:
    """`DocumentStore`'s compare-and-set in one process, on `MemoryStreams` (embedded mode)."""

    def __init__(self, streams: MemoryStreams) -> None:
        self.streams = streams
        self._documents: dict[str, Stored] = {}
        self._published_at: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def read(self, topic: str) -> Stored:
        async with self._lock:
            return await self._current(topic)

    async def _current(self, topic: str) -> Stored:
        position = await self.streams.head(topic)
        stored = self._documents.get(topic)
        return Stored(
            position, stored.document if stored is not None and stored.position == position else None
        )

    async def publish_if(
        self,
        topic: str,
        expected: Position,
        payload: bytes,
        document: dict[str, Any],
        *,
        min_interval_ms: int = 0,
    ) -> Published | Conflict | Wait:
        async with self._lock:
            current = await self._current(topic)
            if current.position != expected:
                return Conflict(current)
            wait = self._published_at.get(topic, -1e9) + min_interval_ms / 1000 - time.monotonic()
            if wait > 0:
                return Wait(max(1, int(wait * 1000)))
            delta = await self.streams.publish(topic, payload)
            position = Position(delta.epoch, delta.offset)
            self._documents[topic] = Stored(position, document)
            self._published_at[topic] = time.monotonic()
            return Published(position)


__all__ = ["Conflict", "DocumentStore", "MemoryDocuments", "Published", "Stored", "Wait"]
