"""The tests' polling helper: it waits for the condition, sync or async, and fails saying what it
waited for."""

from __future__ import annotations

import pytest

from tests.polling import until


async def test_until_returns_once_the_condition_holds() -> None:
    checks: list[int] = []

    def third_time() -> bool:
        checks.append(1)
        return len(checks) == 3

    async def also_async() -> bool:
        return len(checks) >= 3

    await until(third_time, "the third check", every=0)
    await until(also_async, "an async check", every=0)
    assert len(checks) == 3


async def test_until_fails_naming_what_never_came() -> None:
    # A condition that never holds: the deadline is the only way out, however short.
    with pytest.raises(AssertionError, match=r"^not within 0.05 s: the impossible$"):
        await until(lambda: False, "the impossible", timeout=0.05, every=0.01)
