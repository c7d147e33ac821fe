"""What the backup tests share: a seeded organisation with a finished challenge, the `gamif` command run
as a process, what the API says about the organisation (to compare before and after), and wiping a
store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from game import sample_users
from persistence.db import create_engine, session_factory
from server.app import create_app
from server.cli.serve_commands import DEMO_CHALLENGE, DEMO_PASSWORD, seed_demo
from server.config import Settings
from server.services.challenges.lifecycle import ChallengeLifecycle
from server.services.scoring.rules import RulesService
from tests.hub.cluster import GAMIF, JWT_SECRET

PEOPLE = list(sample_users())[:4]
"""The demo people whose views are compared (four of eight keeps the test short)."""


def gamif_env(settings: Settings) -> dict[str, str]:
    env = {
        "GAMIF_DATA_DIR": str(settings.data_dir),
        "GAMIF_JWT_SECRET": JWT_SECRET,
        "GAMIF_REDIS_PREFIX": settings.redis_prefix,
        "GAMIF_LOG_LEVEL": "warning",
    }
    if settings.database_url is not None:
        env["GAMIF_DATABASE_URL"] = settings.database_url
    if settings.redis_url is not None:
        env["GAMIF_REDIS_URL"] = settings.redis_url
    return env


def clean_environ() -> dict[str, str]:
    """This process's environment without any GAMIF_* of the outer one (the tests' own come after)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("GAMIF_") or name.upper().startswith("GAMIF_TEST_")
    }


async def gamif(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the real `gamif` command (its output captured)."""
    return await asyncio.to_thread(
        subprocess.run,
        [GAMIF, *args],
        env={**clean_environ(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def run_script(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [str(script), *args],
        env={**clean_environ(), "GAMIF_BIN": GAMIF, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def seed_with_results(settings: Settings) -> None:
    """The demo organisation (teams, people, a rule set, four weeks of scored history, notifications),
    seeded ten days back so that its challenge has ended, then finished: results and rewards."""
    now = datetime.now(UTC)
    await seed_demo(settings, now=now - timedelta(days=10))
    engine = create_engine(settings.effective_database_url)
    try:
        sessions = session_factory(engine)
        rules = RulesService(sessions, settings.rules_file)
        assert await ChallengeLifecycle(sessions, rules).finish_due(now) == [DEMO_CHALLENGE]
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
            yield application, http


async def _get(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    response = await http.get(path, headers=headers)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response.json()


async def views(settings: Settings) -> dict[str, Any]:
    """What the API shows of the organisation: each compared person's /me, whole ledger and
    notifications, the XP and a metric's boards, the team board, and the challenge with its results."""
    seen: dict[str, Any] = {}
    async with api(settings) as (_, http):
        for handle in [*PEOPLE, "admin"]:
            login = await http.post("/api/v1/auth/login", json={"login": handle, "password": DEMO_PASSWORD})
            assert login.status_code == 200, login.text
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            ledger: list[Any] = []
            cursor = ""
            while True:
                page = await _get(http, f"/api/v1/me/ledger?limit=200{cursor}", auth)
                ledger += page["items"]
                if not page["next_cursor"]:
                    break
                cursor = f"&cursor={page['next_cursor']}"
            seen[handle] = {
                "me": await _get(http, "/api/v1/me", auth),
                "ledger": ledger,
                "notifications": await _get(http, "/api/v1/me/notifications?unread=false&limit=200", auth),
            }
            if handle == "admin":
                for path in (
                    "/api/v1/leaderboards/xp/all_time?limit=100",
                    "/api/v1/leaderboards/reviews_done/all_time?limit=100",
                    "/api/v1/leaderboards/teams?period=all_time",
                    f"/api/v1/challenges/{DEMO_CHALLENGE}",
                ):
                    seen[path] = await _get(http, path, auth)
    challenge = seen[f"/api/v1/challenges/{DEMO_CHALLENGE}"]
    assert challenge["state"] == "finished", challenge
    return seen


def _asyncpg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def recreate_postgres(url: str) -> None:
    """Drop the database of `url` (cutting its connections) and create it again, empty."""
    name = make_url(url).database
    admin = await asyncpg.connect(
        _asyncpg_url(make_url(url).set(database="postgres").render_as_string(False))
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def postgres_tables(url: str) -> int:
    connection = await asyncpg.connect(_asyncpg_url(url))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            )
        )
    finally:
        await connection.close()


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
