"""The dead-letter stream: queued messages that could not be run, kept until an admin decides.

A worker writes one (`tasks.broker.ReliableStreamBroker.dead_letter`) when a batch fails for another
reason than a store being down, again and again (`tasks.scoring.Unscorable`), before it acknowledges
the message: a crash in between leaves the batch in both streams (replaying it then counts nothing
twice: scoring is idempotent per event id), never in neither. Each entry keeps the queued message as it
was (``data``) beside why it failed, so that replaying it is putting ``data`` back on the queue.

`DeadLetters` is what `gamif queue` uses: list, read, replay (atomically: one Lua script adds the message
to the queue and removes the dead letter) and drop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

DATA = b"data"

_ID = re.compile(r"\d+-\d+")

# KEYS: the dead-letter stream, the queue; ARGV: the entry's id. The new queue entry's id, or false.
_REPLAY = """
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entry == 0 then return false end
local fields = entry[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'data' then
    local id = redis.call('XADD', KEYS[2], '*', 'data', fields[i + 1])
    redis.call('XDEL', KEYS[1], ARGV[1])
    return id
  end
end
return redis.error_reply('dead letter ' .. ARGV[1] .. ' has no data field')
"""

_Field = bytes | bytearray | memoryview | str | int | float


def dead_letter_fields(
    data: bytes, *, reason: str, attempts: int, events: int, worker: str
) -> dict[_Field, _Field]:
    """A dead-letter entry: the message as queued, and why, when and where it failed."""
    return {
        DATA: data,
        "reason": reason,
        "attempts": attempts,
        "events": events,
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "worker": worker,
    }


def valid_id(entry_id: str) -> bool:
    """Whether ``entry_id`` is a stream entry id (``1733561234567-0``)."""
    return _ID.fullmatch(entry_id) is not None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    reason: str
    attempts: int
    events: int
    failed_at: str
    worker: str
    data: bytes


def _dead_letter(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    def text(name: bytes) -> str:
        return fields.get(name, b"").decode(errors="replace")

    return DeadLetter(
        id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        reason=text(b"reason"),
        attempts=int(text(b"attempts") or 0),
        events=int(text(b"events") or 0),
        failed_at=text(b"failed_at"),
        worker=text(b"worker"),
        data=fields.get(DATA, b""),
    )


class DeadLetters:
    """The dead letters of ``queue`` (a Redis stream), in ``<queue>:dead``."""

    def __init__(self, redis: Redis, queue: str) -> None:
        self.redis = redis
        self.queue = queue
        self.name = f"{queue}:dead"
        self._replay = redis.register_script(_REPLAY)

    async def count(self) -> int:
        return int(await self.redis.xlen(self.name))

    async def entries(self, limit: int | None = None) -> list[DeadLetter]:
        """The oldest first."""
        entries = await self._range("-", "+", limit)
        return [_dead_letter(entry_id, fields) for entry_id, fields in entries]

    async def get(self, entry_id: str) -> DeadLetter | None:
        entries = await self._range(entry_id, entry_id, None)
        return _dead_letter(*entries[0]) if entries else None

    async def _range(
        self, first: str, last: str, limit: int | None
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # redis-py types stream replies loosely: [(id, {field: value})] (bytes: no decode_responses).
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(
            self.name, first, last, count=limit
        )  # type: ignore[assignment]
        return entries

    async def replay(self, entry_id: str) -> str | None:
        """Put the message back on the queue and remove the dead letter, in one step: the new queue
        entry's id, or None when there is no such dead letter."""
        new_id = await self._replay(keys=[self.name, self.queue], args=[entry_id])
        if new_id is None:
            return None
        return new_id.decode() if isinstance(new_id, bytes) else str(new_id)

    async def drop(self, entry_id: str) -> bool:
        """Delete the dead letter for good: whether there was one."""
        return bool(await self.redis.xdel(self.name, entry_id))
