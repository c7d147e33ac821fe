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
        "load_tests.storm",
        "N sessions authenticate and subscribe at a ramp rate: connect time, failures, close codes",
    ),
    "fanout": (
        "load_tests.fanout.cli",
        "N subscribers of one topic while deltas are published; the hub against bare Starlette and "
        "websockets",
    ),
    "pipeline": (
        "load_tests.pipeline.cli",
        "ingest -> queue -> worker -> hub -> screens: scored events/s, and event->screen latency at a "
        "fixed rate with N connected clients",
    ),
}


def usage(prog: str) -> str:
    lines = [f"usage: {prog} SCENARIO [options]   ({prog} SCENARIO --help for its options)", "", "scenarios:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in SCENARIOS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, prog: str = "python -m load_tests") -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] in ("-h", "--help"):
        print(usage(prog))
        return 0 if words else 2
    name, rest = words[0], words[1:]
    if name not in SCENARIOS:
        print(f"{prog}: unknown scenario {name!r}\n\n{usage(prog)}", file=sys.stderr)
        return 2
    module = importlib.import_module(SCENARIOS[name][0])
    code: int = module.main(rest, prog=f"{prog} {name}")
    return code
