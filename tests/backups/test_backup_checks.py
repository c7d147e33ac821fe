"""What `gamif backup`/`restore` refuse, and the guarantees around them: a missing, truncated or corrupt
file, a backup of the other kind of store, an unknown schema and a non-empty target are refused with one
clear line and nothing written; an older backup is migrated; embedded, a restore waits for the server to
stop and screens then resume onto a new epoch; an SQLite backup taken while the database is written is
consistent; the scripts keep what their retention says and the drill passes a good backup and fails a
damaged one; `gamif queue wait-empty` waits for the embedded queue."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from game import MetricEvent
from persistence.backups import extract_payload, read_manifest
from persistence.backups.census import take_census
from persistence.db import create_engine, session_factory
from persistence.migrate import heads, upgrade
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
    postgres_tables,
    run_script,
    seed_with_results,
)
from tests.hub.cluster import JWT_SECRET, HubProcess, Raw
from tests.polling import until
from tests.server.conftest import FAST_HASHER

SCRIPTS = Path(__file__).resolve().parents[2] / "infrastructure" / "scripts"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)


@pytest.fixture(scope="module")
async def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """A seeded embedded data directory and a backup of it (shared: the tests copy, never change them)."""
    monkey = pytest.MonkeyPatch()
    monkey.setattr(passwords, "_hasher", FAST_HASHER)
    try:
        root = tmp_path_factory.mktemp("seeded")
        settings = Settings(data_dir=root / "data", jwt_secret=JWT_SECRET)
        await seed_with_results(settings)
    finally:
        monkey.undo()
    backup = root / "good.tar"
    made = await gamif("backup", "--output", str(backup), env=gamif_env(settings))
    assert made.returncode == 0, made.stderr
    return settings, backup


def _one_line(result: Any) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("gamif ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _manifest_of(backup: Path) -> dict[str, Any]:
    with tarfile.open(backup) as tar:
        return dict(json.loads(tar.extractfile("manifest.json").read()))  # type: ignore[union-attr]


def _rewrite(
    source: Path, target: Path, manifest: dict[str, Any] | None = None, payload: bytes | None = None
) -> None:
    """A copy of a backup with its manifest and/or payload replaced."""
    with tarfile.open(source, "r:*") as tar:
        members = [(member, tar.extractfile(member).read()) for member in tar]  # type: ignore[union-attr]
    with tarfile.open(target, "w:gz") as out:
        for member, original in members:
            data = original
            if member.name == "manifest.json" and manifest is not None:
                data = json.dumps(manifest).encode()
            elif member.name != "manifest.json" and payload is not None:
                data = payload
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))


async def test_bad_backup_files_are_refused_and_nothing_is_written(seeded, tmp_path: Path) -> None:
    _, good = seeded
    target = tmp_path / "target"
    env = {"GAMIF_DATA_DIR": str(target), "GAMIF_JWT_SECRET": JWT_SECRET}
    manifest = _manifest_of(good)

    assert "no such file" in _one_line(await gamif("restore", str(tmp_path / "missing.tar"), env=env))

    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "damaged" in _one_line(await gamif("restore", str(truncated), env=env))

    text = tmp_path / "notes.tar"
    text.write_text("not a backup at all\n")
    assert "not a gamif backup" in _one_line(await gamif("restore", str(text), env=env))

    with tarfile.open(good, "r:*") as tar:
        database = tar.extractfile("gamif.sqlite3").read()  # type: ignore[union-attr]
    flipped = bytearray(database)
    flipped[len(flipped) // 2] ^= 0xFF
    corrupt = tmp_path / "corrupt.tar"
    _rewrite(good, corrupt, payload=bytes(flipped))
    line = _one_line(await gamif("restore", str(corrupt), env=env))
    assert "damaged" in line
    assert "SHA-256" in line

    future = tmp_path / "future.tar"
    _rewrite(good, future, manifest={**manifest, "schema_revision": "9999_from_the_future"})
    line = _one_line(await gamif("restore", str(future), env=env))
    assert "9999_from_the_future is unknown to this gamif" in line

    assert not (target / "gamif.db").exists()  # nothing half-written by any of them
    assert not [path for path in target.glob("*") if path.suffix != ".lock"]


async def test_a_backup_of_the_other_kind_of_store_and_a_non_empty_target_are_refused(
    seeded, tmp_path: Path, make_postgres_db: Any
) -> None:
    settings, good = seeded
    url = await make_postgres_db()
    env = {"GAMIF_DATABASE_URL": url, "GAMIF_DATA_DIR": str(tmp_path), "GAMIF_JWT_SECRET": JWT_SECRET}
    line = _one_line(await gamif("restore", str(good), env=env))
    assert "is a backup of embedded SQLite" in line
    assert "is PostgreSQL" in line
    assert await postgres_tables(url) == 0

    # A PostgreSQL backup into SQLite, and into a PostgreSQL database with tables.
    await upgrade(url)
    pg_backup = tmp_path / "pg.tar"
    made = await gamif("backup", "--output", str(pg_backup), env=env)
    assert made.returncode == 0, made.stderr
    line = _one_line(await gamif("restore", str(pg_backup), env=gamif_env(settings)))
    assert "is a backup of PostgreSQL" in line
    line = _one_line(await gamif("restore", str(pg_backup), env=env))
    assert "is not empty" in line
    assert "--force" in line
    forced = await gamif("restore", "--force", str(pg_backup), env=env)
    assert forced.returncode == 0, forced.stderr

    # The seeded SQLite database is not empty either: refused, and left as it was.
    db = settings.data_dir / "gamif.db"
    before = db.read_bytes()
    line = _one_line(await gamif("restore", str(good), env=gamif_env(settings)))
    assert "is not empty" in line
    assert db.read_bytes() == before


async def test_an_older_backup_is_restored_then_migrated(tmp_path: Path) -> None:
    old = Settings(data_dir=tmp_path / "old", jwt_secret=JWT_SECRET)
    url = old.effective_database_url
    await upgrade(url, "0005_queued_batches")
    backup = tmp_path / "old.tar"
    made = await gamif("backup", "--output", str(backup), env=gamif_env(old))
    assert made.returncode == 0, made.stderr
    assert read_manifest(backup).schema_revision == "0005_queued_batches"

    new = Settings(data_dir=tmp_path / "new", jwt_secret=JWT_SECRET)
    restored = await gamif("restore", str(backup), env=gamif_env(new))
    assert restored.returncode == 0, restored.stderr
    assert "older than this gamif's: migrating" in restored.stderr
    engine = create_engine(new.effective_database_url)
    try:
        async with engine.connect() as connection:
            assert (await take_census(connection)).revision in heads()
    finally:
        await engine.dispose()


async def test_embedded_restore_waits_for_the_server_and_screens_resume_on_a_new_epoch(
    seeded, tmp_path: Path
) -> None:
    _, good = seeded
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=JWT_SECRET)
    env = gamif_env(settings)
    assert (await gamif("restore", str(good), env=env)).returncode == 0
    hub = HubProcess("embedded", {**env, "GAMIF_LOG_LEVEL": "info"})
    await hub.start()
    try:
        async with httpx.AsyncClient(base_url=hub.http, timeout=30) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"login": PEOPLE[0], "password": DEMO_PASSWORD}
            )
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            user_id = me.json()["user"]["id"]
        topic = f"user:{user_id}"
        async with Raw.open(hub.ws) as raw:
            await raw.login(token)
            first = await raw.subscribe(topic)
        line = _one_line(await gamif("restore", "--force", str(good), env=env))
        assert "in use by a running gamif" in line
    finally:
        assert await hub.stop() == 0, "".join(hub.output)

    restored = await gamif("restore", "--force", str(good), env=env)
    assert restored.returncode == 0, restored.stderr
    await hub.start()
    try:
        async with Raw.open(hub.ws) as raw:
            await raw.login(token)
            again: Subscribed = await raw.subscribe(
                topic, since={"epoch": first.epoch, "offset": first.offset}
            )
        assert not again.recovered
        assert again.epoch != first.epoch
        assert again.snapshot == first.snapshot
    finally:
        assert await hub.stop() == 0, "".join(hub.output)


async def _score_forever(url: str, user_ids: list[str], scored: list[int]) -> None:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        game_engine = await RulesService(sessions, None).engine()
        scorer = Scorer(sessions)
        while True:
            now = datetime.now(UTC)
            batch = [
                Submission(MetricEvent(f"w-{uuid.uuid4().hex}", user, "commits", 1, now), "test")
                for user in user_ids
            ]
            await scorer.score(game_engine, batch, now)
            scored.append(len(batch))
    finally:
        await engine.dispose()


async def test_an_sqlite_backup_taken_while_the_database_is_written_is_consistent(
    seeded, tmp_path: Path
) -> None:
    _, good = seeded
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=JWT_SECRET)
    env = gamif_env(settings)
    assert (await gamif("restore", str(good), env=env)).returncode == 0
    census = read_manifest(good).census
    scored: list[int] = []
    writer = asyncio.create_task(_score_forever(settings.effective_database_url, list(census.xp), scored))
    try:
        for attempt in range(3):
            await until(lambda: len(scored) > 0, "the writer scores")
            during = len(scored)
            backup = tmp_path / f"during-{attempt}.tar"
            made = await gamif("backup", "--output", str(backup), env=env)
            assert made.returncode == 0, made.stderr
            assert len(scored) > during, "nothing was written while the backup ran"
            manifest = read_manifest(backup)
            payload = extract_payload(backup, manifest, tmp_path)
            with sqlite3.connect(payload) as copy:
                assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                ledger = dict(
                    copy.execute("SELECT user_id, SUM(amount) FROM xp_ledger GROUP BY user_id").fetchall()
                )
                xp = dict(copy.execute("SELECT user_id, xp FROM user_states").fetchall())
            assert ledger == xp  # every committed batch whole, none in part
            assert manifest.census.ledger == manifest.census.xp
            assert sum(manifest.census.xp.values()) > sum(census.xp.values())
            payload.unlink()
    finally:
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer


async def test_backup_script_retention_and_the_restore_drill(seeded, tmp_path: Path) -> None:
    settings, good = seeded
    backups = tmp_path / "backups"
    env = {**gamif_env(settings), "GAMIF_BACKUP_DIR": str(backups), "GAMIF_BACKUP_KEEP": "2"}
    backups.mkdir()
    stranger = backups / "notes.txt"
    stranger.write_text("not a backup: never deleted")
    old = [backups / f"gamif-2020010{day}T000000Z.tar" for day in (1, 2, 3)]
    for path in old:
        path.write_bytes(good.read_bytes())

    made = await run_script(SCRIPTS / "backup.sh", env=env)
    assert made.returncode == 0, made.stderr
    kept = sorted(path.name for path in backups.glob("gamif-*.tar"))
    assert len(kept) == 2
    assert kept[0] == old[-1].name  # the oldest went first
    assert kept[1].startswith(f"gamif-{datetime.now(UTC):%Y}")
    assert stranger.exists()

    by_age = await run_script(SCRIPTS / "backup.sh", env={**env, "GAMIF_BACKUP_KEEP": "30d"})
    assert by_age.returncode == 0, by_age.stderr
    assert not old[-1].exists()  # from 2020: past 30 days
    assert len(list(backups.glob("gamif-*.tar"))) == 2
    wrong = await run_script(SCRIPTS / "backup.sh", env={**env, "GAMIF_BACKUP_KEEP": "many"})
    assert wrong.returncode == 2
    assert "GAMIF_BACKUP_KEEP" in wrong.stderr

    drill = await run_script(SCRIPTS / "restore-drill.sh", env=env)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "PASS" in drill.stdout
    assert "users' XP checked" in drill.stdout

    # The newest backup damaged: the drill fails, naming why.
    newest = sorted(backups.glob("gamif-*.tar"))[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size - 4096])
    failed = await run_script(SCRIPTS / "restore-drill.sh", env=env)
    assert failed.returncode == 1
    assert "restore drill FAIL" in failed.stdout
    assert "damaged" in failed.stdout

    # A backup whose database is whole but does not hold what its manifest says: FAIL with the numbers.
    manifest = _manifest_of(good)
    user = next(iter(manifest["census"]["ledger"]))
    manifest["census"]["ledger"][user] += 100
    lying = backups / f"gamif-{datetime.now(UTC):%Y%m%dT%H%M%S}Z.tar"
    _rewrite(good, lying, manifest=manifest)
    failed = await run_script(SCRIPTS / "restore-drill.sh", str(lying), env=env)
    assert failed.returncode == 1
    assert "FAIL" in failed.stdout
    assert user in failed.stdout + failed.stderr

    restored_dir = tmp_path / "restored"
    restore = await run_script(
        SCRIPTS / "restore.sh",
        str(sorted(backups.glob("gamif-*.tar"))[0]),
        env={**env, "GAMIF_DATA_DIR": str(restored_dir)},
    )
    assert restore.returncode == 0, restore.stderr
    assert (restored_dir / "gamif.db").exists()


async def test_queue_wait_empty_waits_for_the_embedded_queue(seeded, tmp_path: Path) -> None:
    _, good = seeded
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=JWT_SECRET)
    env = gamif_env(settings)
    assert (await gamif("restore", str(good), env=env)).returncode == 0
    waited = await gamif("queue", "wait-empty", "--timeout", "5", env=env)
    assert waited.returncode == 0, waited.stderr
    assert "empty after" in waited.stderr

    from persistence.queued_batches import QueuedBatches

    engine = create_engine(settings.effective_database_url)
    try:
        await QueuedBatches(session_factory(engine)).add(b'{"events": []}', 1)
        stuck = await gamif("queue", "wait-empty", "--timeout", "1", env=env)
        assert stuck.returncode == 1
        assert "still holds 1 waiting" in stuck.stderr
        drained = await gamif(
            "backup", "--drain", "--drain-timeout", "1", "-o", str(tmp_path / "x.tar"), env=env
        )
        assert drained.returncode == 1
        assert not (tmp_path / "x.tar").exists()
    finally:
        await engine.dispose()


def test_the_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: apt-get install shellcheck (.ci/run installs it)"
    scripts = sorted(str(path) for path in SCRIPTS.glob("*.sh"))
    assert len(scripts) == 4  # backup, restore, the drill, and the naming they share
    checked = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout
