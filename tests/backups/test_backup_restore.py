"""Backup → wipe → restore gives back the same organisation (acceptance 2), on SQLite and on PostgreSQL
with Redis: every compared person's `GET /me`, whole ledger and notifications, the boards (rebuilt in
Redis by the restore), the team board and the finished challenge with its results. A live screen on a
running `gamif serve` gets fresh snapshots, on new epochs, of what the restore brought back; embedded, the
restore is refused while the server runs, and after a restart the screen resumes onto a new epoch.

The `gamif` commands run as real processes; the organisation is the demo's, seeded ten days back and
its challenge finished."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from game import MetricEvent
from persistence.db import create_engine, session_factory
from persistence.scoring import Scorer, Submission
from protocol import Subscribed
from server.auth import passwords
from server.cli.serve_commands import DEMO_PASSWORD
from server.config import Settings
from server.services.scoring.rules import RulesService
from tests.backups.helpers import (
    PEOPLE,
    gamif,
    gamif_env,
    recreate_postgres,
    remove_sqlite,
    seed_with_results,
    views,
)
from tests.hub.cluster import JWT_SECRET, HubProcess, Raw
from tests.server.conftest import FAST_HASHER

BOARD = "leaderboard:xp:all_time"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo registers nine people: argon2's production cost would take seconds (a hash records its
    # own cost, so the `gamif serve` processes verify these quickly too).
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)


async def test_sqlite_backup_wipe_restore_gives_back_the_same_organisation(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=JWT_SECRET)
    await seed_with_results(settings)
    before = await views(settings)
    env = gamif_env(settings)
    backup = tmp_path / "gamif.tar"

    made = await gamif("backup", "--output", str(backup), env=env)
    assert made.returncode == 0, made.stderr
    assert f"backup written: {backup}" in made.stdout
    remove_sqlite(settings.data_dir / "gamif.db")

    restored = await gamif("restore", str(backup), env=env)
    assert restored.returncode == 0, restored.stderr
    assert "verified ledger: 8 users' XP checked" in restored.stderr
    assert await views(settings) == before


async def _score(url: str, user_id: str, reviews: int) -> None:
    """Score an event straight into the database (as a worker would, without publishing)."""
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        game_engine = await RulesService(sessions, None).engine()
        now = datetime.now(UTC)
        event = MetricEvent(f"after-backup-{uuid.uuid4().hex}", user_id, "reviews_done", reviews, now)
        await Scorer(sessions).score(game_engine, [Submission(event, "test")], now)
    finally:
        await engine.dispose()


async def _fresh_snapshots(raw: Raw, old: dict[str, str]) -> dict[str, Subscribed]:
    """Read until every topic of `old` (topic -> epoch) was sent a snapshot on another epoch."""
    fresh: dict[str, Subscribed] = {}
    while set(fresh) != set(old):
        message = await raw.recv(timeout=60)
        if isinstance(message, Subscribed) and message.topic in old and message.epoch != old[message.topic]:
            assert not message.recovered, message
            fresh[message.topic] = message
    return fresh


def _board_scores(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {str(row["member"]): int(row["score"]) for row in rows}


async def test_postgres_backup_wipe_restore_rebuilds_redis_and_live_screens_get_new_epochs(
    tmp_path: Path, make_postgres_db: Any, redis_server: str, redis_prefix: str
) -> None:
    url = await make_postgres_db()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        redis_url=redis_server,
        redis_prefix=redis_prefix,
        jwt_secret=JWT_SECRET,
    )
    env = gamif_env(settings)
    assert (await gamif("migrate", env=env)).returncode == 0
    await seed_with_results(settings)
    rebuilt = await gamif("leaderboards", "rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    before = await views(settings)
    ana = before[PEOPLE[0]]["me"]["user"]
    backup = tmp_path / "gamif.tar"

    # It says when it listens at info; the screen below stays silent through the backup and restore.
    hub = HubProcess("a", {**env, "GAMIF_LOG_LEVEL": "info", "GAMIF_HUB_HEARTBEAT_MS": "300000"})
    await hub.start()
    try:
        async with httpx.AsyncClient(base_url=hub.http, timeout=30) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"login": ana["handle"], "password": DEMO_PASSWORD}
            )
            assert login.status_code == 200, login.text
        async with Raw.open(hub.ws) as raw:
            await raw.login(login.json()["access_token"])
            user_topic = f"user:{ana['id']}"
            subscribed = {
                user_topic: await raw.subscribe(user_topic, id=2),
                BOARD: await raw.subscribe(BOARD, id=3),
            }
            assert subscribed[user_topic].snapshot["xp"] == before[PEOPLE[0]]["me"]["level"]["xp"]

            made = await gamif("backup", "--output", str(backup), "--drain", env=env)
            assert made.returncode == 0, made.stderr
            # After the backup, Ana scores more: the restore must take it back.
            await _score(url, ana["id"], 7)
            # The database is lost, and Redis's leaderboards with it (the topics and the queue survive).
            await recreate_postgres(url)
            client = aioredis.from_url(redis_server)
            try:
                boards = [key async for key in client.scan_iter(match=f"{redis_prefix}lb:*", count=1000)]
                assert boards
                await client.delete(*boards)
            finally:
                await client.aclose()

            restored = await gamif("restore", str(backup), env=env)
            assert restored.returncode == 0, restored.stderr
            assert "topic(s) restarted on a new epoch" in restored.stderr
            try:
                fresh = await _fresh_snapshots(raw, {topic: sub.epoch for topic, sub in subscribed.items()})
            except TimeoutError:
                raise AssertionError(restored.stderr + "".join(hub.output)) from None
    finally:
        assert await hub.stop() == 0, "".join(hub.output)

    assert fresh[user_topic].snapshot["xp"] == before[PEOPLE[0]]["me"]["level"]["xp"]
    admin_board = before["/api/v1/leaderboards/xp/all_time?limit=100"]
    assert _board_scores(fresh[BOARD].snapshot["rows"]) == _board_scores(admin_board["rows"])
    assert await views(settings) == before  # the boards answered from the rebuilt Redis
