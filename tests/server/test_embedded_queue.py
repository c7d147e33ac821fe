"""Embedded (no Redis), nothing accepted is lost either: a real `gamif serve` keeps each batch in its
database until it is scored. What a stopped server left is scored at the next start; a batch that
cannot be scored stays as a dead letter, which `gamif queue` (the real command, on the same database)
lists, shows, replays (the serving process picks it up) or drops."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import MetricEvent
from persistence.db import create_engine, session_factory
from persistence.migrate import upgrade
from persistence.models import MetricEventRow, User
from persistence.queued_batches import QueuedBatches
from persistence.scoring import Submission
from tasks.scoring_step import to_payload
from tests.hub.cluster import GAMIF, HubProcess, hub_env
from tests.polling import until


async def add_user(sessions: async_sessionmaker[AsyncSession], handle: str, key: uuid.UUID) -> None:
    async with sessions() as session, session.begin():
        session.add(
            User(id=key, handle=handle, email=f"{handle}@example.com", display_name=handle, password_hash="-")
        )


async def keep(store: QueuedBatches, user: uuid.UUID, event_id: str) -> int:
    """A batch as ingest keeps it before its 202."""
    occurred = datetime.now(UTC) - timedelta(hours=1)
    event = MetricEvent(event_id, str(user), "reviews_done", 1, occurred)
    payload = to_payload([Submission(event, "service:test")], datetime.now(UTC))
    return await store.add(orjson.dumps(payload), 1)


async def gamif_queue(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        GAMIF,
        "queue",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_kept_batches_are_scored_after_a_stop_and_dead_letters_wait_for_an_admin(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    await upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    store = QueuedBatches(sessions)

    async def stored() -> set[str]:
        async with sessions() as session:
            return set(await session.scalars(select(MetricEventRow.id)))

    async def dead_letters() -> list[int]:
        return [row.id for row in await store.dead_letters()]

    ana, ghost, phantom = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await add_user(sessions, "ana", ana)
    # What a server stopped right after its 202s left behind: a batch for ana, and one for an account
    # that does not exist (a foreign key fails: it cannot be scored until the account is there).
    await keep(store, ana, "kept-1")
    bad = await keep(store, ghost, "ghost-1")
    env = hub_env(url, None, "embedded-queue:", tmp_path / "data") | {
        "GAMIF_WORKER_MAX_ATTEMPTS": "1",
        "GAMIF_DEMO_PULSE_SECONDS": "0",
    }
    hub = HubProcess("embedded", env)
    await hub.start()
    try:

        async def settled() -> bool:
            return await stored() == {"kept-1"} and await dead_letters() == [bad]

        await until(settled, "the good batch scored and the bad one dead-lettered")
        assert await store.counts() == (0, 1)

        code, out, err = await gamif_queue(env, "list", "--json")
        assert code == 0, err
        listing = json.loads(out)
        assert listing["dead_letters"] == 1
        assert listing["waiting"] == 0
        [entry] = listing["entries"]
        assert entry["id"] == str(bad)
        assert entry["event_ids"] == ["ghost-1"]
        assert "IntegrityError" in entry["reason"]

        code, out, err = await gamif_queue(env, "inspect", str(bad))
        assert code == 0, err
        assert "ghost-1" in out
        assert "attempts    1" in out

        code, _, err = await gamif_queue(env, "inspect", "1733561234567-0")
        assert code == 1
        assert "is not a dead letter's number (like 42)" in err

        # The cause fixed, the replay is picked up by the serving process and scored.
        await add_user(sessions, "ghost", ghost)
        code, out, err = await gamif_queue(env, "replay", str(bad))
        assert code == 0, err

        async def replayed() -> bool:
            return "ghost-1" in await stored()

        await until(replayed, "the replayed batch scored")
        assert await store.counts() == (0, 0)

        # One that is never fixed: dropped for good, with a line naming its events.
        worse = await keep(store, phantom, "phantom-1")

        async def given_up() -> bool:
            return await dead_letters() == [worse]

        await until(given_up, "the batch that cannot be fixed dead-lettered")
        code, _, err = await gamif_queue(env, "drop", str(worse))
        assert code == 0, err
        assert f"dropped dead letter {worse} for good" in err
        assert "phantom-1" in err
        assert await store.counts() == (0, 0)
        code, _, err = await gamif_queue(env, "drop", str(worse))
        assert code == 1
        assert f"no such dead letter in the database (table queued_batches): {worse}" in err
        assert await hub.stop() == 0
        assert await stored() == {"kept-1", "ghost-1"}
    finally:
        await hub.stop()
        await engine.dispose()
