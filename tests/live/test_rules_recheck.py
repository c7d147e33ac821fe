"""The current rule set is looked up at most once per recheck interval: a hub snapshot and a scored batch
each need the engine, and a database round trip each time was a tenth of a session's setup."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import default_rules_text
from server.services.scoring.rules import RulesService


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def next_version(body: str) -> str:
    """Version 2, with a change (an identical rule set is refused)."""
    changed = body.replace("version: 1\n", "version: 2\n", 1).replace("description: ", "description: v2. ", 1)
    assert changed.count("v2.") == 1
    return changed


async def test_a_newer_version_from_elsewhere_is_seen_after_the_interval(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = Ticks()
    here = RulesService(sessions, recheck_seconds=1.0, clock=clock)
    elsewhere = RulesService(sessions)  # another node, or the API of another process
    assert (await here.current()).rules.version == 1
    body = default_rules_text()
    assert "version: 1\n" in body
    await elsewhere.publish(next_version(body), "admin")
    clock.now += 0.5
    assert (await here.current()).rules.version == 1  # within the interval: no round trip
    clock.now += 0.6
    assert (await here.current()).rules.version == 2
    assert (await here.engine()).version == 2


async def test_a_version_published_here_applies_at_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    here = RulesService(sessions, recheck_seconds=60.0, clock=Ticks())
    assert (await here.current()).rules.version == 1
    await here.publish(next_version(default_rules_text()), "admin")
    assert (await here.current()).rules.version == 2


async def test_without_an_interval_every_use_looks(sessions: async_sessionmaker[AsyncSession]) -> None:
    here, elsewhere = RulesService(sessions), RulesService(sessions)
    assert (await here.current()).rules.version == 1
    await elsewhere.publish(next_version(default_rules_text()), "admin")
    assert (await here.current()).rules.version == 2
