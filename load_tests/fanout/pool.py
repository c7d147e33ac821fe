"""The driver's side of the load-client processes: start them, spread connections over them, and ask
them all the same thing at once."""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Self, TypeVar

from . import client_process
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
    ConnectSpec,
    Counted,
    Failed,
    Quit,
    Reached,
    Reply,
    RoundReport,
)

R = TypeVar("R", bound=Reply)


class ClientError(RuntimeError):
    """A load-client process failed, died, or did not answer in time."""


class ClientPool:
    def __init__(self, processes: int) -> None:
        # spawn: a fresh interpreter per client, whatever the driver has loaded or started.
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for index in range(processes):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=client_process.serve, args=(theirs,), name=f"fanout-client-{index}", daemon=True
            )
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)
        self.connections = 0
        self.subscribe_retries = 0
        """Hub subscribes answered ``unavailable`` and sent again, over the pool's life."""
        self.broken: str | None = None
        """Why the pool can no longer be used (a process died or stopped answering), once it cannot."""

    @property
    def pids(self) -> list[int]:
        return [process.pid or 0 for process in self.processes]

    # ------------------------------------------------------------------ commands

    def connect(self, spec: ConnectSpec, count: int, timeout: float = 120.0) -> list[Connected]:
        """Open `count` more connections, spread evenly; raise `ClientError` if any failed."""
        shares = [count // len(self.pipes) + (i < count % len(self.pipes)) for i in range(len(self.pipes))]
        commands: list[Command] = [Connect(spec, share, timeout=timeout / 2) for share in shares]
        replies = self._ask(commands, Connected, timeout)
        self.connections = sum(reply.total for reply in replies)
        self.subscribe_retries += sum(reply.retries for reply in replies)
        failed = sum(reply.failed for reply in replies)
        if failed:
            errors = sorted({error for reply in replies for error in reply.errors})
            raise ClientError(f"{failed} of {count} connections failed: " + "; ".join(errors[:5]))
        return replies

    def arm(self, messages: int) -> list[Armed]:
        return self._ask([Arm(messages)] * len(self.pipes), Armed, 30.0)

    def await_deliveries(self, per_connection: int, stall: float) -> bool:
        """True once every process has its connections' `per_connection` deliveries; False if one
        stalled short of them."""
        replies = self._ask([AwaitDeliveries(per_connection, stall)] * len(self.pipes), Reached, stall + 60.0)
        return all(reply.reached for reply in replies)

    def collect(self, stall: float, timeout: float) -> list[RoundReport]:
        return self._ask([Collect(stall)] * len(self.pipes), RoundReport, timeout)

    def census(self) -> Counted:
        """Open and closed connections over every process."""
        replies = self._ask([Census()] * len(self.pipes), Counted, 60.0)
        reasons = tuple(dict.fromkeys(reason for reply in replies for reason in reply.reasons))
        return Counted(sum(reply.open for reply in replies), sum(reply.closed for reply in replies), reasons)

    def close_all(self) -> int:
        if self.broken is not None:
            return 0  # nothing to ask: the processes are killed on close()
        replies = self._ask([CloseAll()] * len(self.pipes), Closed, 60.0)
        self.connections = 0
        return sum(reply.count for reply in replies)

    def _ask(self, commands: list[Command], expected: type[R], timeout: float) -> list[R]:
        """Send each process its command, then read every reply before raising on any (a reply left
        unread would answer the next command)."""
        if self.broken is not None:
            raise ClientError(f"the load clients are unusable: {self.broken}")
        for pipe, command in zip(self.pipes, commands, strict=True):
            pipe.send(command)
        replies: list[R] = []
        problems: list[str] = []
        for index, (pipe, process) in enumerate(zip(self.pipes, self.processes, strict=True)):
            if not pipe.poll(timeout):
                state = "alive" if process.is_alive() else f"exited with {process.exitcode}"
                self.broken = f"load client {index} did not answer within {timeout:.0f} s ({state})"
                raise ClientError(self.broken)
            try:
                reply = pipe.recv()
            except EOFError:
                self.broken = f"load client {index} died (exit code {process.exitcode})"
                raise ClientError(self.broken) from None
            if isinstance(reply, Failed):
                problems.append(f"load client {index} failed:\n{reply.error}")
            elif not isinstance(reply, expected):
                problems.append(f"load client {index} answered {reply!r}, not {expected.__name__}")
            else:
                replies.append(reply)
        if problems:
            raise ClientError("\n".join(problems))
        return replies

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):  # already gone
                pipe.send(Quit())
        for process in self.processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()
        for process in self.processes:
            process.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
