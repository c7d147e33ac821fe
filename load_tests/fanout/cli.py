"""The command line: ``python -m load_tests.fanout [options]``; progress on stderr, the table on
stdout, the JSON result in ``--json PATH``. Exit status 1 if a target failed or a message was lost."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from load_tests.kit import report_html
from load_tests.kit.result import write_json

from .kit_result import to_kit
from .results import table
from .run import PACES, TARGETS, BenchOptions, run_benchmark


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(TARGETS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(TARGETS)} (got {text!r})")
    return names


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return counts


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def parser(prog: str = "python -m load_tests.fanout") -> argparse.ArgumentParser:
    defaults = BenchOptions()
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Fan-out of one topic to N subscribers: the gamif hub against a bare Starlette send_bytes "
            "loop and websockets.broadcast(), in one run: deliveries/s, frames/s, server memory per idle "
            "connection, and the load clients' CPU."
        ),
    )
    parser.add_argument("--targets", type=_names, default=defaults.targets, help="hub,starlette,websockets")
    parser.add_argument(
        "--subscribers", type=_counts, default=defaults.subscribers, help="subscriber counts (1000,5000)"
    )
    parser.add_argument(
        "--messages", type=_positive, default=defaults.messages, help="messages per measured round (200)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=defaults.warmup,
        help="messages of the unmeasured round before each (10)",
    )
    parser.add_argument(
        "--idle", type=_positive, default=defaults.idle, help="idle connections for the memory phase (10000)"
    )
    parser.add_argument(
        "--procs", type=_positive, default=defaults.procs, help="load-client processes (number of CPUs)"
    )
    parser.add_argument(
        "--pace",
        choices=PACES,
        default=defaults.pace,
        help="lockstep (default): each message once the previous reached every subscriber (one frame "
        "per delivery); burst: a round's messages as fast as the target takes them (the hub may coalesce "
        "them)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="hub: decode every frame and check every offset (slower clients) instead of each round's ends",
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=defaults.stall,
        help="seconds without a frame before a round gives up (10)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=defaults.quiet_wait,
        help="seconds to wait, before each measured round, for other processes to leave the CPUs (20; 0: no)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("GAMIF_REDIS_URL", defaults.redis_url),
        help="Redis for the hub target (keys under a prefix unique to the run, deleted at the end)",
    )
    parser.add_argument(
        "--scrape-every",
        type=float,
        default=defaults.scrape_every,
        help="hub (metrics on): GET /metrics this often, in seconds, while it serves (5; 0: never). "
        "The cost of metrics: --targets hub,hub-metrics-off (the same hub with GAMIF_METRICS=0)",
    )
    parser.add_argument("--json", type=Path, help="write the raw result here (JSON)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("load-results"),
        help="the kit result (JSON) and its HTML report go here (load-results)",
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m load_tests.fanout") -> int:
    args = parser(prog).parse_args(argv)
    options = BenchOptions(
        targets=args.targets,
        subscribers=args.subscribers,
        messages=args.messages,
        warmup=max(0, args.warmup),
        idle=args.idle,
        procs=args.procs,
        strict=args.strict,
        pace=args.pace,
        stall=args.stall,
        quiet_wait=args.quiet_wait,
        redis_url=args.redis_url,
        scrape_every=max(0.0, args.scrape_every),
    )

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    outcome = run_benchmark(options, say)
    print(table(outcome.results, outcome.comparisons, options.pace))
    for warning in outcome.document["warnings"]:
        print(f"WARNING: {warning}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(outcome.document, indent=2) + "\n", encoding="utf-8")
        say(f"fanout: result written to {args.json}")
    stamp = datetime.now(UTC)
    words = list(sys.argv[1:] if argv is None else argv)
    kit = to_kit(outcome.document, outcome.results, " ".join([prog, *map(shlex.quote, words)]))
    name = "metrics-cost" if set(options.targets) == {"hub", "hub-metrics-off"} else "hub-vs-baselines"
    base = args.out / f"{name}-{stamp:%Y%m%d-%H%M%S}"
    write_json(kit, base.with_suffix(".json"))
    report_html.write(kit, base.with_suffix(".html"))
    say(f"result: {base}.json, report: {base}.html")
    return 0 if outcome.ok else 1
