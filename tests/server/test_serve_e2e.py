"""README command 1 for real: `gamif run` starts uvicorn on embedded SQLite, seeded with the demo
organisation; and `gamif migrate` + `gamif create-admin` + `gamif serve` on PostgreSQL."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

GAMIF = str(Path(sys.executable).parent / "gamif")
STARTED = "Uvicorn running on"
"""What uvicorn prints once it listens (its "Application startup complete" comes before the bind: a
request sent on that line can be refused)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(args: list[str], env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Start a gamif server process; yield (base URL, what it printed) once uvicorn says it is up."""
    port = free_port()
    process = subprocess.Popen(
        [GAMIF, *args, "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        for line in process.stdout:  # blocks on the process's own output: no guessing how long start-up takes
            seen.append(line)
            if STARTED in line:
                break
        else:
            raise AssertionError("gamif exited before serving:\n" + "".join(seen))
        printed = "".join(seen)
        # Keep reading so that the server never blocks on a full pipe.
        drain = threading.Thread(target=seen.extend, args=(process.stdout,), daemon=True)
        drain.start()
        yield f"http://127.0.0.1:{port}", printed
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stdout.close()


def scored(http: httpx.Client, auth: dict[str, str], xp_before: int) -> dict:
    """/me once the XP has moved past `xp_before` (the ingest answered before scoring)."""
    deadline = time.monotonic() + 30
    while True:
        me = http.get("/api/v1/me", headers=auth).json()
        if me["level"]["xp"] > xp_before or time.monotonic() > deadline:
            return me
        time.sleep(0.05)  # polling: the API has no call that waits for a score


def test_gamif_run_serves_the_seeded_demo(tmp_path):
    env = {"GAMIF_DATA_DIR": str(tmp_path / "data"), "GAMIF_DEMO_PULSE_SECONDS": "0"}  # XP must not move
    with running(["run"], env) as (base, printed):
        assert f"gamif is starting at {base}" in printed
        key = re.search(r"gmf_[a-z0-9]{8}_[A-Za-z0-9]+", printed)
        assert key is not None, printed
        with httpx.Client(base_url=base, timeout=10) as http:
            login = http.post("/api/v1/auth/login", json={"login": "ana", "password": "gamif-demo-password"})
            assert login.status_code == 200, login.text
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            before = http.get("/api/v1/me", headers=auth).json()
            assert before["level"]["xp"] > 0  # the demo history was scored
            assert before["teams"]
            when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
            event = {"id": "e2e-1", "user": "ana", "metric": "reviews_done", "value": 2, "occurred_at": when}
            posted = http.post(
                "/api/v1/metrics", json={"events": [event]}, headers={"X-API-Key": key.group(0)}
            )
            assert posted.status_code == 202, posted.text
            assert posted.json()["events"] == [
                {"id": "e2e-1", "status": "accepted", "code": None, "reason": None, "field": None}
            ]
            after = scored(http, auth, before["level"]["xp"])  # scored in the background
            assert after["level"]["xp"] > before["level"]["xp"]
            ledger = http.get("/api/v1/me/ledger", params={"limit": 5}, headers=auth).json()["items"]
            review = next(
                item for item in ledger if item["event_ids"] == ["e2e-1"] and item["source"] == "metric"
            )
            assert "Code reviews on" in review["explanation"]
            assert http.get("/readyz").json()["checks"] == {"database": "ok"}
    # A second start reuses the data: the demo is seeded once, the JWT secret is kept, and so is the
    # integration key (a KEY set from the first run still works).
    with running(["run"], env) as (base, printed), httpx.Client(base_url=base, timeout=10) as http:
        login = http.post("/api/v1/auth/login", json={"login": "ana", "password": "gamif-demo-password"})
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
        assert me.json()["level"]["xp"] == after["level"]["xp"]
        again = re.search(r"gmf_[a-z0-9]{8}_[A-Za-z0-9]+", printed)
        assert again is not None
        assert again.group(0) == key.group(0)
        event = {**event, "id": "e2e-2"}
        posted = http.post("/api/v1/metrics", json={"events": [event]}, headers={"X-API-Key": key.group(0)})
        assert posted.status_code == 202, posted.text


async def test_migrate_create_admin_and_serve_on_postgresql(make_postgres_db, tmp_path):
    # The plain postgresql:// form, as docker-compose.yml and most hosting providers give it.
    url = (await make_postgres_db()).replace("postgresql+asyncpg://", "postgresql://")
    env = {
        "GAMIF_DATABASE_URL": url,
        "GAMIF_DATA_DIR": str(tmp_path),
        "GAMIF_ADMIN_PASSWORD": "a long admin secret",
    }
    serve_env = {**os.environ, **env}
    # An unmigrated PostgreSQL is refused with a clear message (no silent schema changes on shared databases).
    refused = subprocess.run(
        [GAMIF, "serve", "--port", str(free_port())],
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "run `gamif migrate`" in refused.stdout + refused.stderr
    migrated = subprocess.run(
        [GAMIF, "migrate"], env=serve_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "done: 0007_award_summaries" in migrated.stdout
    created = subprocess.run(
        [GAMIF, "create-admin", "--email", "root@example.com", "--handle", "root"],
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    with running(["serve"], env) as (base, _), httpx.Client(base_url=base, timeout=10) as http:
        login = http.post("/api/v1/auth/login", json={"login": "root", "password": "a long admin secret"})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        team = http.post("/api/v1/teams", json={"slug": "core", "name": "Core"}, headers=auth)
        assert team.status_code == 201, team.text
        assert http.get("/api/v1/rules").status_code == 401
        assert http.get("/api/v1/rules", headers=auth).json()["version"] == 1


def test_demo_seed_only_seeds_once_and_exits(tmp_path):
    """The compose stack's one-shot step (`gamif demo --seed-only`): seeds, prints the logins, exits 0
    without serving, and leaves the JWT secret that every hub sharing the data directory then uses."""
    env = {**os.environ, "GAMIF_DATA_DIR": str(tmp_path)}
    for _ in range(2):  # once seeded, a second run changes nothing and exits 0 too
        seeded = subprocess.run(
            [GAMIF, "demo", "--seed-only"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        assert "demo logins" in seeded.stdout
        assert STARTED not in seeded.stdout + seeded.stderr
    assert (tmp_path / "jwt-secret").is_file()
