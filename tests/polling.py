"""Waiting for a state that announces nothing: a row committed, an acknowledgement in a queue, a line
in a process's log, a server that has started. Where an event exists (a message on a socket, an
`asyncio.Event` set by a hook), the tests await it instead; this is for the rest.

`until` polls a condition until it holds, with a deadline generous enough for a loaded machine, and
fails with an `AssertionError` that says what was awaited (a bare `TimeoutError` from a poll loop says
only that something took too long).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

POLL_SECONDS = 0.05
"""Between two checks: often enough not to slow a test, seldom enough not to load what is polled."""


async def until(
    condition: Callable[[], bool | Awaitable[bool]],
    what: str,
    *,
    timeout: float = 30,
    every: float = POLL_SECONDS,
) -> None:
    """Return once ``condition()`` (a predicate, or a coroutine function returning one) is true;
    raise `AssertionError` naming `what` if it is still false after `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                holds = condition()
                if inspect.isawaitable(holds):
                    holds = await holds
                if holds:
                    return
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None
