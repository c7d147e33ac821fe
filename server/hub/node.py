"""The hub of one process: its sessions, which topics they watch, and the local fan-out of the bus.

Each delta the bus delivers is decoded once (`LiveDelta`) and offered to every local session watching
its topic; each session encodes nothing itself (bodies are cached per encoding on the delta) and never
blocks the loop that offers. Topic state comes from the application (`HubHandlers`) or, for presence,
from `Presence`, always paired with the stream position it is the state at.

Everything the hub uses is given to it when it is built; sessions see it through `SessionHost`, and it
sees them through `HostedSession` (`server.hub.host`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

from protocol import parse_topic
from server.config import Settings

from .frames import DeltaRun, LiveDelta
from .handlers import HubHandlers
from .host import HostedSession, HubStats
from .presence import Presence
from .streams import Bus, BusListener, Delta, Position, Streams

log = logging.getLogger("gamif.hub")

_WATCHDOG_SECONDS = 0.25
_SNAPSHOT_REUSE_SECONDS = 1.0
_SNAPSHOT_CACHE_SIZE = 10_000
_CHORES_TIMEOUT_SECONDS = 2.0


class Hub(BusListener):
    """One process's hub (see the module docstring). ``bus`` makes the bus that delivers the deltas of
    the topics watched here to the hub it is given (the bus and its listener need each other)."""

    def __init__(
        self,
        *,
        settings: Settings,
        streams: Streams,
        presence: Presence,
        handlers: HubHandlers,
        bus: Callable[[BusListener], Bus],
        node_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.streams = streams
        self.presence = presence
        self.handlers = handlers
        """The application's answers: identities, topics, ingest, notifications."""
        self.node_id = node_id or secrets.token_urlsafe(6)
        self.sessions: set[HostedSession] = set()
        self.watchers: dict[str, set[HostedSession]] = {}
        self.stats = HubStats()
        self._arrived: list[LiveDelta] = []
        self._allowed: dict[str, float] = {}
        """Topics anyone may read, and when that was last checked."""
        self._deadlines: set[HostedSession] = set()
        """Every open session, authenticated or not: the watchdog checks their time limits."""
        self._watchdog: asyncio.Task[None] | None = None
        self._snapshots: dict[str, tuple[float, dict[str, Any], Position]] = {}
        self._reading: dict[str, asyncio.Task[tuple[dict[str, Any], Position]]] = {}
        self._chores: set[asyncio.Task[None]] = set()
        """Tasks the sessions left behind (`later`)."""
        self.bus = bus(self)

    async def start(self) -> None:
        await self.bus.start()
        await self.presence.start()
        self._watchdog = asyncio.create_task(self._watch_deadlines(), name="gamif-hub-watchdog")

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._chores:
            # Bounded: a store that does not answer must not hold the shutdown.
            _, late = await asyncio.wait(set(self._chores), timeout=_CHORES_TIMEOUT_SECONDS)
            for task in late:
                task.cancel()
        await self.presence.aclose()
        await self.bus.aclose()

    def watch_deadlines(self, session: HostedSession) -> None:
        self._deadlines.add(session)

    def unwatch_deadlines(self, session: HostedSession) -> None:
        self._deadlines.discard(session)

    async def _watch_deadlines(self) -> None:
        # One pass over the sessions every quarter second (about 1 ms per 10,000): cheaper than a timer
        # per session re-armed on every message, and the limits are seconds long.
        while True:
            await asyncio.sleep(_WATCHDOG_SECONDS)
            now, now_ms = time.monotonic(), int(time.time() * 1000)
            for session in tuple(self._deadlines):
                session.check_deadlines(now, now_ms)

    # ------------------------------------------------------------------ sessions and topics

    def attach(self, session: HostedSession) -> None:
        self.sessions.add(session)
        self.stats.sessions = len(self.sessions)

    def detach(self, session: HostedSession) -> None:
        self.sessions.discard(session)
        self.stats.sessions = len(self.sessions)

    async def authorize(self, user_id: str, topic: str) -> None:
        parsed = parse_topic(topic)
        kind = parsed.kind
        if kind == "presence":
            # Anyone authenticated (PROTOCOL.md §8), for a team that exists.
            if parsed.parts[0] == "team":
                await self.authorize(user_id, f"team:{parsed.parts[1]}")
            return
        if kind == "user":
            await self.handlers.authorize(user_id, topic)  # depends on who asks
            return
        # The same answer for everyone: remember a yes for a second (a crowd subscribing to one board).
        loop = asyncio.get_running_loop()
        if loop.time() - self._allowed.get(topic, -math.inf) < _SNAPSHOT_REUSE_SECONDS:
            return
        await self.handlers.authorize(user_id, topic)
        if len(self._allowed) >= _SNAPSHOT_CACHE_SIZE:
            self._allowed.clear()
        self._allowed[topic] = loop.time()

    async def snapshot(self, topic: str) -> tuple[dict[str, Any], Position]:
        """The topic's document and the position it is the state at.

        A crowd subscribing to one topic (a wall of screens, a reconnect storm after a deploy) is
        served from one read: the last snapshot is reused while the topic's head has not moved and it
        is under a second old (documents also change with time: streaks lapse, periods turn), and
        concurrent reads of one topic share the same one."""
        loop = asyncio.get_running_loop()
        cached = self._snapshots.get(topic)
        fresh = cached is not None and loop.time() - cached[0] < _SNAPSHOT_REUSE_SECONDS
        if cached is not None and fresh and await self.streams.head(topic) == cached[2]:
            return cached[1], cached[2]
        pending = self._reading.get(topic)
        if pending is None:
            pending = self._reading[topic] = loop.create_task(self._read_snapshot(topic))
            pending.add_done_callback(lambda _: self._reading.pop(topic, None))
        document, position = await asyncio.shield(pending)
        if len(self._snapshots) >= _SNAPSHOT_CACHE_SIZE:
            self._snapshots.clear()  # crude, but bounded; the cache is a shortcut, not a store
        self._snapshots[topic] = (loop.time(), document, position)
        return document, position

    async def _read_snapshot(self, topic: str) -> tuple[dict[str, Any], Position]:
        if topic.startswith("presence:"):
            return await self.presence.snapshot(topic.removeprefix("presence:"))
        return await self.handlers.snapshot(topic, lambda: self.streams.head(topic))

    async def watch(self, topic: str, session: HostedSession) -> None:
        """Deliver `topic`'s deltas to `session` from now on (returns once that is certain)."""
        watchers = self.watchers.setdefault(topic, set())
        watchers.add(session)
        try:
            await self.bus.subscribe(topic)
        except BaseException:
            self._forget(topic, session)
            raise

    def unwatch(self, topic: str, session: HostedSession) -> None:
        """Deliver nothing more of `topic` to `session`, at once; the bus stops listening to a topic
        nobody watches any more in the background (a task of the hub's: the end of the session that
        asked must not cancel it, or the bus would keep the topic forever)."""
        if self._forget(topic, session):
            self.later(self.bus.unsubscribe(topic))

    def later(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a chore of a session that ended (leaving presence, releasing a topic) as the hub's own
        task: failures are logged, and `aclose` waits for what is left."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._chores.add(task)
        task.add_done_callback(self._chore_done)

    def _chore_done(self, task: asyncio.Task[None]) -> None:
        self._chores.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("hub: a session's chore failed", exc_info=task.exception())

    def _forget(self, topic: str, session: HostedSession) -> bool:
        watchers = self.watchers.get(topic)
        if watchers is None or session not in watchers:
            return False
        watchers.discard(session)
        if not watchers:
            del self.watchers[topic]
        return True

    # ------------------------------------------------------------------ the bus

    def on_delta(self, delta: Delta) -> None:
        if delta.topic not in self.watchers:
            return
        self.stats.deltas_received += 1
        # Fanned out at the end of this turn of the event loop, with whatever else the same read of
        # the bus brought: a burst of a topic's deltas leaves as one batch frame per session.
        if not self._arrived:
            asyncio.get_running_loop().call_soon(self._fan_out)
        self._arrived.append(LiveDelta.from_stream(delta))

    def _fan_out(self) -> None:
        arrived, self._arrived = self._arrived, []
        runs: dict[str, list[LiveDelta]] = {}
        for live in arrived:
            run = runs.setdefault(live.topic, [])
            if run and (run[-1].epoch != live.epoch or run[-1].offset + 1 != live.offset):
                self._offer(DeltaRun(run))  # not consecutive: what came before goes first
                run = runs[live.topic] = []
            run.append(live)
        for run in runs.values():
            self._offer(DeltaRun(run))

    def _offer(self, run: DeltaRun) -> None:
        watchers = self.watchers.get(run.deltas[0].topic)
        if not watchers:
            return
        if len(run.deltas) == 1:
            delta = run.deltas[0]
            for session in tuple(watchers):
                session.offer(delta)
        else:
            for session in tuple(watchers):
                session.offer_run(run)

    def on_reset(self) -> None:
        log.info("hub: the bus reconnected; every session catches up from the history")
        for session in tuple(self.sessions):
            session.catch_up()
