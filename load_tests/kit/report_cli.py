"""``python -m load_tests report RESULT.json [--html OUT.html]``: a saved run's table and HTML page, again."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from . import report_html
from .report_text import table
from .result import load_json

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, prog: str = "python -m load_tests report") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Print a saved load kit result's summary table and write its HTML report."
    )
    parser.add_argument("result", type=Path, help="a result saved by a scenario (JSON)")
    parser.add_argument(
        "--html", type=Path, help="where to write the HTML report (default: RESULT with .html)"
    )
    args = parser.parse_args(argv)
    try:
        result = load_json(args.result)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    out: Path = args.html or args.result.with_suffix(".html")
    print(table(result))
    report_html.write(result, out)
    print(f"\nHTML report: {out}")
    return 0
