"""Command-line options that the scenarios share: the stores a run may use, and ``--slo``."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from . import slo


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """``--postgres-url`` and ``--redis-url``: where a run creates its own database and key prefix."""
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("GAMIF_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server where this run may create (and drop) its own database",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("GAMIF_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )


def slo_checks(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[slo.Check]:
    """The parsed ``--slo`` (none if not given); a malformed one ends the command with its usage error."""
    try:
        return slo.parse(args.slo) if args.slo is not None else []
    except slo.SloError as error:
        parser.error(str(error))


def command_line(scenario: str, argv: list[str] | None = None) -> str:
    """The command that ran this scenario, as ``gamif load SCENARIO ...`` (however it was started:
    ``gamif load``, ``python -m load_tests``), for the result and BENCHMARKS.md."""
    words = sys.argv if argv is None else argv
    rest = words[words.index(scenario) + 1 :] if scenario in words else []
    return " ".join(["gamif", "load", scenario, *(shlex.quote(word) for word in rest)])


def public_options(options: dict[str, object]) -> dict[str, object]:
    """Options fit to publish in a result: no store URLs (they may hold credentials)."""
    return {key: value for key, value in options.items() if not key.endswith("_url")}
