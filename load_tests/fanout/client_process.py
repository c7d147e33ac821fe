"""A load-client process: uvloop, its share of the subscriber connections, commands from the driver.

Every process runs `serve` on one end of a pipe; the driver (`load_tests.fanout.pool`) sends it
`commands` and reads one reply per command.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from multiprocessing.connection import Connection

import uvloop

from . import hub_wire
from .commands import (
    Arm,
    Armed,
    AwaitDeliveries,
    Census,
    CloseAll,
    Closed,
    Collect,
    Command,
    Connect,
    Connected,
    Counted,
    Failed,
    Quit,
    Reached,
    Reply,
    RoundReport,
)
from .subscriber import Subscriber, Tally, monotonic
from .ws_wire import OP_BINARY

_MAX_PROBLEMS = 5
_KEEPALIVE_PERIOD = 2.0


def serve(pipe: Connection) -> None:
    """The process's entry point (multiprocessing target)."""
    uvloop.run(_serve(pipe))


async def _serve(pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Command] = asyncio.Queue()

    def readable() -> None:
        try:
            while pipe.poll():
                inbox.put_nowait(pipe.recv())
        except (EOFError, OSError):  # the driver is gone
            loop.remove_reader(pipe.fileno())
            inbox.put_nowait(Quit())

    loop.add_reader(pipe.fileno(), readable)
    client = LoadClient()
    keepalive = asyncio.create_task(client.keep_alive())
    try:
        while not isinstance(command := await inbox.get(), Quit):
            try:
                reply = await client.handle(command)
            except Exception:
                reply = Failed(traceback.format_exc())
            pipe.send(reply)
    finally:
        keepalive.cancel()
        await client.close_all()


class LoadClient:
    def __init__(self) -> None:
        self.connections: list[Subscriber] = []
        self.tally = Tally()
        self.messages = 0

    async def handle(self, command: Command) -> Reply:
        if isinstance(command, Connect):
            return await self.connect(command)
        if isinstance(command, Arm):
            return self.arm(command)
        if isinstance(command, AwaitDeliveries):
            self.tally.await_milestone(command.per_connection * len(self.connections))
            return Reached(await self._wait(self.tally.reached, command.stall))
        if isinstance(command, Collect):
            return await self.collect(command)
        if isinstance(command, Census):
            reasons = [connection.closed for connection in self.connections if connection.closed is not None]
            return Counted(
                open=len(self.connections) - len(reasons),
                closed=len(reasons),
                reasons=tuple(dict.fromkeys(reasons))[:_MAX_PROBLEMS],
            )
        if isinstance(command, CloseAll):
            return Closed(await self.close_all())
        raise TypeError(f"unknown command {command!r}")

    async def connect(self, command: Connect) -> Connected:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(command.concurrency)  # a few handshakes at a time: no SYN backlog overflow
        spec = command.spec

        async def open_one() -> Subscriber:
            async with gate:
                ready: asyncio.Future[None] = loop.create_future()
                _, subscriber = await loop.create_connection(
                    lambda: Subscriber(spec, self.tally, ready), spec.host, spec.port
                )
                try:
                    await asyncio.wait_for(ready, command.timeout)
                except BaseException:
                    subscriber.reset()
                    raise
                # Kept alive from now on, not once every connection of the command is ready: opening
                # thousands of hub sessions takes longer than the hub's heartbeat timeout.
                self.connections.append(subscriber)
                return subscriber

        results = await asyncio.gather(*(open_one() for _ in range(command.count)), return_exceptions=True)
        errors = [repr(result) for result in results if isinstance(result, BaseException)]
        return Connected(
            opened=command.count - len(errors),
            failed=len(errors),
            total=len(self.connections),
            errors=tuple(dict.fromkeys(errors))[:_MAX_PROBLEMS],
            retries=sum(result.retries for result in results if isinstance(result, Subscriber)),
        )

    def arm(self, command: Arm) -> Armed:
        self.messages = command.messages
        for connection in self.connections:
            connection.arm()
        self.tally.arm(command.messages * len(self.connections))
        return Armed(len(self.connections))

    async def _wait(self, event: asyncio.Event, stall: float) -> bool:
        """Wait for `event` while frames keep coming; False once nothing came for `stall` seconds."""
        heard = monotonic()
        while not event.is_set():
            try:
                await asyncio.wait_for(event.wait(), min(0.25, stall))
            except TimeoutError:
                heard = max(heard, self.tally.last_at or heard)
                if monotonic() - heard > stall:
                    return False
        return True

    async def collect(self, command: Collect) -> RoundReport:
        tally = self.tally
        if not await self._wait(tally.done, command.stall):
            tally.give_up()
        problems = [
            problem
            for connection in self.connections
            if (problem := connection.verify(self.messages)) is not None
        ]
        return RoundReport(
            connections=len(self.connections),
            expected_per_connection=self.messages,
            complete_connections=len(self.connections) - len(problems),
            deliveries=tally.deliveries,
            frames=tally.frames,
            payload_bytes=tally.payload_bytes,
            first_at=tally.first_at,
            last_at=tally.last_at,
            cpu_seconds=max(0.0, tally.cpu_last - tally.cpu_first),
            problems=tuple(problems[:_MAX_PROBLEMS]),
        )

    async def close_all(self) -> int:
        connections, self.connections = self.connections, []
        for connection in connections:
            connection.reset()
        if connections:
            await asyncio.wait([connection.lost for connection in connections], timeout=10)
        return len(connections)

    async def keep_alive(self) -> None:
        """Hub sessions must send something every ``heartbeat_ms`` (PROTOCOL.md §14): ping the quiet ones,
        though not during a round (a burst of pings would load the hub being measured) unless one is
        close to its deadline."""
        while True:
            await asyncio.sleep(_KEEPALIVE_PERIOD)
            now = time.monotonic()
            urgency = 0.8 if self.tally.armed else 0.5
            for connection in self.connections:
                if connection.spec.hub and now - connection.last_sent > urgency * connection.heartbeat:
                    connection.send(OP_BINARY, hub_wire.PING_FRAME)
