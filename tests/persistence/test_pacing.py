"""`persistence.pacing.pace`: a synchronous loop that calls it gives the event loop control once its
budget of work is spent, and not before (deterministic: the budget is set to nothing, or to an hour;
what it buys the sockets is measured by `gamif load embedded-ingest`, not here)."""

from __future__ import annotations

import asyncio

import pytest

from persistence import pacing


async def interleavings(paces: int) -> int:
    """How many turns a task that only wants the loop back got while a loop called `pace` ``paces``
    times (with no other await)."""
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker starts
    before = turns
    for _ in range(paces):
        await pacing.pace()
    during = turns - before
    task.cancel()
    return during


async def test_a_spent_budget_gives_the_loop_control_at_each_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing, "BUDGET_SECONDS", 0.0)
    assert await interleavings(100) == 100


async def test_within_its_budget_pace_keeps_control(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing, "BUDGET_SECONDS", 0.0)
    await pacing.pace()  # the budget's clock starts now
    monkeypatch.setattr(pacing, "BUDGET_SECONDS", 3_600.0)
    assert await interleavings(1_000) == 0
