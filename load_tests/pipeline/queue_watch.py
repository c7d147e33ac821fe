"""When the worker took each queued batch, seen from outside: the scoring queue is a Redis stream
(``<prefix>tasks:score``) read by the consumer group ``gamif-workers``. A stream entry's id is the
millisecond the API added it; polling the group's ``last-delivered-id`` every few milliseconds tells
when the worker fetched it (to the polling period). Nothing in the server is changed or asked.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

GROUP = "gamif-workers"


def _entry(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, sequence = text.partition("-")
    return int(ms), int(sequence or 0)


@dataclass(slots=True)
class QueueWatch:
    redis_url: str
    stream: str
    period: float = 0.005
    fetched: dict[tuple[int, int], float] = field(default_factory=dict)
    """Stream entry id (ms, sequence) -> wall-clock second the worker had fetched it by."""
    polls: int = 0
    _task: asyncio.Task[None] | None = None

    _stopping: bool = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        # A flag, not Task.cancel(): a cancellation that lands inside a redis-py command can be lost.
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._task.cancel()

    async def _watch(self) -> None:
        redis = Redis.from_url(self.redis_url, socket_timeout=5)
        seen = (0, 0)
        try:
            while not self._stopping:
                await asyncio.sleep(self.period)
                try:
                    groups = await redis.xinfo_groups(self.stream)
                except RedisError:
                    continue
                self.polls += 1
                now = time.time()
                for group in groups:
                    name = group["name"]
                    if (name.decode() if isinstance(name, bytes) else name) != GROUP:
                        continue
                    last = _entry(group["last-delivered-id"])
                    if last > seen:
                        # Every entry between the previous reading and this one was fetched by now.
                        entries = await redis.xrange(
                            self.stream, min=f"({seen[0]}-{seen[1]}", max=f"{last[0]}-{last[1]}"
                        )
                        for entry_id, _ in entries or ():
                            if entry_id is not None:
                                self.fetched.setdefault(_entry(entry_id), now)
                        seen = last
        finally:
            await redis.aclose()

    def entries_between(self, first_ms: float, last_ms: float) -> list[tuple[int, int]]:
        ordered = sorted(self.fetched)
        low = bisect.bisect_left(ordered, (int(first_ms), 0))
        high = bisect.bisect_right(ordered, (int(last_ms), 1 << 62))
        return ordered[low:high]
