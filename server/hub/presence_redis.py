"""Presence on Redis, shared by every hub process (semantics: `server.hub.presence`).

Per scope, beside the topic's stream keys (same hash slot, ``{presence:<scope>}``):

- ``…:sessions``, a sorted set of ``<user id> <session id>`` scored by when the session stops counting:
  ``now + ttl`` while its node refreshes it, ``now + grace`` once it has closed;
- ``…:refs``, a hash user id -> how many sessions count: the user is online while it is positive;
- ``…:people``, a hash user id -> the listed person (canonical msgpack of handle, display name, since),
  at most ``PRESENCE_MAX_PEOPLE``.

``<prefix>hub:presence:scopes`` lists the scopes in use, for the sweeps. The join and sweep scripts
change these keys and publish the resulting delta in one atomic step (the delta's msgpack is assembled
in Lua from pieces), and the snapshot script reads the people and the topic's head together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack  # type: ignore[import-untyped]
from redis.asyncio import Redis
from redis.typing import EncodableT

from protocol import PRESENCE_MAX_PEOPLE, Encoding, encode_value

from .presence import Person, Presence, presence_document, presence_topic_of
from .redis import LUA_HEAD_BODY, LUA_PRELUDE, LUA_PUBLISH_FN, RedisStreams, Script, run_scripts
from .streams import Position, new_epoch

# Canonical msgpack pieces, assembled in Lua (strings of at most 31 bytes are fixstr).
_MSGPACK_LUA = """
local function mp_array(n)
  if n < 16 then return string.char(0x90 + n) end
  return string.char(0xdc, math.floor(n / 256), n % 256)
end
local function mp_str(s)
  return cmsgpack.pack(s)
end
-- The payload of a presence delta: {"ops": [...ops, set count, set truncated]}.
local function presence_payload(ops, refs, people)
  local count = redis.call('HLEN', refs)
  local listed = redis.call('HLEN', people)
  table.insert(ops, '\\147' .. mp_str('set') .. '\\145' .. mp_str('count') .. cmsgpack.pack(count))
  table.insert(ops, '\\147' .. mp_str('set') .. '\\145' .. mp_str('truncated')
    .. (count > listed and '\\195' or '\\194'))
  return '\\129' .. mp_str('ops') .. mp_array(#ops) .. table.concat(ops)
end
"""

# KEYS: meta, log, sessions, refs, people, scopes. ARGV: publish args (7), member, until, user id,
# packed person, max people, scope. Returns 1 if the user came online.
_JOIN_LUA = (
    LUA_PRELUDE
    + LUA_PUBLISH_FN
    + _MSGPACK_LUA
    + """
local sessions, refs, people = KEYS[3], KEYS[4], KEYS[5]
local member, user = ARGV[8], ARGV[10]
redis.call('SADD', KEYS[6], ARGV[13])
if redis.call('ZADD', sessions, ARGV[9], member) == 0 then
  return 0  -- known already: only its expiry moved
end
if redis.call('HINCRBY', refs, user, 1) > 1 then
  return 0  -- another tab of someone already online
end
local ops = {}
if redis.call('HLEN', people) < tonumber(ARGV[12]) then
  redis.call('HSET', people, user, ARGV[11])
  table.insert(ops, '\\147' .. mp_str('set') .. '\\146' .. mp_str('people') .. mp_str(user) .. ARGV[11])
end
publish(KEYS[1], KEYS[2], presence_payload(ops, refs, people), ARGV, 1)
return 1
"""
)

# KEYS: meta, log, sessions, refs, people. ARGV: publish args (7), now. Returns how many left.
_SWEEP_LUA = (
    LUA_PRELUDE
    + LUA_PUBLISH_FN
    + _MSGPACK_LUA
    + """
local sessions, refs, people = KEYS[3], KEYS[4], KEYS[5]
local gone = redis.call('ZRANGEBYSCORE', sessions, '-inf', ARGV[8], 'LIMIT', 0, 500)
if #gone == 0 then
  return 0
end
redis.call('ZREM', sessions, unpack(gone))
local ops = {}
for _, member in ipairs(gone) do
  local user = string.match(member, '^(%S+) ')
  if redis.call('HINCRBY', refs, user, -1) <= 0 then
    redis.call('HDEL', refs, user)
    redis.call('HDEL', people, user)
    table.insert(ops, '\\146' .. mp_str('remove') .. '\\146' .. mp_str('people') .. mp_str(user))
  end
end
if #ops > 0 then
  publish(KEYS[1], KEYS[2], presence_payload(ops, refs, people), ARGV, 1)
end
return #ops
"""
)

# KEYS: meta, log, refs, people. ARGV: fresh epoch, meta_ttl_ms. Returns {epoch, offset, count, people}.
_SNAPSHOT_LUA = (
    LUA_PRELUDE
    + LUA_HEAD_BODY
    + """
return {epoch, seq, redis.call('HLEN', KEYS[3]), redis.call('HGETALL', KEYS[4])}
"""
)

_JOIN = Script(_JOIN_LUA)
_SWEEP = Script(_SWEEP_LUA)
_SNAPSHOT = Script(_SNAPSHOT_LUA)


class RedisPresence(Presence):
    def __init__(
        self,
        redis: Redis,
        streams: RedisStreams,
        *,
        ttl_seconds: float = 20.0,
        grace_ms: int = 3_000,
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, grace_ms=grace_ms)
        self.redis = redis
        self.streams = streams
        self.prefix = streams.names.prefix
        self._local: dict[str, dict[str, bytes]] = {}
        """Scope -> this node's open sessions in it (member -> packed person), refreshed every tick."""

    def _keys(self, scope: str) -> list[str]:
        topic = presence_topic_of(scope)
        base = f"{self.prefix}hub:{{{topic}}}"
        return [*self.streams.topic_keys(topic), f"{base}:sessions", f"{base}:refs", f"{base}:people"]

    @property
    def _scopes_key(self) -> str:
        return f"{self.prefix}hub:presence:scopes"

    async def join(self, session_id: str, person: Person, scopes: Sequence[str]) -> None:
        packed = encode_value(
            {"handle": person.handle, "display_name": person.display_name, "since_ms": self.streams.now_ms()},
            Encoding.MSGPACK,
        )
        member = f"{person.user_id} {session_id}"
        for scope in scopes:
            self._local.setdefault(scope, {})[member] = packed
        await self._join(
            [(scope, member, person.user_id, packed) for scope in scopes], self.streams.now_ms() + self.ttl_ms
        )

    async def _join(self, entries: list[tuple[str, str, str, bytes]], until: int) -> None:
        calls = []
        for scope, member, user_id, packed in entries:
            topic = presence_topic_of(scope)
            args: list[EncodableT] = [
                *self.streams.publish_args(topic),
                member,
                until,
                user_id,
                packed,
                PRESENCE_MAX_PEOPLE,
                scope,
            ]
            calls.append((_JOIN, [*self._keys(scope), self._scopes_key], args))
        if calls:
            await run_scripts(self.redis, calls, once=True)

    async def leave(self, session_id: str, person: Person, scopes: Sequence[str]) -> None:
        member = f"{person.user_id} {session_id}"
        until = self.streams.now_ms() + self.grace_ms
        pipe = self.redis.pipeline(transaction=False)
        for scope in scopes:
            local = self._local.get(scope)
            if local is not None:
                local.pop(member, None)
                if not local:
                    del self._local[scope]
            pipe.zadd(self._keys(scope)[2], {member: until}, xx=True)
        await pipe.execute()
        self._sweep_after_grace()

    async def tick(self) -> None:
        await self.refresh()
        await self.sweep()

    async def refresh(self) -> None:
        """Push back the expiry of this node's open sessions; re-join any a sweep removed meanwhile
        (this node was too slow to refresh, so others took it for dead)."""
        until = self.streams.now_ms() + self.ttl_ms
        local = [(scope, dict(members)) for scope, members in self._local.items()]
        if not local:
            return
        pipe = self.redis.pipeline(transaction=False)
        for scope, members in local:
            pipe.zadd(self._keys(scope)[2], dict.fromkeys(members, until), xx=True, ch=True)
        changed = await pipe.execute()
        lost = [
            (scope, member, member.partition(" ")[0], packed)
            for (scope, members), count in zip(local, changed, strict=True)
            if count < len(members)
            for member, packed in members.items()
        ]
        if lost:
            # Re-joining a member still there only moves its expiry: harmless for the others.
            await self._join(lost, until)

    async def sweep(self) -> int:
        """Remove the sessions whose time is up, in every scope (any node may sweep any scope)."""
        members: set[bytes] = await self.redis.smembers(self._scopes_key)  # type: ignore[assignment]
        scopes = [s.decode() for s in members]
        now = self.streams.now_ms()
        calls = [
            (_SWEEP, self._keys(scope), [*self.streams.publish_args(presence_topic_of(scope)), now])
            for scope in scopes
        ]
        left = await run_scripts(self.redis, calls, once=True) if calls else []
        return sum(int(n) for n in left)

    async def snapshot(self, scope: str) -> tuple[dict[str, Any], Position]:
        keys = self._keys(scope)
        [(epoch, offset, count, flat)] = await run_scripts(
            self.redis,
            [(_SNAPSHOT, [keys[0], keys[1], keys[3], keys[4]], [new_epoch(), self.streams.idle_ttl_ms])],
        )
        people = {flat[i].decode(): msgpack.unpackb(flat[i + 1], raw=False) for i in range(0, len(flat), 2)}
        return presence_document(scope, int(count), people), Position(epoch.decode(), int(offset))
