"""The Lua scripts of the leaderboards, and how they are sent.

Sorted-set entries are ``<13-digit time code><member>`` with the score negated (package docstring); a
member's current code is in the board's times hash, so every script finds an entry through it.
Scores cross the Lua boundary as the strings Redis prints (``%.17g``: exact for doubles), never as Lua
numbers turned into text (``..`` would print 14 digits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

from persistence.compat.redis import pooled_connection

from .layout import KINDS

GROUP_SIZE = len(KINDS)

RECORD_LUA = """
-- KEYS: 7 per board and period (u, ut, t, ta, tt, tn, tm: see layout.KINDS), then the records counter.
-- ARGV: the number of groups G; each group's expiry (unix seconds, '0': none); then the changes as text
-- (far cheaper to send and parse than one argument per field), one per line:
--   ARGV[G + 2], users: "<group> <units gained> <time code> <user id>"
--   ARGV[G + 3], teams: "<group> <units gained> <time code> <slug> <contributing user id>"
local ngroups = tonumber(ARGV[1])
local touched, previous, prank = {}, {}, {}
local USERS, TEAMS = '(%d+) (%-?%d+) (%d+) (%S+)\\n', '(%d+) (%-?%d+) (%d+) (%S+) (%S+)\\n'

-- Note a (sorted set, member) the batch touches, with its score and competition rank before the batch
-- ('' if it had none).
local function remember(z, t, member)
  local id = z .. ' ' .. member
  if previous[id] == nil then
    local code = redis.call('HGET', KEYS[t], member)
    local score = code and redis.call('ZSCORE', KEYS[z], code .. member)
    previous[id] = score or ''
    prank[id] = score and redis.call('ZCOUNT', KEYS[z], '-inf', '(' .. score) + 1 or ''
    touched[#touched + 1] = {z, t, member}
  end
end

-- First every member's standing before the batch, then the changes.
for g, _, _, member in string.gmatch(ARGV[ngroups + 2], USERS) do
  local base = (tonumber(g) - 1) * 7
  remember(base + 1, base + 2, member)
end
for g, _, _, member in string.gmatch(ARGV[ngroups + 3], TEAMS) do
  local base = (tonumber(g) - 1) * 7
  remember(base + 3, base + 5, member)
  remember(base + 4, base + 5, member)
end

-- The member's current code and stored score, and the code it moves to (the later of the two).
local function current(z, t, member, code)
  local old = redis.call('HGET', KEYS[t], member)
  if not old then return false, 0, code end
  local stored = tonumber(redis.call('ZSCORE', KEYS[z], old .. member))
  if tonumber(old) > tonumber(code) then code = old end
  return old, stored, code
end

local function place(z, old, code, member, stored)
  if old then redis.call('ZREM', KEYS[z], old .. member) end
  redis.call('ZADD', KEYS[z], stored, code .. member)
end

for g, units, code, member in string.gmatch(ARGV[ngroups + 2], USERS) do
  local base = (tonumber(g) - 1) * 7
  local z, t = base + 1, base + 2
  local old, stored
  old, stored, code = current(z, t, member, code)
  place(z, old, code, member, stored - tonumber(units))
  redis.call('HSET', KEYS[t], member, code)
end

for g, units, code, member, user in string.gmatch(ARGV[ngroups + 3], TEAMS) do
  local base = (tonumber(g) - 1) * 7
  local z, za, t, n, seen = base + 3, base + 4, base + 5, base + 6, base + 7
  local old, stored
  old, stored, code = current(z, t, member, code)
  if redis.call('SADD', KEYS[seen], member .. ' ' .. user) == 1 then
    redis.call('HINCRBY', KEYS[n], member, 1)
  end
  local count = tonumber(redis.call('HGET', KEYS[n], member))
  stored = stored - tonumber(units)
  place(z, old, code, member, stored)
  place(za, old, code, member, stored / count)
  redis.call('HSET', KEYS[t], member, code)
end

for g = 1, ngroups do
  local at = ARGV[1 + g]
  if at ~= '0' then
    for k = 1, 7 do redis.call('EXPIREAT', KEYS[(g - 1) * 7 + k], at) end
  end
end

-- A repair rebuilding the boards watches this counter: a batch recorded meanwhile makes it try again.
redis.call('INCR', KEYS[#KEYS])

-- Each touched (sorted set, member), once the whole batch is in, one per line: key index, score
-- before, rank before, score, competition rank, position, members on the board, member.
local out = {}
for _, entry in ipairs(touched) do
  local z, t, member = entry[1], entry[2], entry[3]
  local item = redis.call('HGET', KEYS[t], member) .. member
  local score = redis.call('ZSCORE', KEYS[z], item)
  out[#out + 1] = table.concat({
    z, previous[z .. ' ' .. member], prank[z .. ' ' .. member], score,
    redis.call('ZCOUNT', KEYS[z], '-inf', '(' .. score) + 1,
    redis.call('ZRANK', KEYS[z], item) + 1, redis.call('ZCARD', KEYS[z]), member}, ' ')
end
return table.concat(out, '\\n')
"""

PAGE_LUA = """
-- KEYS: a board's sorted set and its times hash. ARGV: offset, limit, and a member or ''.
-- With a member: the rows from offset positions before it to offset after it (clipped), or none if it
-- has no score. Returns: members on the board, the rank of the first row, its position (0-based), rows.
local card = redis.call('ZCARD', KEYS[1])
local start, stop = tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1
if ARGV[3] ~= '' then
  local code = redis.call('HGET', KEYS[2], ARGV[3])
  local position = code and redis.call('ZRANK', KEYS[1], code .. ARGV[3])
  if not position then return {card, 0, 0, {}} end
  start, stop = math.max(0, position - tonumber(ARGV[1])), position + tonumber(ARGV[1])
end
if stop < start then return {card, 0, start, {}} end
local rows = redis.call('ZRANGE', KEYS[1], start, stop, 'WITHSCORES')
if #rows == 0 then return {card, 0, start, rows} end
return {card, redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. rows[2]) + 1, start, rows}
"""

STANDING_LUA = """
-- KEYS: a board's sorted set and its times hash. ARGV: a member.
-- Returns: members on the board, then (if the member has a score) its entry, score, competition rank,
-- position, and the next better score ('' at the top).
local card = redis.call('ZCARD', KEYS[1])
local code = redis.call('HGET', KEYS[2], ARGV[1])
if not code then return {card} end
local item = code .. ARGV[1]
local score = redis.call('ZSCORE', KEYS[1], item)
if not score then return {card} end
local better = redis.call('ZRANGE', KEYS[1], '(' .. score, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, 1,
  'WITHSCORES')
return {card, item, score, redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. score) + 1,
  redis.call('ZRANK', KEYS[1], item) + 1, better[2] or ''}
"""


class Script:
    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def read(self, redis: Redis, keys: Sequence[str], args: Sequence[EncodableT]) -> Any:
        """Run a read-only script through the client (whose retries are harmless here)."""
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)

    async def write_once(self, redis: Redis, keys: Sequence[str], args: Sequence[EncodableT]) -> Any:
        """Run a script that must not run twice, on a pooled connection by hand: the client resends a
        command whose connection failed (its default retry), and a recorded batch whose reply was lost
        has been applied, so resending it would count it twice. NOSCRIPT means it did not run: load
        the script and send it again."""
        async with pooled_connection(redis) as conn:
            for attempt in (1, 2):
                try:
                    return await conn.execute("EVALSHA", self.sha, len(keys), *keys, *args)
                except NoScriptError:
                    if attempt == 2:
                        raise
                await conn.execute("SCRIPT", "LOAD", self.source)
        raise AssertionError("unreachable")  # pragma: no cover


RECORD = Script(RECORD_LUA)
PAGE = Script(PAGE_LUA)
STANDING = Script(STANDING_LUA)
