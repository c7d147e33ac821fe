"""Presence: who is online, per scope (``global``, ``team:<slug>``), across every hub process.

A person is online while they have at least one session on any node; two tabs are one person. Each
change of who is online is a delta of the topic ``presence:<scope>`` (PROTOCOL.md §9), published in the
same atomic step as the change itself, so the document and its stream never disagree:

- ``join``: a session's first appearance makes its user online (if they were not already);
- ``leave``: the session lingers for ``grace_ms`` before it stops counting, so that a page reload does
  not flicker on everyone's screen; the node that saw it close sweeps when the grace ends, so its user
  leaves then (not at the next periodic sweep);
- a node that dies without closing its sessions stops refreshing them, and they expire ``ttl`` after
  the last refresh; every node sweeps expired sessions every ``ttl / 4``, so a dead node's people leave
  within 1.25 × ``ttl`` (25 s with the default 20 s).

Implementations: `MemoryPresence` below (embedded mode) and `server.hub.presence_redis.RedisPresence`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from protocol import PRESENCE_MAX_PEOPLE

from .memory import MemoryStreams
from .publish import TopicChange, encode_change
from .streams import Position

log = logging.getLogger("gamif.hub")

_SWEEP_MARGIN_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    handle: str
    display_name: str


def presence_topic_of(scope: str) -> str:
    return f"presence:{scope}"


def scopes_of(teams: Sequence[str]) -> list[str]:
    """The presence scopes a user appears in: everyone's, and each of their teams'."""
    return ["global", *(f"team:{slug}" for slug in teams)]


def presence_document(scope: str, count: int, people: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"scope": scope, "count": count, "truncated": count > len(people), "people": people}


class Presence(abc.ABC):
    """Who is online; every change is published on the scope's topic (see the module docstring)."""

    def __init__(self, *, ttl_seconds: float = 20.0, grace_ms: int = 3_000) -> None:
        self.ttl_ms = round(ttl_seconds * 1000)
        self.grace_ms = grace_ms
        self._task: asyncio.Task[None] | None = None
        self._sweeping: asyncio.Task[None] | None = None
        self._sweep_again = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._tick_forever(), name="gamif-hub-presence")

    async def aclose(self) -> None:
        task, self._task = self._task, None  # the grace timers still to fire then do nothing
        for running in (task, self._sweeping):
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running

    def _sweep_after_grace(self) -> None:
        """A session of this node just closed: sweep when its grace ends, so that its user leaves then.
        Sweeps that fall due together (a crowd disconnecting) run once, or once more after a running one."""
        if self._task is None:
            return  # not started (tests drive `tick` themselves)
        loop = asyncio.get_running_loop()
        # A hair after the grace: the expiry is on the wall clock, the timer on the loop's.
        loop.call_later(self.grace_ms / 1000 + _SWEEP_MARGIN_SECONDS, self._sweep_now)

    def _sweep_now(self) -> None:
        if self._task is None:
            return  # closed meanwhile
        if self._sweeping is not None:
            self._sweep_again = True
            return
        self._sweeping = asyncio.get_running_loop().create_task(self._sweep_due())

    async def _sweep_due(self) -> None:
        try:
            while True:
                self._sweep_again = False
                try:
                    await self.sweep()
                except Exception:  # a Redis blip: the periodic sweep catches up
                    log.warning("hub presence: sweep failed", exc_info=True)
                if not self._sweep_again:
                    return
        finally:
            self._sweeping = None

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 4000)
            try:
                await self.tick()
            except Exception:  # a Redis blip: the next tick tries again
                log.warning("hub presence: refresh or sweep failed", exc_info=True)

    @abc.abstractmethod
    async def join(self, session_id: str, person: Person, scopes: Sequence[str]) -> None:
        """Count the session as online in each scope (publishing a join if its user was offline)."""

    @abc.abstractmethod
    async def leave(self, session_id: str, person: Person, scopes: Sequence[str]) -> None:
        """The session ended: it stops counting after the grace period."""

    @abc.abstractmethod
    async def snapshot(self, scope: str) -> tuple[dict[str, Any], Position]:
        """The scope's document and the position of its topic it is the state at."""

    @abc.abstractmethod
    async def tick(self) -> None:
        """Refresh this node's sessions and sweep the expired ones (every ``ttl / 4``)."""

    @abc.abstractmethod
    async def sweep(self) -> int:
        """Remove the sessions whose time is up, publishing who left; how many people left."""


@dataclass
class _Scope:
    expiry: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    """Session id -> (user id, when it stops counting; None while it is open)."""
    refs: dict[str, int] = field(default_factory=dict)
    """User id -> sessions counting."""
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The listed people (at most PRESENCE_MAX_PEOPLE)."""


class MemoryPresence(Presence):
    """Embedded mode: one process, so sessions never outlive their node and need no refresh.

    Each change and its publish happen without an await in between (`MemoryStreams` never suspends),
    which makes them atomic, as the Redis scripts are."""

    def __init__(self, streams: MemoryStreams, *, ttl_seconds: float = 20.0, grace_ms: int = 3_000) -> None:
        super().__init__(ttl_seconds=ttl_seconds, grace_ms=grace_ms)
        self.streams = streams
        self._scopes: dict[str, _Scope] = {}

    async def join(self, session_id: str, person: Person, scopes: Sequence[str]) -> None:
        now = self.streams.now_ms()
        for scope in scopes:
            state = self._scopes.setdefault(scope, _Scope())
            if session_id in state.expiry:
                state.expiry[session_id] = (person.user_id, None)
                continue
            state.expiry[session_id] = (person.user_id, None)
            refs = state.refs[person.user_id] = state.refs.get(person.user_id, 0) + 1
            if refs > 1:
                continue
            ops: list[list[Any]] = []
            if len(state.people) < PRESENCE_MAX_PEOPLE:
                info = {"handle": person.handle, "display_name": person.display_name, "since_ms": now}
                state.people[person.user_id] = info
                ops.append(["set", ["people", person.user_id], info])
            await self._publish(scope, state, ops)

    async def leave(self, session_id: str, person: Person, scopes: Sequence[str]) -> None:
        until = self.streams.now_ms() + self.grace_ms
        for scope in scopes:
            state = self._scopes.get(scope)
            if state is not None and session_id in state.expiry:
                state.expiry[session_id] = (person.user_id, until)
        if self.grace_ms == 0:
            await self.sweep()
        else:
            self._sweep_after_grace()

    async def tick(self) -> None:
        await self.sweep()

    async def sweep(self) -> int:
        now = self.streams.now_ms()
        left = 0
        for scope, state in list(self._scopes.items()):
            gone = [s for s, (_, until) in state.expiry.items() if until is not None and until <= now]
            if not gone:
                continue
            ops: list[list[Any]] = []
            for session_id in gone:
                user_id, _ = state.expiry.pop(session_id)
                refs = state.refs[user_id] - 1
                if refs:
                    state.refs[user_id] = refs
                    continue
                del state.refs[user_id]
                state.people.pop(user_id, None)
                ops.append(["remove", ["people", user_id]])
            if ops:
                left += len(ops)
                await self._publish(scope, state, ops)
            if not state.expiry:
                del self._scopes[scope]
        return left

    async def _publish(self, scope: str, state: _Scope, ops: list[list[Any]]) -> None:
        count = len(state.refs)
        ops += [["set", ["count"], count], ["set", ["truncated"], count > len(state.people)]]
        topic = presence_topic_of(scope)
        await self.streams.publish(topic, encode_change(TopicChange(topic, ops)))

    async def snapshot(self, scope: str) -> tuple[dict[str, Any], Position]:
        state = self._scopes.get(scope, _Scope())
        position = await self.streams.head(presence_topic_of(scope))
        people = {user_id: dict(info) for user_id, info in state.people.items()}
        return presence_document(scope, len(state.refs), people), position
