"""Load client processes and the pipe between them and the driver: a process serves the driver's
commands one at a time on its event loop, and stops when told to, or when the driver goes away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import traceback
from collections.abc import Awaitable, Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

Handler = Callable[[tuple[Any, ...]], Awaitable[Any]]


async def serve_commands(pipe: Connection, handle: Handler) -> None:
    """Answer each command (a tuple, its name first) with ``handle``'s reply until ``("quit",)``; a
    handler's exception is answered as a RuntimeError holding its traceback."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def readable() -> None:
        # libuv made the pipe non-blocking when the loop started watching it: a command larger than
        # the pipe's buffer (thousands of sessions' specs) would then fail half-read.
        os.set_blocking(pipe.fileno(), True)
        try:
            while pipe.poll():
                inbox.put_nowait(pipe.recv())
        except (EOFError, OSError):
            loop.remove_reader(pipe.fileno())
            inbox.put_nowait(("quit",))

    loop.add_reader(pipe.fileno(), readable)
    while (command := await inbox.get())[0] != "quit":
        try:
            reply = await handle(command)
        except Exception:
            reply = RuntimeError(traceback.format_exc())
        os.set_blocking(pipe.fileno(), True)  # a large reply must not fail half-written either
        pipe.send(reply)


def stop(pipes: Sequence[Connection], processes: Sequence[BaseProcess]) -> None:
    """Ask every process to quit, then make sure it did (killed after 10 s)."""
    for pipe in pipes:
        with contextlib.suppress(OSError):
            pipe.send(("quit",))
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)
    for pipe in pipes:
        pipe.close()
