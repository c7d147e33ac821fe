"""Cooperative pacing for long synchronous loops on the event loop.

An embedded server scores on the event loop that also serves its WebSockets: a loop over a slice's users
(load their state, run the engine, diff their documents) would hold that loop for as long as it takes.
`pace` gives the loop control once at least `BUDGET_SECONDS` of work went by since it last did, so such a
loop lets the sockets in every few milliseconds and costs next to nothing otherwise (a clock read). It
lives here, the lowest layer that is asynchronous, because the scoring loops of `persistence` need it too.

Calling it inside a transaction is safe: the coroutine keeps its session and its locks; other work runs
meanwhile, as it does at any ``await`` on the database.
"""

from __future__ import annotations

import asyncio
import time

BUDGET_SECONDS = 0.003
"""The most synchronous work between two `pace` calls that give control to the loop."""

_last = time.perf_counter()


async def pace() -> None:
    """Give the event loop control if `BUDGET_SECONDS` went by since this last did (in any coroutine:
    a loop that others interleave with yields a little more often than it must, never less)."""
    global _last  # noqa: PLW0603 - one clock for the process's loop
    now = time.perf_counter()
    if now - _last >= BUDGET_SECONDS:
        await asyncio.sleep(0)
        _last = time.perf_counter()
