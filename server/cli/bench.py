"""`gamif bench ...`: benchmarks whose code lives under load_tests/."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime


def engine(args: argparse.Namespace) -> int:
    from load_tests import engine_bench

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    from load_tests.kit.result import write_json

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
