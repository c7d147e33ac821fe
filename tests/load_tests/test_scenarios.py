"""The load kit's session scenarios end to end: `python -m load_tests SCENARIO` processes, each with a real
`gamif serve` (and `gamif worker` when events are scored) on PostgreSQL and Redis, judged from the run's
JSON result, its thresholds and its exit code.

`test_ci_smoke` is the kit's CI gate: 500 sessions for 30 s, with thresholds, zero protocol errors and
zero missed deltas.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from load_tests.fanout.targets import ServerProcess, answers_http, free_port

BIN = Path(sys.executable).parent


async def load(
    scenario: str, tmp_path: Path, *options: str, stores: tuple[str, str] | None
) -> tuple[int, str, Any]:
    """Run a scenario; its exit code, output and JSON result (also checks the HTML report was written)."""
    result, report = tmp_path / f"{scenario}.json", tmp_path / f"{scenario}.html"
    argv = [sys.executable, "-m", "load_tests", scenario, *options, f"--json={result}", f"--html={report}"]
    if stores is not None:
        argv += [f"--postgres-url={stores[0]}", f"--redis-url={stores[1]}"]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 600)
    text = output.decode()
    assert process.returncode is not None
    assert result.is_file(), text
    assert report.read_text().count("<svg data-plot=") >= 4, text
    return process.returncode, text, json.loads(result.read_text())


def counters(result: Any) -> dict[str, Any]:
    return dict(result["summary"]["counters"])


@pytest.mark.postgresql
async def test_ci_smoke(postgres_server: str, redis_server: str, tmp_path: Path) -> None:
    """500 dashboards for 30 s: each user on its own, its team's and a leaderboard topic, a fifth of
    them reporting events; every event reaches its screen, no delta is missed or repeated."""
    slo = "errors=0,missed=0,duplicated=0,connections>=500,screen:p99<5s"
    code, output, result = await load(
        "dashboard",
        tmp_path,
        "--users=500",
        "--duration=30s",
        "--think=5s",
        "--ingest-share=0.2",
        "--rate=250",
        "--procs=2",
        f"--slo={slo}",
        stores=(postgres_server, redis_server),
    )
    assert code == 0, output
    assert counters(result) == {"errors": 0, "missed": 0, "duplicated": 0, "closed": {}}
    assert result["summary"]["rates"]["connections"] >= 500
    assert result["duration_s"] >= 30
    extra = result["extra"]
    assert extra["events_never_answered"] == 0
    # Every accepted event was answered on its screen, and there were plenty of them.
    assert extra["events_sent_answered"] == extra["events_accepted"] >= 100
    latency = result["summary"]["latency"]
    assert latency["screen"]["count"] == extra["events_accepted"]
    assert latency["connect"]["count"] == 500
    assert latency["delivery"]["count"] > 500
    assert [line["passed"] for line in result["slo"]] == [True] * 5
    assert "PASS  missed = 0 (measured 0)" in output
    series = result["series"]
    assert len(series["t_s"]) >= 30
    assert max(series["connections"]) == 500


@pytest.mark.postgresql
async def test_a_reconnect_storm_resumes_every_topic_from_history(
    postgres_server: str, redis_server: str, tmp_path: Path
) -> None:
    code, output, result = await load(
        "reconnect-storm",
        tmp_path,
        "--connections=120",
        "--drop=50%",
        "--warmup=4s",
        "--after=3s",
        "--think=1s",
        "--ingest-share=0.25",
        "--procs=1",
        "--slo=errors=0,missed=0,duplicated=0",
        stores=(postgres_server, redis_server),
    )
    assert code == 0, output
    extra = result["extra"]
    assert (extra["dropped"], extra["all_resumed"], extra["resume_failed"]) == (60, True, 0)
    # Two topics a session, both resumed from the delta history (no snapshot re-sent).
    assert (extra["topics_recovered"], extra["topics_resnapshotted"], extra["recovered_share"]) == (
        120,
        0,
        1.0,
    )
    assert result["summary"]["latency"]["resume"]["count"] == 60
    assert counters(result)["missed"] == 0


@pytest.mark.postgresql
async def test_fanout_delivers_every_board_delta_to_every_subscriber(
    postgres_server: str, redis_server: str, tmp_path: Path
) -> None:
    code, output, result = await load(
        "fanout",
        tmp_path,
        "--subscribers=200",
        "--reporters=10",
        "--events-per-s=10",
        "--duration=5s",
        "--procs=1",
        "--slo=errors=0,missed=0,delivery:p99<2s",
        stores=(postgres_server, redis_server),
    )
    assert code == 0, output
    latency = result["summary"]["latency"]
    assert latency["screen"]["count"] == result["extra"]["events_answered"] > 0
    # Each board delta reaches all 200 subscribers (offsets checked: none missed, none twice).
    assert latency["delivery"]["count"] >= 200 * 5
    assert counters(result)["missed"] == counters(result)["duplicated"] == 0


@pytest.mark.postgresql
async def test_an_idle_soak_samples_the_hub_and_fails_a_missed_threshold(
    postgres_server: str, redis_server: str, tmp_path: Path
) -> None:
    code, output, result = await load(
        "idle-soak",
        tmp_path,
        "--connections=100",
        "--duration=3s",
        "--ping-every=1s",
        "--procs=1",
        "--slo=errors=0,p99<1us",
        stores=(postgres_server, redis_server),
    )
    assert code == 1, output  # no pong comes back in a microsecond
    assert [line["passed"] for line in result["slo"]] == [True, False]
    assert result["summary"]["latency"]["ping"]["count"] >= 100  # every session pinged, answered
    assert result["server"]["rss_mb_peak"] > 0
    assert result["extra"]["kib_per_session"] is not None
    assert len(result["series"]["server_rss_mb"]) == len(result["series"]["t_s"])


@pytest.mark.postgresql
async def test_a_connect_storm_counts_every_session(
    postgres_server: str, redis_server: str, tmp_path: Path
) -> None:
    code, output, result = await load(
        "connect-storm",
        tmp_path,
        "--connections=200",
        "--rate=200",
        "--players=20",
        "--procs=1",
        "--slo=errors=0,connections>=200,connect:max<1us",
        stores=(postgres_server, redis_server),
    )
    assert code == 1, output
    assert "PASS  errors = 0 (measured 0)" in output
    assert "FAIL  connect max < 0.001 ms" in output
    extra = result["extra"]
    assert (extra["opened"], extra["failed"], extra["open_at_end"]) == (200, 0, 200)
    connect = result["summary"]["latency"]["connect"]
    assert connect["count"] == 200
    assert 0 < connect["p50_ms"] <= connect["p99_ms"] <= connect["max_ms"]


async def test_pre_created_users_on_a_running_hub(tmp_path: Path) -> None:
    """``--target`` and ``--users-file``: an embedded hub someone else started, users they created."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMIF_")}
    env["GAMIF_DATA_DIR"] = str(tmp_path / "data")
    server = ServerProcess([str(BIN / "gamif"), "serve", "--port", str(port)], env)
    try:
        await asyncio.to_thread(server.wait_ready, lambda: answers_http(port, "/healthz"), "gamif serve")
        users = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for index in range(3):
                answer = await client.post(
                    "/api/v1/auth/register",
                    json={
                        "email": f"pre{index}@example.com",
                        "password": "correct horse battery staple",
                        "handle": f"pre{index}",
                        "display_name": f"Pre {index}",
                    },
                )
                assert answer.status_code == 201, answer.text
                body = answer.json()
                users.append({"user_id": body["user"]["id"], "access_token": body["tokens"]["access_token"]})
        (tmp_path / "users.json").write_text(json.dumps(users))
        code, output, result = await load(
            "connect-storm",
            tmp_path,
            "--connections=30",
            "--rate=100",
            "--procs=1",
            f"--target=http://127.0.0.1:{port}",
            f"--users-file={tmp_path / 'users.json'}",
            "--slo=errors=0,connections>=30",
            stores=None,
        )
    finally:
        server.stop()
    assert code == 0, output
    assert result["extra"]["opened"] == 30


async def test_a_users_file_that_is_not_a_list_of_users_is_refused(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text('{"user_id": "x"}')
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "load_tests",
        "idle-soak",
        "--target=http://127.0.0.1:9",
        f"--users-file={tmp_path / 'users.json'}",
        f"--json={tmp_path / 'r.json'}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 2
    assert "not a JSON list of {user_id, access_token} objects" in output.decode()
    assert not (tmp_path / "r.json").exists()


@pytest.mark.postgresql
async def test_a_challenge_scoreboard_moves_for_members_and_spectators(
    postgres_server: str, redis_server: str, tmp_path: Path
) -> None:
    """A live challenge created through the admin API: members' events move its scoreboard, and every
    member and spectator gets every one of its deltas."""
    code, output, result = await load(
        "challenge",
        tmp_path,
        "--teams=3",
        "--members=30",
        "--spectators=30",
        "--think=1s",
        "--duration=5s",
        "--procs=1",
        "--slo=errors=0,missed=0,duplicated=0",
        stores=(postgres_server, redis_server),
    )
    assert code == 0, output
    latency = result["summary"]["latency"]
    assert latency["screen"]["count"] == result["extra"]["events_answered"] > 0
    # More than one scoreboard delta, each to all 60 sessions watching it.
    assert latency["scoreboard"]["count"] >= 2 * 60
    assert latency["scoreboard"]["count"] % 60 == 0


async def test_an_embedded_ingest_is_scored_while_sessions_ping(tmp_path: Path) -> None:
    """An embedded hub of the run's own (no PostgreSQL, no Redis, no worker): every event posted reaches
    its user's screen, and pings are measured before and while it scores, under the default thresholds
    (whether p99 holds here is the benchmark's to say, not this test's)."""
    code, output, result = await load(
        "embedded-ingest",
        tmp_path,
        "--sessions=20",
        "--events=100",
        "--batch=30",
        "--quiet=1s",
        "--ping-every=100ms",
        "--procs=1",
        stores=None,
    )
    assert code in (0, 1), output
    assert [line["check"] for line in result["slo"]] == ["p99<50ms", "errors=0"]
    assert result["slo"][1]["passed"], output
    extra = result["extra"]
    assert (extra["sessions"], extra["events"], extra["requests"]) == (20, 100, 4)
    assert extra["events_accepted"] == extra["events_expected_on_screens"] == extra["events_answered"] == 100
    assert extra["events_never_answered"] == 0
    assert 0 < extra["posting_s"] <= extra["time_to_score_all_s"]
    latency = result["summary"]["latency"]
    assert result["summary"]["default_latency"] == "ping"
    assert latency["ping"]["count"] > 0
    assert latency["ping_quiet"]["count"] >= 20  # every session pinged before the ingest
    assert latency["screen"]["count"] == 100
    assert latency["post"]["count"] == 4
    assert latency["connect"]["count"] == 20
    assert counters(result)["errors"] == 0
