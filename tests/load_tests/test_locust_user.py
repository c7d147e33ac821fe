"""The Locust user end to end: real headless `locust` processes against a real embedded `gamif serve`
(SQLite, in-process hub and scoring), judged from Locust's own CSV stats.

The locustfile is never imported here: it runs under gevent's monkey-patching, in locust's process only.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from load_tests.fanout.targets import ServerProcess, answers_http, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
USERS = 10


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """An embedded `gamif serve` on a fresh data directory and a free port, once /healthz answers."""
    port = free_port()
    # No GAMIF_* from the caller's shell (a Redis or database URL would leave embedded mode).
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMIF_")}
    env["GAMIF_DATA_DIR"] = str(tmp_path / "data")
    process = ServerProcess([str(BIN / "gamif"), "serve", "--port", str(port)], env)
    try:
        process.wait_ready(lambda: answers_http(port, "/healthz"), "gamif serve")
        yield port
    finally:
        process.stop()


def run_locust(port: int, prefix: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMIF_")}  # register fresh players
    argv = [
        str(BIN / "locust"),
        "-f",
        "load_tests/locust_user.py",
        "--headless",
        f"-u{USERS}",
        f"-r{USERS}",
        "-t20s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(prefix),
        "--only-summary",
    ]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_locust_players_connect_ingest_and_see_their_xp(server: int, tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    output = run_locust(server, prefix)
    stats = {row["Name"]: row for row in rows(Path(f"{prefix}_stats.csv")) if row["Type"] != ""}
    failures = rows(Path(f"{prefix}_failures.csv"))
    assert failures == [], output

    def count(name: str) -> tuple[int, int]:
        assert name in stats, f"no {name!r} row:\n{output}"
        return int(stats[name]["Request Count"]), int(stats[name]["Failure Count"])

    assert count("connect+auth") == (USERS, 0)
    assert count("subscribe") == (USERS, 0)  # user:{id} and leaderboard:xp:weekly, together
    assert count("register") == (USERS, 0)
    for name in ("ingest", "ping", "event->screen"):
        requests, failed = count(name)
        assert requests >= 1, output
        assert failed == 0, output
    # Each scored ticket reaches its player's screen (a few may be in flight when the run stops).
    assert count("event->screen")[0] >= count("ingest")[0] - USERS
    assert "closed" not in stats, output
