"""`gamif load connect-storm` end to end with small numbers: a real `gamif serve` on PostgreSQL and Redis,
every session opened and still open, its thresholds printed and deciding the exit code."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest


async def storm(postgres: str, redis: str, slo: str, json_path: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "load_tests",
        "connect-storm",
        "--connections=200",
        "--rate=200",
        "--players=4",
        "--procs=1",
        f"--postgres-url={postgres}",
        f"--redis-url={redis}",
        f"--json={json_path}",
        f"--slo={slo}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.postgresql
async def test_a_storm_opens_every_session_and_checks_its_thresholds(
    postgres_server: str, redis_server: str, tmp_path: Path
) -> None:
    code, output = await storm(
        postgres_server, redis_server, "errors=0,connections>=200,connect:max<1us", tmp_path / "r.json"
    )
    assert code == 1, output  # no session connects in a microsecond
    assert "PASS  errors = 0 (measured 0)" in output
    assert "PASS  connections >= 200 (measured 200)" in output
    assert "FAIL  connect max < 0.001 ms" in output
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["opened"], result["failed"], result["open_at_end"]) == (200, 0, 200)
    assert result["connect"]["count"] == 200
    assert 0 < result["connect"]["p50_ms"] <= result["connect"]["p99_ms"] <= result["connect"]["max_ms"]
