"""Embedded (SQLite) under load: the demo pulse scores while players mark their notifications read.

SQLite has one writer at a time. A transaction that reads and then writes, begun as a plain (deferred)
BEGIN, cannot wait for the writer: it already holds a read snapshot, so SQLite refuses the upgrade at
once with "database is locked" whatever the busy timeout (the busy handler is not called for it). Every
write transaction therefore takes the write lock at its start (`persistence.db.begin_write`), and these
tests run the real embedded scoring beside the writes that used to fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette

from game import sample_users
from persistence.db import begin_write, create_engine, session_factory
from persistence.models import User, utcnow
from server.app import create_app
from server.auth import passwords
from server.cli.serve_commands import DEMO_PASSWORD, seed_demo
from server.config import Settings
from server.services.people.notifications import insert_notifications


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo registers nine people and the test logs eight in: argon2's production cost takes seconds.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@asynccontextmanager
async def demo_serving(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    application = create_app(settings, demo=True)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


async def unread(http: httpx.AsyncClient, headers: dict[str, str]) -> list[int]:
    response = await http.get("/api/v1/me/notifications", params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_notifications_marked_read_while_the_demo_pulse_scores(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Embedded, as `make run`: SQLite in the data directory, the pulse scoring as fast as it goes.
    settings = Settings(data_dir=tmp_path / "data", demo_pulse_seconds=0.01)
    await seed_demo(settings)
    caplog.set_level(logging.WARNING)
    async with demo_serving(settings) as (app, http):
        people: dict[str, dict[str, str]] = {}
        for handle in sample_users():
            login = await http.post("/api/v1/auth/login", json={"login": handle, "password": DEMO_PASSWORD})
            assert login.status_code == 200, login.text
            people[handle] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        # Ten unread notifications each, as the scoring writes them (the history is scored without).
        async with app.state.services.sessions() as session, session.begin():
            await begin_write(session)
            ids = await session.scalars(select(User.id).where(User.handle.in_(list(people))))
            rows = [
                {
                    "user_id": user_id,
                    "kind": "badge_earned",
                    # as the scoring writes them (`server.services.scoring.live`): the feed reads them too
                    "data": {"key": f"b{n}", "badge_id": f"b{n}", "name": f"Badge {n}", "explanation": "x"},
                }
                for user_id in ids
                for n in range(10)
            ]
            await insert_notifications(session, rows, utcnow())
        notes = {handle: await unread(http, headers) for handle, headers in people.items()}
        assert all(len(ids) >= 10 for ids in notes.values()), notes

        pulse = app.state.demo_pulse
        scored_before = pulse.sent
        # Every notification of everyone marked read at once, while the pulse keeps scoring.
        marks = [
            http.post(f"/api/v1/me/notifications/{note}/read", headers=people[handle])
            for handle, ids in notes.items()
            for note in ids
        ]
        answers = await asyncio.gather(*marks)
        assert [a.status_code for a in answers if a.status_code != 204] == [], [
            a.text for a in answers if a.status_code != 204
        ][:3]
        await app.state.queue.drain()
        assert pulse.sent > scored_before, "the pulse did not score during the marking"

        # Nothing pops up again: no unread notification is left (the pulse may have added new ones:
        # those were not marked, so only the marked ones must be gone).
        for handle, headers in people.items():
            assert set(notes[handle]).isdisjoint(await unread(http, headers)), handle
    locked = [r.getMessage() for r in caplog.records if "locked" in r.getMessage()]
    assert locked == []


async def test_a_write_transaction_waits_for_the_writer_instead_of_failing(tmp_path: Path) -> None:
    """The mechanism: a read-then-write transaction begun with `begin_write` queues behind a writer that
    holds the lock for a while, where a plain one fails at once (kept as the proof that it would)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    sessions = session_factory(engine)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)"))
            await connection.execute(text("INSERT INTO counter VALUES (1, 0)"))
        holding = asyncio.Event()
        release = asyncio.Event()

        async def writer() -> None:
            async with sessions() as session, session.begin():
                await begin_write(session)
                await session.execute(text("UPDATE counter SET value = value + 1"))
                holding.set()
                await release.wait()

        async def read_then_write(write: bool) -> None:
            await holding.wait()
            async with sessions() as session, session.begin():
                if write:
                    await begin_write(session)
                await session.execute(text("SELECT value FROM counter"))
                await session.execute(text("UPDATE counter SET value = value + 10"))

        # Plain BEGIN: refused at once while the writer holds the lock ("database is locked").
        held = asyncio.create_task(writer())
        with pytest.raises(OperationalError, match="database is locked"):
            await read_then_write(write=False)
        release.set()
        await held

        # BEGIN IMMEDIATE: it waits (within the busy timeout) and then writes. The writer lets go once
        # the second BEGIN IMMEDIATE has been sent.
        immediate: list[str] = []
        second_sent = asyncio.Event()

        def sent(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if statement == "BEGIN IMMEDIATE":
                immediate.append(statement)
                if len(immediate) == 2:
                    second_sent.set()

        event.listen(engine.sync_engine, "before_cursor_execute", sent)
        holding.clear()
        release.clear()
        held = asyncio.create_task(writer())
        queued = asyncio.create_task(read_then_write(write=True))
        await second_sent.wait()
        release.set()
        await asyncio.gather(held, queued)
        async with sessions() as session:
            assert await session.scalar(text("SELECT value FROM counter")) == 12
    finally:
        await engine.dispose()
