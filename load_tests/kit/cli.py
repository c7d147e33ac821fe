"""``gamif load SCENARIO [options]`` (also ``python -m load_tests``): one entry for the load scenarios.

Each scenario keeps its own options (``gamif load pipeline --help``); thresholds (``--slo``) make a run
exit non-zero when missed, for CI.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

SCENARIOS: dict[str, tuple[str, str]] = {
    "connect-storm": (
        "load_tests.scenarios.connect_storm",
        "N sessions authenticate and subscribe at a ramp rate: connect time, failures, close codes",
    ),
    "idle-soak": (
        "load_tests.scenarios.idle_soak",
        "N sessions idle for T with heartbeats only: ping round trips, hub memory per session and drift",
    ),
    "fanout": (
        "load_tests.scenarios.fanout_board",
        "N subscribers of one leaderboard while events are ingested at R/s: publish->screen, missed deltas",
    ),
    "dashboard": (
        "load_tests.scenarios.dashboard",
        "own, team and leaderboard topics per user, a share reporting events with think times: event->screen",
    ),
    "reconnect-storm": (
        "load_tests.scenarios.reconnect_storm",
        "drop X% of the sessions at once: time to resume, share recovered vs snapshot, nothing missed",
    ),
    "challenge": (
        "load_tests.scenarios.challenge",
        "a live team challenge: members report events, spectators watch the scoreboard: its delta latency",
    ),
    "embedded-ingest": (
        "load_tests.scenarios.embedded_ingest",
        "an embedded hub (SQLite, no Redis) scores a big ingest while N sessions ping: ping round trips "
        "while it scores, time to score everything",
    ),
    "pipeline": (
        "load_tests.pipeline.cli",
        "ingest -> queue -> worker -> hub -> screens: scored events/s, and event->screen latency at a "
        "fixed rate with N connected clients",
    ),
    "hub-vs-baselines": (
        "load_tests.fanout.cli",
        "the hub's raw fan-out (deltas published straight to one topic) against bare Starlette and "
        "websockets servers",
    ),
    "fanout-balancer": (
        "load_tests.fanout.balancer_cli",
        "fan-out through HAProxy: two hubs against one with the same subscribers (deliveries/s ratio, "
        "HAProxy's CPU)",
    ),
}

COMMANDS: dict[str, tuple[str, str]] = {
    "report": ("load_tests.kit.report_cli", "print a saved result's table and write its HTML report"),
    "benchmarks": ("load_tests.kit.benchmarks", "write BENCHMARKS.md from the saved results"),
}


def usage(prog: str) -> str:
    lines = [f"usage: {prog} SCENARIO [options]   ({prog} SCENARIO --help for its options)", "", "scenarios:"]
    lines += [f"  {name:<17} {summary}" for name, (_, summary) in SCENARIOS.items()]
    lines += ["", "commands:"]
    lines += [f"  {name:<17} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, prog: str = "python -m load_tests") -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] in ("-h", "--help"):
        print(usage(prog))
        return 0 if words else 2
    name, rest = words[0], words[1:]
    entry = SCENARIOS.get(name) or COMMANDS.get(name)
    if entry is None:
        print(f"{prog}: unknown scenario {name!r}\n\n{usage(prog)}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    code: int = module.main(rest, prog=f"{prog} {name}")
    return code
