"""The pipeline benchmark (load_tests/pipeline) end to end with tiny numbers: a real PostgreSQL database
of its own, Redis under its own prefix, `gamif serve`, one `gamif worker`, subscriber processes; every
event must be scored and every session must hold the delta of each of its player's events."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from load_tests.kit.result import load_json
from load_tests.pipeline.cli import parse, table
from load_tests.pipeline.lock_watch import LockWatch
from load_tests.pipeline.run import BATCH_EVENTS, READ_BLOCK, Lanes, Options, latency, throughput
from load_tests.pipeline.stack import Player


def test_the_command_line_parses() -> None:
    options, json_path, checks = parse(
        ["--mode", "latency", "--rate", "50", "--duration", "3", "--json", "x.json", "--slo", "p99<50ms"]
    )
    assert (options.mode, options.rate, options.duration, str(json_path)) == ("latency", 50, 3, "x.json")
    assert [check.text for check in checks] == ["p99<50ms"]


@pytest.mark.postgresql
async def test_thresholds_decide_the_exit_code(
    postgres_server: str, redis_server: str, tmp_path: Path
) -> None:
    """`gamif load pipeline --slo ...`: each threshold's outcome is printed, and one missed fails the run."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "load_tests",
        "pipeline",
        "--mode=latency",
        "--rate=50",
        "--duration=2",
        "--subscribers=10",
        "--players=5",
        "--client-procs=1",
        f"--postgres-url={postgres_server}",
        f"--redis-url={redis_server}",
        "--slo=missed=0,errors=0,connections>=10,p50<1us",  # no screen is that fast
        f"--out={tmp_path}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode()
    assert process.returncode == 1, text
    assert "PASS  missed = 0 (measured 0)" in text
    assert "PASS  errors = 0 (measured 0)" in text
    assert "PASS  connections >= 10 (measured 10)" in text
    assert "FAIL  screen p50 < 0.001 ms" in text
    # The run is also a kit result, with its report.
    (saved,) = tmp_path.glob("pipeline-latency-*.json")
    kit = load_json(saved)
    assert kit["scenario"] == "pipeline"
    assert [line["passed"] for line in kit["slo"] or []] == [True, True, True, False]
    assert kit["summary"]["latency"]["screen"]["count"] == 100 * 2  # 100 events, two sessions a player
    assert saved.with_suffix(".html").read_text().count("<svg data-plot=") >= 4


@pytest.mark.postgresql
async def test_every_event_is_scored_and_every_subscriber_gets_its_deltas(
    postgres_server: str, redis_server: str
) -> None:
    options = Options(
        mode="latency",
        rate=50,
        duration=3,
        subscribers=20,
        players=10,
        client_procs=1,
        postgres_url=postgres_server,
        redis_url=redis_server,
    )
    lines: list[str] = []
    result = await latency(options, lines.append)
    assert result["posted_events"] == 150
    assert result["accepted_events"] == result["scored_events"] == 150
    assert result["sessions_connected"] == result["sessions_complete"] == 20, result["session_problems"]
    assert result["deltas_expected"] == result["deltas_delivered"] == 20 * 15
    assert result["deltas_unexpected"] == 0
    assert result["event_to_screen"]["count"] == 300
    assert result["breakdown"]["fan-out: publish -> first session holds the delta"]["count"] == 150
    assert "event -> screen" in table([result])


@pytest.mark.postgresql
async def test_the_throughput_run_scores_the_whole_queue(postgres_server: str, redis_server: str) -> None:
    options = Options(
        mode="throughput",
        throughput_rate=100,
        duration=10,  # the run ends as soon as the queue is drained
        players=5,
        postgres_url=postgres_server,
        redis_url=redis_server,
    )
    result = await throughput(options, lambda line: None)
    assert result["queued_events"] == 1_200
    assert result["drained"]
    assert result["scored_events_per_s"] > 0
    # PostgreSQL's lock waits were sampled meanwhile (every 100 ms, from the worker's start).
    locks = result["lock_waits"]
    assert locks["samples"] == result["lock_samples"] > 0
    assert locks["sample_errors"] == 0
    assert result["lock_samples_worker_waiting"] == locks["samples_worker_waiting"] <= locks["samples"]
    assert locks["deadlocks_before"] == 0
    assert result["deadlocks"] == locks["deadlocks"] == 0
    assert "THROUGHPUT" in table([result])
    assert "on another worker process, deadlocks +0" in table([result])


def test_lanes_give_each_block_of_batches_players_of_one_lane_and_every_player_its_own_sequence() -> None:
    players = [Player(f"p{i}", f"id{i}", "") for i in range(10)]
    block = READ_BLOCK * BATCH_EVENTS
    total = 5 * block + 1234  # a partial last block
    lanes = Lanes(players, 4)
    dealt = [lanes.at(index) for index in range(total)]
    lane_of_block = []
    for start in range(0, total, block):
        handles = {player.handle for player, _ in dealt[start : start + block]}
        (lane,) = {int(handle[1:]) % 4 for handle in handles}  # one lane's players only...
        assert len(handles) == len(players[lane::4])  # ...all of them
        lane_of_block.append(lane)
    assert lane_of_block == [0, 1, 2, 3, 0, 1]  # in turn: blocks held at once are of different lanes
    # Each player's events are its 0th, 1st, 2nd, ... (five a day forward: no two at one moment).
    seen: dict[str, list[int]] = {}
    for player, k in dealt:
        seen.setdefault(player.handle, []).append(k)
    assert all(ks == list(range(len(ks))) for ks in seen.values())
    assert lanes.most_per_player(total) == max(len(ks) for ks in seen.values())
    # One lane is the historical layout: player i % n, every batch spanning all players.
    one = Lanes(players)
    assert [one.at(i) for i in (0, 9, 10, 25)] == [
        (players[0], 0),
        (players[9], 0),
        (players[0], 1),
        (players[5], 2),
    ]
    assert Lanes.auto(players, 1, total).count == 1
    assert Lanes.auto(players, 2, total).count == 4
    assert Lanes.auto(players, 2, 180 * BATCH_EVENTS).count == 2  # two blocks: two lanes are enough


def test_lock_waits_tell_another_worker_process_from_the_same_one() -> None:
    watch = LockWatch("postgresql://unused")

    def waiting(app: str, *blockers: str, locktype: str = "transactionid") -> dict[str, Any]:
        return {
            "app": app,
            "locktype": locktype,
            "mode": "ShareLock",
            "relation": None,
            "row_of": "user_states",
            "statement": "SELECT ... FOR UPDATE",
            "blockers": list(blockers),
        }

    watch._count([])
    watch._count([waiting("gamif-worker/11", "gamif-worker/11")])  # its own other group
    watch._count(
        [waiting("gamif-worker/11", "gamif-worker/12"), waiting("gamif-worker/12", "gamif-worker/12")]
    )
    watch._count([waiting("gamif-serve", "gamif-worker/12")])  # not a worker waiting
    report = watch.report()
    assert (report["samples"], report["samples_worker_waiting"], report["samples_other_waiting"]) == (0, 2, 1)
    assert report["samples_worker_waiting_on_another"] == 1
    assert report["by_blocker"] == {"the same worker process": 2, "another worker process": 1}
    assert report["by_lock"] == {"transactionid ShareLock on user_states": 3}
