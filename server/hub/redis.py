"""Topic streams and bus on Redis: the history is shared by every hub process, the bus links them.

Semantics: `server.hub.streams`. Layout, under a configurable prefix (``gamif:`` in production), per topic:

- ``<prefix>hub:{<topic>}:meta``, a hash: ``epoch``, ``seq`` (the last offset given out), ``at`` (the
  last ``at_ms``), ``old`` (a lower bound of the oldest kept delta's ``at_ms``, so that most appends
  need not read the log to trim by age) and ``run`` (the run id of the Redis server that wrote it).
  It expires after ``idle_ttl_seconds`` without ``publish`` or ``head``.
- ``<prefix>hub:{<topic>}:log``, a Redis stream of the deltas: entry id ``<offset>-0``, fields ``t``
  (``at_ms``) and ``p`` (the payload). Appended with ``XADD MAXLEN ~ max_len`` (whole macro-nodes are
  trimmed, so it keeps at least ``max_len``); deltas older than ``max_age_seconds`` are trimmed with
  ``XTRIM MINID`` at each append; the key expires ``max_age_seconds`` after the last append.
- ``<prefix>hub:bus:<topic>``, the pub/sub channel of the bus.

The braces make the two keys of a topic share a hash slot, so the scripts also run on Redis Cluster.

Three Lua scripts do all the work, each one atomic round trip: ``publish`` (offset, append, trims,
expiries, PUBLISH: a subscriber never sees a delta that is not in the log), ``head`` and ``since``;
``publish_many`` pipelines its publishes. The client must not decode responses (payloads are bytes).
Offsets are never reused within an epoch, whatever is lost:

- a missing meta (evicted, expired, a restart without persistence) starts a new epoch, and deletes
  the log, whose old deltas must not pass for the new epoch's;
- a missing log keeps the epoch; ``since`` sees that the log no longer holds the position;
- a meta written by another Redis server process (a restart that reloaded a snapshot or an AOF,
  which may lack the last writes; a replica promoted by a failover, which may lag) also starts a new
  epoch: the restored ``seq`` could be behind offsets that clients have already seen. The price is a
  snapshot for every client after each Redis restart or failover, which is when they resync anyway.

``since`` reads the log from ``offset + 1``: since only prefixes are ever trimmed and offsets are
appended gaplessly, the first entry it returns is ``offset + 1`` exactly when nothing in between was
lost; approximate trimming needs no bookkeeping of what is kept.

`RedisBus` holds one dedicated connection per process in pub/sub mode, subscribing to the channels of
the topics its sessions watch. If that connection drops (or stops answering its PINGs), it reconnects
with exponential backoff (`server.backoff`, jittered: every node of a cluster loses Redis at once),
resubscribes every channel in one command and, once Redis has confirmed them all, calls ``on_reset()``:
what was published meanwhile is in the logs, for ``since``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.typing import EncodableT

from persistence.compat.redis import DedicatedConnection, decodes_responses, pooled_connection
from server.backoff import Backoff

from .streams import (
    DEFAULT_IDLE_TTL_SECONDS,
    DEFAULT_MAX_AGE_SECONDS,
    DEFAULT_MAX_LEN,
    Bus,
    BusClosed,
    BusListener,
    Clock,
    Delta,
    Missing,
    Position,
    Seen,
    Streams,
    Versioned,
    new_epoch,
)

log = logging.getLogger("gamif.hub")

DEFAULT_PREFIX = "gamif:"


@dataclass(frozen=True, slots=True)
class RedisNames:
    """Where the hub keeps a topic in Redis (see the module docstring)."""

    prefix: str = DEFAULT_PREFIX

    def meta(self, topic: str) -> str:
        return f"{self.prefix}hub:{{{topic}}}:meta"

    def log(self, topic: str) -> str:
        return f"{self.prefix}hub:{{{topic}}}:log"

    def channel(self, topic: str) -> bytes:
        return f"{self.prefix}hub:bus:{topic}".encode()

    def topic_of(self, channel: bytes) -> str | None:
        start = f"{self.prefix}hub:bus:".encode()
        return channel[len(start) :].decode() if channel.startswith(start) else None


# --------------------------------------------------------------------------------------------- scripts

LUA_PRELUDE = """
-- The server's run id changes with every restart and failover (see the module docstring).
local info = redis.call('INFO', 'server')
local found = string.find(info, 'run_id:', 1, true)
local run = found and string.sub(info, found + 7, found + 46) or ''

-- The topic's epoch, last offset, last time and a lower bound of its oldest kept delta's time, or nil
-- if it has none this server can vouch for.
local function current(meta)
  local m = redis.call('HMGET', meta, 'epoch', 'seq', 'at', 'run', 'old')
  local seq = tonumber(m[2])
  if m[1] and seq and m[4] == run then
    return m[1], seq, tonumber(m[3]) or 0, tonumber(m[5]) or 0
  end
  return nil
end

local function entry_id(offset)
  return string.format('%d-0', offset)
end
"""

# publish(meta, log, payload, args, i): appends payload as the topic's next delta, where args[i..i+6] are
# now_ms, max_len, max_age_ms, log_ttl_ms, meta_ttl_ms, fresh epoch, channel. Returns {epoch, offset, at_ms}.
# A function, so that other scripts (presence) publish in the same atomic step as their own writes.
LUA_PUBLISH_FN = """
local function at_of(log, offset)
  return tonumber(redis.call('XRANGE', log, entry_id(offset), entry_id(offset))[1][2][2])
end

-- Trims the deltas older than cutoff (a prefix of the log: times never decrease along it); returns the
-- time of the oldest delta left.
local function trim_older(log, newest, newest_at, cutoff)
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  local first_at = tonumber(first[2][2])
  if first_at >= cutoff then
    return first_at
  end
  -- lo is too old, hi is recent enough (the newest always is). Gallop from the front, since usually
  -- only a few have just aged out, then bisect: O(log n) lookups, each O(log n).
  local lo, hi, hi_at = tonumber(string.match(first[1], '^%d+')), newest, newest_at
  local step = 1
  while lo + step < hi do
    local probe = at_of(log, lo + step)
    if probe < cutoff then
      lo = lo + step
      step = step * 2
    else
      hi, hi_at = lo + step, probe
    end
  end
  while hi - lo > 1 do
    local mid = math.floor((lo + hi) / 2)
    local probe = at_of(log, mid)
    if probe < cutoff then lo = mid else hi, hi_at = mid, probe end
  end
  redis.call('XTRIM', log, 'MINID', entry_id(hi))
  return hi_at
end

-- version: nil, or the version the delta leads a versioned topic to (kept in the entry's `v` field and
-- as the meta's `v`).
local function publish(meta, log, payload, args, i, version)
  local epoch, seq, last_at, oldest = current(meta)
  if not epoch then
    epoch, seq, last_at, oldest = args[i + 5], 0, 0, 0
    redis.call('DEL', log)  -- another epoch's deltas must not pass for this one's
    redis.call('HDEL', meta, 'v')  -- nor its versions
  end
  seq = seq + 1
  local at = math.max(tonumber(args[i]), last_at)
  local seq_s, at_s = string.format('%d', seq), string.format('%d', at)
  -- XADD first: if it fails, nothing has changed (a script's earlier writes are not rolled back).
  if version then
    redis.call('XADD', log, 'MAXLEN', '~', args[i + 1], seq_s .. '-0', 't', at_s, 'p', payload, 'v', version)
    redis.call('HSET', meta, 'v', version)
  else
    redis.call('XADD', log, 'MAXLEN', '~', args[i + 1], seq_s .. '-0', 't', at_s, 'p', payload)
  end
  -- `oldest` only ever underestimates (trimming and expiry remove the oldest deltas), so while it is
  -- recent enough nothing is too old, and the log need not be read.
  local cutoff = at - tonumber(args[i + 2])
  if oldest < cutoff then
    oldest = trim_older(log, seq, at, cutoff)
  end
  local oldest_s = string.format('%d', oldest)
  redis.call('HSET', meta, 'epoch', epoch, 'seq', seq_s, 'at', at_s, 'run', run, 'old', oldest_s)
  redis.call('PEXPIRE', log, args[i + 3])
  redis.call('PEXPIRE', meta, args[i + 4])
  redis.call('PUBLISH', args[i + 6], epoch .. ' ' .. seq_s .. ' ' .. at_s .. '\\n' .. payload)
  return {epoch, seq, at}
end
"""

# KEYS: meta, log. ARGV: payload, then the publish arguments. Returns {epoch, offset, at_ms}.
_PUBLISH_LUA = LUA_PRELUDE + LUA_PUBLISH_FN + "return publish(KEYS[1], KEYS[2], ARGV[1], ARGV, 2)\n"

# Sets `epoch` and `seq`: the head of the topic of KEYS[1], KEYS[2] (meta, log), starting a new epoch
# (ARGV[1]) if it has none, and keeping it ARGV[2] ms more.
LUA_HEAD_BODY = """
local epoch, seq = current(KEYS[1])
if not epoch then
  epoch, seq = ARGV[1], 0
  redis.call('DEL', KEYS[2])
  redis.call('HDEL', KEYS[1], 'v')
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', '0', 'at', '0', 'run', run, 'old', '0')
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""

# KEYS: meta, log. ARGV: fresh epoch, meta_ttl_ms. Returns {epoch, offset}.
_HEAD_LUA = LUA_PRELUDE + LUA_HEAD_BODY + "return {epoch, seq}\n"

# KEYS: meta, log. ARGV: epoch, offset. Returns the deltas after offset as one string of records
# `<offset> <at_ms> <size>\n<payload>` (one bulk reply parses far faster than nested arrays), or nil.
_SINCE_LUA = (
    LUA_PRELUDE
    + """
local epoch, seq = current(KEYS[1])
local offset = tonumber(ARGV[2])
if epoch ~= ARGV[1] or offset > seq then
  return false
end
if offset == seq then
  return ''
end
local entries = redis.call('XRANGE', KEYS[2], entry_id(offset + 1), '+')
if #entries == 0 or entries[1][1] ~= entry_id(offset + 1) then
  return false  -- trimmed or expired past the position
end
local records = {}
for i, entry in ipairs(entries) do
  local fields = entry[2]  -- t, at_ms, p, payload
  -- The id is `<offset>-0`: dropping its last two characters leaves the offset.
  records[i] = string.sub(entry[1], 1, -3) .. ' ' .. fields[2] .. ' ' .. #fields[4] .. '\\n' .. fields[4]
end
return table.concat(records)
"""
)


# KEYS: meta, log. ARGV: version, payload, then the publish arguments. Returns {'delta', epoch, offset,
# at_ms}, {'seen', last} or {'missing', last} (see "Versioned topics" in server.hub.streams).
_PUBLISH_VERSION_LUA = (
    LUA_PRELUDE
    + LUA_PUBLISH_FN
    + """
local version = tonumber(ARGV[1])
if current(KEYS[1]) then
  local last = tonumber(redis.call('HGET', KEYS[1], 'v'))
  if last and version <= last then
    return {'seen', last}
  end
  if last and version > last + 1 then
    return {'missing', last}
  end
end
local r = publish(KEYS[1], KEYS[2], ARGV[2], ARGV, 3, ARGV[1])
return {'delta', r[1], r[2], r[3]}
"""
)

# KEYS: meta, log. ARGV: fresh epoch, meta_ttl_ms (as for head), version, how many deltas to look back.
# Returns {'at', epoch, offset}, {'missing', last} or nil (see `RedisStreams.position_at`).
_POSITION_AT_LUA = (
    LUA_PRELUDE
    + LUA_HEAD_BODY
    + """
local version = tonumber(ARGV[3])
local last = tonumber(redis.call('HGET', KEYS[1], 'v'))
if not last then
  redis.call('HSET', KEYS[1], 'v', ARGV[3])  -- a new history: this snapshot is its baseline
  return {'at', epoch, seq}
end
if last == version then
  return {'at', epoch, seq}
end
if last < version then
  return {'missing', last}
end
-- Ahead: the snapshot stands right after the delta that led to `version` or, if that one is not in the
-- log (it was the baseline), right before the one that led from it.
local after = nil
for _, entry in ipairs(redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', tonumber(ARGV[4]))) do
  local seen = tonumber(entry[2][6])  -- fields: t, at_ms, p, payload, v, version
  local offset = tonumber(string.sub(entry[1], 1, -3))
  if seen == version then
    return {'at', epoch, offset}
  end
  if seen == version + 1 then
    after = offset - 1
  end
end
if after then
  return {'at', epoch, after}
end
return false
"""
)

_POSITION_LOOKBACK = 64
"""How many deltas `position_at` looks back for a version: a snapshot older than that reads again."""


class Script:
    """A Lua script and its SHA1, run by `run_scripts` (also by the hub's presence and documents, whose
    scripts are built on `LUA_PRELUDE` and the functions after it)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


_PUBLISH = Script(_PUBLISH_LUA)
_HEAD = Script(_HEAD_LUA)
_SINCE = Script(_SINCE_LUA)
_PUBLISH_VERSION = Script(_PUBLISH_VERSION_LUA)
_POSITION_AT = Script(_POSITION_AT_LUA)

ScriptCall = tuple[Script, Sequence[str], Sequence[EncodableT]]
"""One script to run: the script, its keys and its arguments."""


async def run_scripts(redis: Redis, calls: Sequence[ScriptCall], *, once: bool = False) -> list[Any]:
    """Run the scripts by EVALSHA in one round trip, loading them if the server lacks them.

    ``once``: never resend (for ``publish``). redis-py retries a command whose connection failed, by
    default, but a publish whose reply was lost has happened: sent again, it would append the same
    delta a second time, after whatever came in between."""
    execute = _send_once if once else _send
    results = await execute(redis, calls)
    # Calls that failed with NOSCRIPT did not run (a cache flush in the middle fails a suffix of them).
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        for script in {calls[i][0] for i in missing}:
            await redis.script_load(script.source)
        for i, result in zip(missing, await execute(redis, [calls[i] for i in missing]), strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


async def _send(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """Through the client (with its retries): for the scripts that may run twice (``head``, ``since``)."""
    if len(calls) == 1:
        script, keys, args = calls[0]
        try:
            return [await redis.evalsha(script.sha, len(keys), *keys, *args)]
        except ResponseError as error:
            return [error]
    pipe = redis.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    return list(await pipe.execute(raise_on_error=False))


async def _send_once(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """On a connection of the client's pool, by hand, so that nothing is sent twice."""
    async with pooled_connection(redis) as conn:
        return await conn.execute_many(
            [(b"EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in calls]
        )


def _require_bytes(redis: Redis) -> None:
    if decodes_responses(redis):
        raise ValueError("the hub needs a Redis client with decode_responses=False: payloads are bytes")


# --------------------------------------------------------------------------------------------- streams


class RedisStreams(Streams):
    """Topic streams in Redis (see the module docstring); `redis` must not decode responses."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_len: int = DEFAULT_MAX_LEN,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        idle_ttl_seconds: float = DEFAULT_IDLE_TTL_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            max_len=max_len, max_age_seconds=max_age_seconds, idle_ttl_seconds=idle_ttl_seconds, clock=clock
        )
        _require_bytes(redis)
        self.redis = redis
        self.names = RedisNames(prefix)

    def topic_keys(self, topic: str) -> list[str]:
        return [self.names.meta(topic), self.names.log(topic)]

    def publish_args(self, topic: str) -> list[EncodableT]:
        """The arguments of the Lua ``publish`` function after the payload (for scripts that publish)."""
        return [
            self.now_ms(),
            self.max_len,
            self.max_age_ms,
            self.max_age_ms,  # the log's expiry: by then all its deltas are too old anyway
            self.idle_ttl_ms,
            new_epoch(),
            self.names.channel(topic),
        ]

    async def publish(self, topic: str, payload: bytes) -> Delta:
        [delta] = await self.publish_many([(topic, payload)])
        return delta

    async def publish_many(self, items: Iterable[tuple[str, bytes]]) -> list[Delta]:
        items = list(items)
        calls: list[ScriptCall] = []
        for topic, payload in items:
            calls.append((_PUBLISH, self.topic_keys(topic), [payload, *self.publish_args(topic)]))
        replies = await run_scripts(self.redis, calls, once=True) if calls else []
        return [
            Delta(topic, epoch.decode(), int(offset), bytes(payload), int(at_ms))
            for (topic, payload), (epoch, offset, at_ms) in zip(items, replies, strict=True)
        ]

    async def publish_versions(self, items: Sequence[Versioned]) -> list[Delta | Seen | Missing]:
        # Sent with the client's retries: a change sent twice is `Seen` the second time.
        calls: list[ScriptCall] = [
            (
                _PUBLISH_VERSION,
                self.topic_keys(item.topic),
                [item.version, item.payload, *self.publish_args(item.topic)],
            )
            for item in items
        ]
        replies = await run_scripts(self.redis, calls) if calls else []
        outcomes: list[Delta | Seen | Missing] = []
        for item, reply in zip(items, replies, strict=True):
            if reply[0] == b"delta":
                _, epoch, offset, at_ms = reply
                delta = Delta(item.topic, epoch.decode(), int(offset), bytes(item.payload), int(at_ms))
                outcomes.append(delta)
            elif reply[0] == b"seen":
                outcomes.append(Seen(int(reply[1])))
            else:
                outcomes.append(Missing(int(reply[1])))
        return outcomes

    async def position_at(self, topic: str, version: int) -> Position | Missing | None:
        args: list[EncodableT] = [new_epoch(), self.idle_ttl_ms, version, _POSITION_LOOKBACK]
        [reply] = await run_scripts(self.redis, [(_POSITION_AT, self.topic_keys(topic), args)])
        if reply is None:
            return None
        if reply[0] == b"missing":
            return Missing(int(reply[1]))
        return Position(reply[1].decode(), int(reply[2]))

    async def head(self, topic: str) -> Position:
        [(epoch, offset)] = await run_scripts(
            self.redis, [(_HEAD, self.topic_keys(topic), [new_epoch(), self.idle_ttl_ms])]
        )
        return Position(epoch.decode(), int(offset))

    async def since(self, topic: str, epoch: str, offset: int) -> list[Delta] | None:
        if offset < 0:
            return None
        [records] = await run_scripts(self.redis, [(_SINCE, self.topic_keys(topic), [epoch, offset])])
        return None if records is None else _parse_records(topic, epoch, records)

    async def drop(self, topic: str) -> None:
        await self.redis.delete(*self.topic_keys(topic))


# ------------------------------------------------------------------------------------------------- bus


class _Unresponsive(Exception):
    """The connection did not answer a PING in time."""


# What a lost connection raises (redis-py's own errors, the OS's, our timeouts).
_LOST = (RedisError, OSError, TimeoutError, _Unresponsive)
_RECONNECT_JITTER = 0.5
"""Each reconnect waits between half and all of its backoff delay."""


class RedisBus(Bus):
    """The bus over Redis pub/sub: one dedicated connection per process (see the module docstring).

    Reads wait at most `read_timeout` (below redis-py's socket timeout); after `ping_interval` of silence
    the bus PINGs, and a connection that does not answer within `ping_timeout` is replaced."""

    def __init__(
        self,
        redis: Redis,
        listener: BusListener,
        *,
        prefix: str = DEFAULT_PREFIX,
        read_timeout: float = 1.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        connect_timeout: float = 4.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 5.0,
    ) -> None:
        super().__init__(listener)
        _require_bytes(redis)
        self.redis = redis
        self.names = RedisNames(prefix)
        self.read_timeout = read_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.client_id: int | None = None
        """Redis's id of the bus connection (``CLIENT LIST``, ``CLIENT KILL ID``); None while down."""
        self.reconnects = 0
        self._conn: DedicatedConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # Per channel, the SUBSCRIBE/UNSUBSCRIBE commands sent on this connection and not yet answered:
        # a channel is confirmed by the reply to the last of them (replies come in command order).
        self._inflight: dict[bytes, int] = {}
        self._confirmed: set[bytes] = set()
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._resync_left = 0
        """Replies still due to the resubscription after a reconnect; ``on_reset`` at zero."""

    async def start(self) -> None:
        if self._task is not None or self._closed:
            raise RuntimeError("the bus was already started")
        await self._open(resync=False)  # a first failure is the caller's to report (fail fast at startup)
        self._task = asyncio.create_task(self._run(), name="gamif-hub-bus")

    async def aclose(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # without swallowing a cancellation of aclose itself
        await self._drop_connection()
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(BusClosed("the bus was closed"))
        self._waiters.clear()

    # ------------------------------------------------------------------ subscriptions

    async def _attach(self, topic: str, *, first: bool) -> None:
        if self._closed:
            raise BusClosed("the bus is closed")
        channel = self.names.channel(topic)
        if channel in self._confirmed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        try:
            if first:
                # Otherwise a SUBSCRIBE is already on its way, or the next connection will send it.
                await self._send(b"SUBSCRIBE", channel)
            await waiter
        finally:
            waiters = self._waiters.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[channel]

    async def _detach(self, topic: str) -> None:
        channel = self.names.channel(topic)
        self._confirmed.discard(channel)
        await self._send(b"UNSUBSCRIBE", channel)

    async def _send(self, command: bytes, channel: bytes) -> None:
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the next connection subscribes whatever is wanted then
        self._inflight[channel] = self._inflight.get(channel, 0) + 1
        # On failure, the reader notices the broken connection, reconnects and resubscribes.
        with contextlib.suppress(*_LOST):
            await conn.send(command, channel)

    # ------------------------------------------------------------------ connection

    async def _open(self, *, resync: bool) -> None:
        """A new connection, subscribed to every wanted channel (the replies are read by `_pump`)."""
        # Reconnecting is ours to do, and to tell the listener about.
        conn = DedicatedConnection(self.redis)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await conn.connect()
                await conn.send(b"CLIENT", b"ID")
                client_id = int(await conn.read_reply())
                # No await from here to the write: a subscription made meanwhile is either in these
                # commands or sent after them, on this connection.
                self._conn, self.client_id = conn, client_id
                channels = [self.names.channel(topic) for topic in self._refs]
                self._inflight = dict.fromkeys(channels, 1)
                self._confirmed = set()
                self._resync_left = len(channels) if resync else 0
                if channels:
                    commands = [
                        (b"SUBSCRIBE", *channels[i : i + 1_000]) for i in range(0, len(channels), 1_000)
                    ]
                    await conn.send_many(commands)
        except BaseException:
            if self._conn is conn:
                await self._drop_connection()
            else:
                await conn.disconnect()
            raise

    async def _drop_connection(self) -> None:
        conn, self._conn, self.client_id = self._conn, None, None
        self._confirmed.clear()
        self._inflight.clear()
        if conn is not None:
            await conn.disconnect()

    async def _run(self) -> None:
        # Jittered, so that the processes of a cluster do not all come back in step.
        backoff = Backoff(self.backoff_initial, self.backoff_max, jitter=_RECONNECT_JITTER)
        loop = asyncio.get_running_loop()
        while True:
            conn = self._conn
            assert conn is not None
            opened = loop.time()
            try:
                await self._pump(conn)
            except _LOST as error:
                log.warning("hub bus: lost its Redis connection (%r); reconnecting", error)
            except Exception:
                log.exception("hub bus: unexpected failure; reconnecting")
            await self._drop_connection()
            if loop.time() - opened > self.backoff_max:
                backoff.reset()  # it had been up a while: not a flapping server
            while True:
                await asyncio.sleep(backoff.step())
                try:
                    await self._open(resync=True)
                    break
                except _LOST as error:
                    log.warning("hub bus: cannot reconnect to Redis yet (%r)", error)
            self.reconnects += 1
            if self._resync_left == 0:
                self._reset()  # nothing to resubscribe: the reset can be told at once

    async def _pump(self, conn: DedicatedConnection) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged: float | None = None
        while True:
            reply = await conn.read(self.read_timeout)
            now = loop.time()
            if reply is None:  # nothing within read_timeout
                if pinged is not None and now - pinged > self.ping_timeout:
                    raise _Unresponsive(f"no answer to a PING within {self.ping_timeout} s")
                if pinged is None and now - heard >= self.ping_interval:
                    await conn.send(b"PING")
                    pinged = now
                continue
            heard, pinged = now, None
            if isinstance(reply, list) and len(reply) >= 3:
                self._handle(reply[0], reply[1], reply[2])
            # else a PONG (a simple string under RESP3)

    def _handle(self, kind: bytes, channel: bytes, data: Any) -> None:
        if kind == b"message":
            topic = self.names.topic_of(channel)
            if topic is not None and topic in self._refs:
                delta = _parse_message(topic, data)
                if delta is None:
                    log.warning("hub bus: ignoring a malformed message on %r", channel)
                else:
                    self._deliver(delta)
        elif kind in (b"subscribe", b"unsubscribe"):
            self._answered(channel)

    def _answered(self, channel: bytes) -> None:
        left = self._inflight.get(channel, 0) - 1
        if left > 0:
            self._inflight[channel] = left
        else:
            self._inflight.pop(channel, None)
            topic = self.names.topic_of(channel)
            if topic is not None and topic in self._refs:
                self._confirmed.add(channel)
                for waiter in self._waiters.pop(channel, []):
                    if not waiter.done():
                        waiter.set_result(None)
        if self._resync_left > 0:
            self._resync_left -= 1
            if self._resync_left == 0:
                self._reset()


def _parse_records(topic: str, epoch: str, data: bytes) -> list[Delta]:
    """The deltas in the ``since`` script's answer."""
    deltas = []
    view = memoryview(data)
    position = 0
    while position < len(data):
        newline = data.index(b"\n", position)
        offset, at_ms, size = data[position:newline].split(b" ")
        position = newline + 1 + int(size)
        deltas.append(Delta(topic, epoch, int(offset), bytes(view[newline + 1 : position]), int(at_ms)))
    return deltas


def _parse_message(topic: str, data: bytes) -> Delta | None:
    """``<epoch> <offset> <at_ms>\\n<payload>``, as the publish script writes it."""
    header, newline, payload = data.partition(b"\n")
    parts = header.split(b" ")
    if not newline or len(parts) != 3:
        return None
    epoch, offset, at_ms = parts
    try:
        return Delta(topic, epoch.decode(), int(offset), payload, int(at_ms))
    except ValueError:
        return None
