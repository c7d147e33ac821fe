"""Client processes holding the virtual users (`--procs`), each on uvloop, and the driver's handle on them.

The driver deals the `VuSpec`s round-robin and sends commands over a pipe; every second it asks each
process for a `Tick`: what it measured since the last one (counters, and HDR histograms encoded with
their own compact format, so percentiles merge exactly across processes) and its own CPU time, which is
how the kit notices that the generator, not the hub, is the bottleneck.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import uvloop
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from .histograms import new_histogram
from .processes import serve_commands, stop
from .vu import Meter, VirtualUser, VuSpec

HOST = "127.0.0.1"


@dataclass(slots=True)
class Tick:
    """One process's interval."""

    cpu_s: float = 0.0
    opened: int = 0
    failed: int = 0
    open_now: int = 0
    resumed: int = 0
    resume_failed: int = 0
    frames: int = 0
    payload_bytes: int = 0
    deliveries: int = 0
    events_answered: int = 0
    ingested: int = 0
    errors: int = 0
    missed: int = 0
    duplicated: int = 0
    resets: int = 0
    recovered: int = 0
    resnapshotted: int = 0
    in_flight_at_drop: int = 0
    closed: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Final:
    unanswered: int = 0
    open_now: int = 0
    errors: list[str] = field(default_factory=list)


COUNTERS = (
    "frames",
    "payload_bytes",
    "deliveries",
    "events_answered",
    "ingested",
    "errors",
    "missed",
    "duplicated",
    "resets",
    "recovered",
    "resnapshotted",
    "in_flight_at_drop",
)


class _Process:
    """The state of one client process."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host = port, host
        self.histograms: dict[str, HdrHistogram] = {}
        self.meter = Meter(self._record)
        self.users: list[VirtualUser] = []
        self.opened = self.failed = 0
        self.resumed = self.resume_failed = 0
        self.ingesting = False
        """Set by `start_ingest`: events are measured once every session is open, not while the hub is
        still busy opening them (the ramp's cost is what ``connect`` measures)."""
        self.keep_alive_every = 1.0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.cpu_last = time.process_time()
        self.reported: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.closed_reported: Counter[str] = Counter()
        self.problems_reported = 0

    def _record(self, name: str, ms: float) -> None:
        histogram = self.histograms.get(name)
        if histogram is None:
            histogram = self.histograms[name] = new_histogram()
        histogram.record_value(min(600_000_000, max(1, int(ms * 1000))))

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ------------------------------------------------------------------ commands

    def open(self, specs: list[VuSpec], rate: float, seed: int) -> None:
        """Open the sessions in the background, each at its slot of a steady ramp (``rate`` > 0) however
        long the others take: a storm does not wait for the server."""
        started = time.monotonic()
        for index, spec in enumerate(specs):
            user = VirtualUser(spec, self.host, self.port, self.meter, random.Random(seed + index))
            if spec.ping_every_s:
                self.keep_alive_every = min(self.keep_alive_every, spec.ping_every_s / 2)
            self.users.append(user)
            delay = index / rate if rate > 0 else 0.0
            self.spawn(self._open_one(user, started + delay))

    async def _open_one(self, user: VirtualUser, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        try:
            self._record("connect", await user.connect())
        except (OSError, ConnectionError, TimeoutError) as error:
            self.failed += 1
            self.meter.note(f"could not open a session: {error}")
            return
        self.opened += 1
        if user.spec.ingest_every_s > 0 and self.ingesting:
            self.spawn(self._ingest_loop(user))

    async def _ingest_loop(self, user: VirtualUser) -> None:
        mean = user.spec.ingest_every_s
        await asyncio.sleep(user.rng.uniform(0, mean))  # spread the first ones over a think time
        while self.ingesting:
            if user.connected and not user.ingest():
                return
            await asyncio.sleep(user.rng.expovariate(1 / mean))

    def drop(self, fraction: float, seed: int) -> int:
        """Cut ``fraction`` of the open sessions at once, then reconnect each at once and resume."""
        connected = [user for user in self.users if user.connected]
        chosen = random.Random(seed).sample(connected, round(len(connected) * fraction))
        dropped_at = time.monotonic()
        for user in chosen:
            user.drop()
        for user in chosen:
            self.spawn(self._resume(user, dropped_at))
        return len(chosen)

    async def _resume(self, user: VirtualUser, dropped_at: float) -> None:
        error: Exception | None = None
        for attempt in range(5):
            try:
                await user.connect()
            except (OSError, ConnectionError, TimeoutError) as failure:
                error = failure  # a retry with backoff, as a client would: an error only if all fail
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            self._record("resume", (time.monotonic() - dropped_at) * 1000)
            self.resumed += 1
            return
        self.meter.note(f"could not resume a session in 5 attempts: {error}")
        self.resume_failed += 1

    def start_ingest(self) -> None:
        self.ingesting = True
        for user in self.users:
            if user.spec.ingest_every_s > 0 and user.connected:
                self.spawn(self._ingest_loop(user))

    def tick(self) -> Tick:
        now_cpu = time.process_time()
        meter = self.meter
        tick = Tick(
            cpu_s=now_cpu - self.cpu_last,
            opened=self.opened,
            failed=self.failed,
            open_now=sum(1 for user in self.users if user.connected),
            resumed=self.resumed,
            resume_failed=self.resume_failed,
        )
        self.cpu_last = now_cpu
        for name in COUNTERS:
            value = getattr(meter, name)
            setattr(tick, name, value - self.reported[name])
            self.reported[name] = value
        tick.closed = dict(meter.closed - self.closed_reported)
        self.closed_reported = Counter(meter.closed)
        tick.problems = meter.problems[self.problems_reported :]
        self.problems_reported = len(meter.problems)
        for name, histogram in self.histograms.items():
            if histogram.get_total_count():
                tick.histograms[name] = histogram.encode()
                histogram.reset()
        return tick

    def final(self) -> Final:
        return Final(
            unanswered=sum(user.unanswered for user in self.users),
            open_now=sum(1 for user in self.users if user.connected),
            errors=list(self.meter.problems),
        )

    def unanswered(self) -> int:
        return sum(user.unanswered for user in self.users)

    def expect(self, counts: dict[str, int], sent_at: float) -> int:
        """Events reported for this process's users by someone else: ``counts`` by user id; how many
        of them this process's sessions will answer."""
        expected = 0
        for user in self.users:
            count = counts.get(user.spec.user_id, 0)
            if count:
                user.expect(count, sent_at)
                expected += count
        return expected

    async def keep_alive(self) -> None:
        """Hub sessions must send something every ``heartbeat_ms`` (else: close 4002): ping those that
        have been quiet for half of it. The pong's round trip is the ``ping`` histogram."""
        while True:
            await asyncio.sleep(self.keep_alive_every)
            now = time.monotonic()
            for user in self.users:
                quiet = user.spec.ping_every_s or 0.5 * user.heartbeat_s
                if user.connected and now - user.last_sent >= quiet:
                    user.ping()

    def close_all(self) -> None:
        self.ingesting = False
        for user in self.users:
            if user.connected:
                user.close()


def serve(pipe: Connection, port: int, host: str) -> None:
    uvloop.run(_serve(pipe, port, host))


async def _serve(pipe: Connection, port: int, host: str) -> None:
    state = _Process(port, host)
    state.spawn(state.keep_alive())

    async def handle(command: tuple[Any, ...]) -> Any:
        name, arguments = command[0], command[1:]
        if name == "open":
            return state.open(*arguments)
        if name == "tick":
            return state.tick()
        if name == "drop":
            return state.drop(*arguments)
        if name == "start-ingest":
            return state.start_ingest()
        if name == "stop-ingest":
            state.ingesting = False
            return None
        if name == "unanswered":
            return state.unanswered()
        if name == "expect":
            return state.expect(*arguments)
        if name == "ping-histogram":
            state.meter.ping_histogram = arguments[0]
            return None
        if name == "final":
            return state.final()
        if name == "close":
            return state.close_all()
        return RuntimeError(f"unknown command {name!r}")

    try:
        await serve_commands(pipe, handle)
    finally:
        for task in list(state.tasks):
            task.cancel()
        for user in state.users:
            user.drop()


class Swarm:
    """`procs` client processes; the virtual users dealt round-robin between them."""

    def __init__(self, procs: int, port: int, host: str = HOST) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for _ in range(procs):
            mine, theirs = context.Pipe()
            process = context.Process(target=serve, args=(theirs, port, host), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(mine)
            self.processes.append(process)
        self._lock = asyncio.Lock()

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

    async def _ask(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        async with self._lock:  # one command in flight per pipe
            for pipe, command in zip(self.pipes, commands, strict=True):
                pipe.send(command)
            replies = list(await asyncio.gather(*(asyncio.to_thread(pipe.recv) for pipe in self.pipes)))
        for reply in replies:
            if isinstance(reply, Exception):
                raise RuntimeError(f"a load client process failed: {reply}")
        return replies

    async def _all(self, *command: Any) -> list[Any]:
        return await self._ask([command for _ in self.pipes])

    async def open(self, specs: list[VuSpec], rate: float, seed: int = 1) -> None:
        shares: list[list[VuSpec]] = [[] for _ in self.pipes]
        for index, spec in enumerate(specs):
            shares[index % len(shares)].append(spec)
        share_rate = rate / len(shares)
        await self._ask([("open", share, share_rate, seed + 1_000_000 * i) for i, share in enumerate(shares)])

    async def tick(self) -> list[Tick]:
        return await self._all("tick")

    async def drop(self, fraction: float, seed: int = 7) -> int:
        return sum(await self._ask([("drop", fraction, seed + i) for i in range(len(self.pipes))]))

    async def start_ingest(self) -> None:
        await self._all("start-ingest")

    async def stop_ingest(self) -> None:
        await self._all("stop-ingest")

    async def unanswered(self) -> int:
        return sum(await self._all("unanswered"))

    async def expect(self, counts: dict[str, int], sent_at: float) -> int:
        """``counts`` events by user id, reported at ``sent_at`` by someone else, to be answered on
        their users' screens (`VirtualUser.expect`); how many have a session to answer them."""
        return sum(await self._all("expect", counts, sent_at))

    async def ping_histogram(self, name: str | None) -> None:
        """Record pongs in histogram ``name`` from now on (None: not at all)."""
        await self._all("ping-histogram", name)

    async def final(self) -> list[Final]:
        return await self._all("final")

    async def close_sessions(self) -> None:
        await self._all("close")

    def close(self) -> None:
        stop(self.pipes, self.processes)
