"""Subscriber processes: each holds its share of the hub sessions (the fan-out harness's raw
`Subscriber`, which speaks the gamif protocol) and notes when every delta of its user's topic arrived.

The driver sends commands over a pipe: `connect` a list of (topic, token) sessions, `collect` the
arrivals, `quit`. Arrivals are CLOCK_MONOTONIC readings, comparable with the driver's (one machine).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from load_tests.fanout import hub_wire
from load_tests.fanout.commands import ConnectSpec
from load_tests.fanout.subscriber import Subscriber, Tally
from load_tests.fanout.targets import HOST
from load_tests.fanout.ws_wire import OP_BINARY
from load_tests.kit.processes import serve_commands, stop


@dataclass(frozen=True, slots=True)
class Session:
    topic: str
    token: str


@dataclass(slots=True)
class SessionReport:
    topic: str
    arrivals: list[tuple[float, int, int]]
    """(monotonic arrival, the delta's at_ms, its offset) for each delta of the topic, in order."""
    answers: dict[int, int]
    """By delta offset, how many of the run's events it answers (`events_answered`)."""
    subscribed_offset: int
    closed: str | None


@dataclass(slots=True)
class ProcessReport:
    sessions: list[SessionReport] = field(default_factory=list)
    cpu_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


METRIC = "reviews_done"  # 10 XP a review, 80 XP a day: five reviews a day always award XP
XP_PER_EVENT = 10


def events_answered(event: dict[str, Any]) -> int:
    """How many of the run's events an ``event`` message answers: a worker scores what it holds at once
    together, so one delta may answer several events of a player; its ``xp_awarded`` events (one award
    per day covers that day's events) say how many."""
    data = event.get("data") or {}
    if event.get("name") != "xp_awarded" or data.get("rule_id") != f"metrics.{METRIC}":
        return 0
    return int(data.get("amount", 0)) // XP_PER_EVENT


class TimedSubscriber(Subscriber):
    """Decodes every frame (a few thousand a second here) and notes each delta of its topic."""

    def __init__(self, spec: ConnectSpec, tally: Tally, ready: asyncio.Future[None]) -> None:
        super().__init__(spec, tally, ready)
        self.arrivals: list[tuple[float, int, int]] = []
        self.answers: dict[int, int] = {}
        self.subscribed_offset = -1

    def _hub_frame(self, data: bytes, start: int, end: int) -> int:
        now = time.monotonic()
        message = hub_wire.decode(data[start:end])
        deltas = hub_wire.deltas_of(message)
        if not deltas:
            self._hub_message(message)
            if message.get("type") == "subscribed" and self.subscribed_offset < 0:
                self.subscribed_offset = int(message.get("offset", 0))
            elif message.get("type") == "event" and message.get("topic") == self.spec.topic:
                offset = int(message.get("offset", 0))
                self.answers[offset] = self.answers.get(offset, 0) + events_answered(message)
            return 0
        topic = self.spec.topic
        count = 0
        for delta in deltas:
            if delta.get("topic") == topic:
                self.arrivals.append((now, int(delta.get("at_ms", 0)), int(delta.get("offset", 0))))
                count += 1
        return count


def serve(pipe: Connection, port: int) -> None:
    uvloop.run(_serve(pipe, port))


async def _serve(pipe: Connection, port: int) -> None:
    tally = Tally()
    connections: list[TimedSubscriber] = []
    keepalive = asyncio.create_task(_keep_alive(connections))

    async def handle(command: tuple[Any, ...]) -> Any:
        try:
            if command[0] == "connect":
                return await _connect(connections, tally, port, command[1])
            if command[0] == "collect":
                return ProcessReport(
                    [
                        SessionReport(c.spec.topic, c.arrivals, c.answers, c.subscribed_offset, c.closed)
                        for c in connections
                    ],
                    time.process_time(),
                )
            if command[0] == "cpu":
                return time.process_time()
            return ProcessReport(errors=[f"unknown command {command[0]!r}"])
        except Exception:
            return ProcessReport(errors=[traceback.format_exc()])

    try:
        await serve_commands(pipe, handle)
    finally:
        keepalive.cancel()
        for connection in connections:
            connection.reset()


async def _connect(
    connections: list[TimedSubscriber], tally: Tally, port: int, sessions: list[Session]
) -> ProcessReport:
    """Open the sessions, 32 at a time."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(32)

    async def open_one(session: Session) -> None:
        spec = ConnectSpec(
            HOST,
            port,
            "/ws",
            hub_wire.SUBPROTOCOL,
            hub=True,
            hello=hub_wire.hello_frames(session.token, session.topic),
            topic=session.topic,
        )
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            _, subscriber = await loop.create_connection(
                lambda: TimedSubscriber(spec, tally, ready), spec.host, spec.port
            )
            try:
                await asyncio.wait_for(ready, 60)
            except BaseException:
                subscriber.reset()
                raise
            connections.append(subscriber)

    results = await asyncio.gather(*(open_one(session) for session in sessions), return_exceptions=True)
    errors = [repr(result) for result in results if isinstance(result, BaseException)]
    return ProcessReport(
        errors=list(dict.fromkeys(errors))[:5] + ([f"{len(errors)} failed"] if errors else [])
    )


async def _keep_alive(connections: list[TimedSubscriber]) -> None:
    """Hub sessions must send something every ``heartbeat_ms``: ping those that have been quiet."""
    while True:
        await asyncio.sleep(2.0)
        now = time.monotonic()
        for connection in connections:
            if now - connection.last_sent > 0.5 * connection.heartbeat:
                connection.send(OP_BINARY, hub_wire.PING_FRAME)


class ClientPool:
    """`count` subscriber processes, the sessions dealt round-robin between them."""

    def __init__(self, count: int, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for _ in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(target=serve, args=(theirs, port), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(mine)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

    async def _ask_all(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        for pipe, command in zip(self.pipes, commands, strict=True):
            pipe.send(command)
        return list(await asyncio.gather(*(asyncio.to_thread(pipe.recv) for pipe in self.pipes)))

    async def connect(self, sessions: list[Session]) -> list[str]:
        """Open the sessions over the processes; the errors of those that could not be opened."""
        shares: list[list[Session]] = [[] for _ in self.pipes]
        for index, session in enumerate(sessions):
            shares[index % len(shares)].append(session)
        reports = await self._ask_all([("connect", share) for share in shares])
        return [error for report in reports for error in report.errors]

    async def collect(self) -> list[ProcessReport]:
        return await self._ask_all([("collect",) for _ in self.pipes])

    def close(self) -> None:
        stop(self.pipes, self.processes)
