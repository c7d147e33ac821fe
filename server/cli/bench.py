"""`gamif bench ...`: benchmarks whose code lives under load_tests/."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def engine(args: argparse.Namespace) -> int:
    from load_tests import engine_bench

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    say("gamif engine benchmark: default rules, synthetic software-team traffic, one core")
    results = engine_bench.suite(args.users, args.days, args.repeat, progress=say)
    print()
    for result in results:
        print(result.line())
    print(f"({results[0].python})")
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.as_dict() for r in results], indent=2) + "\n", encoding="utf-8"
        )
        say(f"results written to {args.json}")
    return 0
