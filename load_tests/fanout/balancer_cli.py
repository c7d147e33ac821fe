"""``gamif load fanout-balancer``: fan-out through HAProxy, two hubs against one, the same subscribers.

The same rounds as ``gamif load hub-vs-baselines`` (run.py), on two targets one after the other: one
``gamif serve`` behind HAProxy, then two (`balancer_target`), with the compose stack's HAProxy
configuration. The result: deliveries/s of each, their ratio (two hubs / one), and HAProxy's CPU. The
kit result goes to ``--json`` (load_tests/results/fanout-balancer.json for BENCHMARKS.md)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from load_tests.kit import report_html
from load_tests.kit.result import write_json

from .cli import _counts, _positive
from .kit_result import to_kit
from .results import percent, ratios, table
from .run import BALANCER_TARGETS, PACES, BenchOptions, run_benchmark

SCENARIO = "fanout-balancer"
TARGET_RATIO = 1.4
"""What the issue aims at: two hubs deliver at least this many times what one does."""


def parser(prog: str) -> argparse.ArgumentParser:
    defaults = BenchOptions()
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Fan-out of one topic through HAProxy: one gamif hub behind it, then two, with the same "
            "subscribers; deliveries/s of each, their ratio, and HAProxy's own CPU."
        ),
    )
    parser.add_argument(
        "--subscribers", type=_counts, default=(2_000, 5_000), help="subscriber counts (2000,5000)"
    )
    parser.add_argument(
        "--messages", type=_positive, default=defaults.messages, help="messages per round (200)"
    )
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="unmeasured messages first (10)")
    parser.add_argument("--procs", type=_positive, default=defaults.procs, help="load-client processes")
    parser.add_argument("--pace", choices=PACES, default=defaults.pace, help="lockstep (default) or burst")
    parser.add_argument("--stall", type=float, default=defaults.stall, help="seconds without a frame (10)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=defaults.quiet_wait,
        help="seconds to wait for a quiet machine (20)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("GAMIF_REDIS_URL", defaults.redis_url),
        help="Redis for the hubs",
    )
    parser.add_argument("--json", type=Path, help="write the kit result here (for BENCHMARKS.md)")
    parser.add_argument("--html", type=Path, help="write the HTML report here")
    parser.add_argument("--raw", type=Path, help="write every round's measurements here (JSON)")
    return parser


def balancer_ratio(comparison: dict[str, Any] | None) -> str:
    if comparison is None:
        return "two hubs / one hub: not measured (a target failed)"
    ratios_text = ", ".join(
        f"{ratio:.2f}x at {int(n):,}" for n, ratio in comparison["deliveries_per_s"].items()
    )
    met = bool(comparison["deliveries_per_s"]) and all(
        ratio >= TARGET_RATIO for ratio in comparison["deliveries_per_s"].values()
    )
    return (
        f"two hubs / one hub behind HAProxy: deliveries/s {ratios_text} "
        f"(aim >= {TARGET_RATIO}: {'met' if met else 'NOT met'})"
    )


def main(argv: Sequence[str] | None = None, prog: str = f"gamif load {SCENARIO}") -> int:
    args = parser(prog).parse_args(argv)
    options = BenchOptions(
        targets=BALANCER_TARGETS,
        subscribers=args.subscribers,
        messages=args.messages,
        warmup=max(0, args.warmup),
        idle=1,  # no memory phase behind the balancer
        procs=args.procs,
        pace=args.pace,
        stall=args.stall,
        quiet_wait=args.quiet_wait,
        redis_url=args.redis_url,
    )

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    outcome = run_benchmark(options, say)
    one, two = BALANCER_TARGETS
    comparison = ratios(outcome.results, two, one)
    comparisons = {f"{two}/{one}": comparison}
    document = {**outcome.document, "benchmark": SCENARIO, "comparisons": comparisons}
    print(table(outcome.results, {}, options.pace))
    line = balancer_ratio(comparison)
    print(line)
    haproxy = [
        f"HAProxy CPU with {name} at {run.subscribers:,}: {percent(run.balancer_cpu_percent)} of a core"
        for name in BALANCER_TARGETS
        if name in outcome.results
        for run in outcome.results[name].fanout
    ]
    for note in haproxy:
        print(note)
    for warning in document["warnings"]:
        print(f"WARNING: {warning}")
    if args.raw is not None:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        args.raw.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    words = list(sys.argv[1:] if argv is None else argv)
    kit = to_kit(
        replace_comparisons(document),
        outcome.results,
        " ".join([prog, *map(shlex.quote, words)]),
        scenario=SCENARIO,
        title=(
            "Fan-out through HAProxy: two hubs against one, "
            + " and ".join(f"{n:,}" for n in options.subscribers)
            + " subscribers"
        ),
        main=two,
    )
    kit["notes"] = [line, *haproxy]
    if args.json is not None:
        write_json(kit, args.json)
        say(f"{SCENARIO}: result written to {args.json}")
    if args.html is not None:
        report_html.write(kit, args.html)
    return 0 if outcome.ok and comparison is not None else 1


def replace_comparisons(document: dict[str, Any]) -> dict[str, Any]:
    """to_kit writes a line per comparison; this command writes its own (the ratio and HAProxy's CPU)."""
    return {**document, "comparisons": {}}
