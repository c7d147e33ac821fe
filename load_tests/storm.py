"""``gamif load connect-storm``: N sessions authenticate and subscribe at a steady ramp rate, against a
``gamif serve`` of its own (a PostgreSQL database and a Redis prefix of its own, removed afterwards).

Each session: TCP connect, WebSocket upgrade, ``auth``, ``subscribe`` to its player's ``user:`` topic,
snapshot held; the time from connect to that is its connect time. Players are registered through the
API (argon2 makes that the slow part of setting up), their sessions share them (several tabs).

    gamif load connect-storm --connections 2000 --rate 500
    gamif load connect-storm --connections 500 --rate 250 --slo 'errors=0,connect:p99<1s'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvloop

from load_tests.kit import slo
from load_tests.kit.options import add_store_options, slo_checks
from load_tests.pipeline.clients import ClientPool, ProcessReport, Session
from load_tests.pipeline.run import histogram, summary
from load_tests.pipeline.stack import Stack


def parse(argv: Sequence[str] | None, prog: str) -> tuple[argparse.Namespace, list[slo.Check]]:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2_000, help="sessions to open (2000)")
    parser.add_argument("--rate", type=float, default=500.0, help="sessions opened per second (500)")
    parser.add_argument("--players", type=int, default=100, help="registered players, shared (100)")
    parser.add_argument("--procs", type=int, default=2, help="client processes (2)")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep them open after (0)")
    add_store_options(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument(
        "--slo", default=None, help="thresholds, e.g. 'errors=0,connect:p99<1s'; exit 1 if one is missed"
    )
    args = parser.parse_args(argv)
    if args.connections < 1 or args.rate <= 0 or args.players < 1 or args.procs < 1:
        parser.error("--connections, --rate, --players and --procs must be positive")
    checks = slo_checks(parser, args)
    return args, checks


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def storm(args: argparse.Namespace) -> dict[str, Any]:
    stack = Stack(args.postgres_url, args.redis_url)
    pool: ClientPool | None = None
    try:
        say(f"connect-storm: preparing a server and {args.players} players")
        await stack.prepare()
        players = await stack.register(args.players)
        sessions = [
            Session(f"user:{players[i % len(players)].user_id}", players[i % len(players)].token)
            for i in range(args.connections)
        ]
        pool = ClientPool(args.procs, stack.port)
        say(f"connect-storm: opening {args.connections:,} sessions at {args.rate:,.0f}/s")
        started = time.monotonic()
        reports: list[ProcessReport] = await pool.open(sessions, args.rate)
        elapsed = time.monotonic() - started
        if args.hold > 0:
            say(f"connect-storm: holding them {args.hold:.0f} s")
            await asyncio.sleep(args.hold)
        held = await pool.collect()
        return result(args, reports, held, elapsed)
    finally:
        if pool is not None:
            pool.close()
        await stack.close()


def result(
    args: argparse.Namespace, reports: list[ProcessReport], held: list[ProcessReport], elapsed: float
) -> dict[str, Any]:
    connect = histogram()  # microseconds
    for report in reports:
        for ms in report.connect_ms:
            connect.record_value(max(1, int(ms * 1000)))
    opened = sum(len(report.connect_ms) for report in reports)
    closed: dict[str, int] = {}
    for report in held:
        for session in report.sessions:
            if session.closed is not None:
                code = session.closed.split()[0]
                closed[code] = closed.get(code, 0) + 1
    open_now = sum(1 for report in held for session in report.sessions if session.closed is None)
    return {
        "scenario": "connect-storm",
        "connections": args.connections,
        "rate": args.rate,
        "players": args.players,
        "procs": args.procs,
        "opened": opened,
        "failed": sum(report.failed for report in reports),
        "open_at_end": open_now,
        "elapsed_s": round(elapsed, 3),
        "opened_per_s": round(opened / elapsed, 1) if elapsed > 0 else None,
        "connect": summary(connect),
        "closed": closed,
        "errors": sorted({error for report in reports for error in report.errors})[:10],
    }


def run_summary(outcome: dict[str, Any]) -> slo.RunSummary:
    return {
        "default_latency": "connect",
        "latency": {"connect": outcome["connect"]},
        "counters": {"errors": outcome["failed"], "closed": outcome["closed"]},
        "rates": {"connections": outcome["open_at_end"]},
    }


def table(outcome: dict[str, Any]) -> str:
    connect = outcome["connect"]
    times = (
        "  ".join(f"{connect[key]:>8.1f}" for key in ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms"))
        if connect.get("count")
        else "n/a"
    )
    lines = [
        "",
        f"CONNECT STORM  ({outcome['connections']:,} sessions at {outcome['rate']:,.0f}/s on "
        f"{outcome['players']} players, {outcome['procs']} client processes)",
        f"  opened      {outcome['opened']:>8,}  in {outcome['elapsed_s']:.1f} s "
        f"({outcome['opened_per_s'] or 0:,.0f}/s); failed {outcome['failed']}; "
        f"open at the end {outcome['open_at_end']:,}",
        f"  {'':<12}{'p50':>8}  {'p90':>8}  {'p99':>8}  {'p99.9':>8}  {'max':>8}  (ms)",
        f"  {'connect':<12}{times}",
    ]
    if outcome["closed"]:
        lines.append(
            "  closed by the server: " + ", ".join(f"{n} x {c}" for c, n in outcome["closed"].items())
        )
    lines += [f"  error: {error}" for error in outcome["errors"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, prog: str = "python -m load_tests connect-storm") -> int:
    args, checks = parse(argv, prog)
    outcome = uvloop.run(storm(args))
    print(table(outcome))
    if args.json is not None:
        args.json.write_text(json.dumps(outcome, indent=2) + "\n")
        say(f"result written to {args.json}")
    if not checks:
        return 0
    outcomes = slo.evaluate(checks, run_summary(outcome))
    print("SLO")
    for item in outcomes:
        print(f"  {item.describe()}")
    return 0 if slo.all_passed(outcomes) else 1
