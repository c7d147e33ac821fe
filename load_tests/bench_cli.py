"""``gamif bench TARGET``: the engine's throughput on one core, and the hub's fan-out against bare
baselines (``load_tests.fanout``, which parses its own options)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from server.cli.common import positive_int


def parser(prog: str) -> argparse.ArgumentParser:
    benchmark = argparse.ArgumentParser(prog=prog, description="benchmarks")
    targets = benchmark.add_subparsers(dest="target", required=True, metavar="TARGET")
    engine = targets.add_parser("engine", help="engine throughput (events/s on one core)")
    engine.add_argument("--users", type=positive_int, default=2_000)
    engine.add_argument("--days", type=positive_int, default=60)
    engine.add_argument("--repeat", type=positive_int, default=3, help="timed runs; the best counts")
    engine.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    # Listed for --help; `main` hands `fanout ...` to load_tests.fanout before parsing.
    targets.add_parser(
        "fanout", help="hub fan-out against a bare Starlette loop and websockets.broadcast (needs Redis)"
    )
    return benchmark


def main(argv: Sequence[str], prog: str = "gamif bench") -> int:
    words = list(argv)
    if words[:1] == ["fanout"]:
        # Its options are the fan-out kit's own (argparse's REMAINDER would swallow a leading --help).
        from load_tests.fanout import cli as fanout_cli

        return fanout_cli.main(words[1:], prog=f"{prog} fanout")
    args = parser(prog).parse_args(words)
    return engine(args)


def engine(args: argparse.Namespace) -> int:
    from load_tests import engine_bench
    from load_tests.kit.result import write_json

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = datetime.now(UTC)
    say("gamif engine benchmark: default rules, synthetic software-team traffic, one core")
    results = engine_bench.suite(args.users, args.days, args.repeat, progress=say)
    print()
    for result in results:
        print(result.line())
    print(f"({results[0].python})")
    if args.json:
        write_json(engine_bench.kit_result(results, started, " ".join(["gamif", *sys.argv[1:]])), args.json)
        say(f"result written to {args.json}")
    return 0
