"""The skeleton every session scenario shares: its common options, the target and its users, the client
processes, the sampling run, and the end (table, JSON, HTML, thresholds, exit code)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import uvloop

from load_tests.fanout.targets import TargetError
from load_tests.kit import report_html, report_text, result, slo
from load_tests.kit.options import command_line, public_options, slo_checks
from load_tests.kit.runner import Run, background_load
from load_tests.kit.swarm import Swarm
from load_tests.kit.target import LoadUser, Target, add_target_options, check_target_options, make_target
from load_tests.kit.vu import VuSpec

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def duration(text: str) -> float:
    """``30``, ``30s``, ``10m``, ``1h`` -> seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 10m)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match[2]]
    return float(match[1]) * scale


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def share(text: str) -> float:
    value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1 (or 0% and 100%), got {text!r}")
    return value


def parser(prog: str, doc: str) -> argparse.ArgumentParser:
    summary, _, rest = doc.partition("\n\n")
    return argparse.ArgumentParser(
        prog=prog, description=summary, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_common(parser: argparse.ArgumentParser, *, rate: float = 200.0) -> None:
    group = parser.add_argument_group("load generator and results")
    group.add_argument(
        "--rate", type=float, default=rate, help=f"sessions opened per second while ramping up ({rate:g})"
    )
    group.add_argument(
        "--procs",
        type=positive,
        default=max(1, min(4, (os.cpu_count() or 2) // 2)),
        help="client processes (uvloop each); raise it when the generator warns it saturates",
    )
    group.add_argument("--interval", type=float, default=1.0, help="seconds between samples (1)")
    group.add_argument(
        "--drain",
        type=duration,
        default=60.0,
        help="after the load: how long events sent may take to reach their screens (60s)",
    )
    group.add_argument("--json", type=Path, default=None, help="write the result here")
    group.add_argument("--html", type=Path, default=None, help="write the HTML report here")
    group.add_argument(
        "--out",
        type=Path,
        default=Path("load-results"),
        help="without --json/--html: write both here, named after the scenario and time (load-results)",
    )
    group.add_argument(
        "--slo", default=None, help="thresholds, e.g. 'p99<50ms,errors=0,missed=0'; exit 1 if one is missed"
    )
    add_target_options(parser)


def finish_parsing(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[slo.Check]:
    check_target_options(parser, args)
    if args.rate <= 0 or args.interval <= 0:
        parser.error("--rate and --interval must be positive")
    return slo_checks(parser, args)


NOTES = {
    "connect": "TCP connect -> authenticated, every topic subscribed",
    "delivery": "delta published (at_ms) -> a screen holds it",
    "screen": "event sent by its user -> its XP on that user's screen",
    "ingest": "ingest sent -> ingested reply",
    "ping": "ping -> pong",
    "resume": "connection dropped -> reconnected, authenticated, every topic resumed",
    "scoreboard": "challenge scoreboard delta published (at_ms) -> a screen holds it",
}
"""What each histogram measures, for the table and the report."""


def notes(*names: str, **changed: str) -> dict[str, str]:
    """The notes of ``names`` (the main histogram first), some ``changed`` for a scenario."""
    return {name: changed.get(name, NOTES[name]) for name in names}


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(slots=True)
class Context:
    """What a scenario's body works with."""

    args: argparse.Namespace
    target: Target
    swarm: Swarm
    run: Run
    users: list[LoadUser]


Body = Callable[[Context], Awaitable[tuple[slo.CounterSummary, slo.RateSummary, dict[str, Any]]]]


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    return {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in vars(args).items()
        if key not in ("json", "html", "out", "slo")
        and (value is None or isinstance(value, str | int | float | bool | Path))
    }


async def execute(
    args: argparse.Namespace,
    checks: list[slo.Check],
    *,
    scenario: str,
    title: str,
    users: int,
    teams: int,
    scoring: bool,
    members: int | None = None,
    prepare: Callable[[Target, list[LoadUser]], Awaitable[None]] | None = None,
    default_latency: str,
    latency_notes: dict[str, str],
    body: Body,
    target: Target | None = None,
) -> dict[str, Any]:
    """``target``: what to load (default: `--target`'s hub, or a stack of the run's own)."""
    target = target if target is not None else make_target(args, scenario)
    swarm: Swarm | None = None
    try:
        background = await background_load()  # before our own processes start: others' load only
        say(f"{scenario}: preparing the target" + ("" if args.target else " (a stack of its own)"))
        await target.prepare(scoring)
        started = time.monotonic()
        load_users = await target.users(users, teams, members)
        if prepare is not None:
            await prepare(target, load_users)
        say(f"{scenario}: {len(load_users):,} load users ready in {time.monotonic() - started:.1f} s")
        swarm = Swarm(args.procs, target.port, target.host)
        run = Run(
            scenario,
            title,
            command_line(scenario),
            public_options(options_of(args)),
            default_latency=default_latency,
            latency_notes=latency_notes,
            interval=args.interval,
            say=say,
        )
        run.background = background
        async with run.monitor(swarm, target.server_pids):
            counters, rates, extra = await body(Context(args, target, swarm, run, load_users))
        return run.result(counters, rates, extra, checks)
    finally:
        if swarm is not None:
            swarm.close()
        await target.close()


def specs(
    users: list[LoadUser],
    sessions: int,
    topics: Callable[[int, LoadUser], tuple[str, ...]],
    ingest_every_s: Callable[[int, LoadUser], float],
    run_name: str,
    ping_every_s: float = 0.0,
    backdate: bool = True,
) -> list[VuSpec]:
    """One spec per session; sessions beyond the users share them (several tabs); only a user's first
    session ingests (its screens match answers to its own events)."""
    out = []
    for index in range(sessions):
        user = users[index % len(users)]
        every = ingest_every_s(index, user) if index < len(users) else 0.0
        name = f"{run_name}-{index}"
        out.append(VuSpec(name, user.user_id, user.token, topics(index, user), every, ping_every_s, backdate))
    return out


async def open_all(context: Context, specs_: list[VuSpec], timeout: float | None = None) -> bool:
    """Open the sessions at ``--rate``, wait until each is open or has failed, then let the reporting
    ones start (events sent while the hub is still opening sessions would measure the ramp)."""
    count = len(specs_)
    await context.swarm.open(specs_, context.args.rate)
    wait = timeout if timeout is not None else count / context.args.rate + 60
    opened = await context.run.until(
        lambda totals: totals.opened + totals.failed >= count, wait, f"opening {count:,} sessions"
    )
    await context.swarm.start_ingest()  # those that report start once all are open
    return opened


def counters(run: Run, unanswered: int = 0) -> slo.CounterSummary:
    """``errors``: protocol errors, sessions that could not open, events never answered on screen."""
    totals = run.totals
    return {
        "errors": totals.errors + totals.failed + totals.resume_failed + unanswered,
        "missed": totals.missed,
        "duplicated": totals.duplicated,
        "closed": dict(totals.closed),
    }


def rates(run: Run) -> slo.RateSummary:
    """Over the whole run (ramp-up and drain included); ``connections``: open at peak."""
    totals = run.totals
    elapsed = max(1e-6, time.monotonic() - run.started)
    return {
        "deliveries_per_s": round(totals.deliveries / elapsed, 1),
        "frames_per_s": round(totals.frames / elapsed, 1),
        "events_per_s": round(totals.events_answered / elapsed, 1),
        "connections": totals.peak_open,
    }


async def run_then_drain(context: Context, specs_: list[VuSpec], seconds: float, phase: str) -> int:
    """The usual run: open the sessions, keep the load on for ``seconds`` (``phase`` on the progress
    line), drain, close; how many events never reached their screen."""
    await open_all(context, specs_)
    context.run.status = lambda: phase
    await hold(context, seconds)
    context.run.status = lambda: "draining"
    unanswered = await drain(context)
    await end(context)
    return unanswered


async def end(context: Context) -> None:
    """Close every session (close 1000) and take a last sample: the totals are then final."""
    await context.swarm.close_sessions()
    await context.run.sample_now()


async def hold(context: Context, seconds: float) -> None:
    """Keep the load on for ``seconds`` (the sampling goes on meanwhile)."""
    await asyncio.sleep(seconds)


async def drain(context: Context, timeout: float | None = None) -> int:
    """Stop ingesting, then wait for every event sent to reach its screen; how many never did."""
    await context.swarm.stop_ingest()
    timeout = context.args.drain if timeout is None else timeout
    deadline = time.monotonic() + timeout
    left = await context.swarm.unanswered()
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        left = await context.swarm.unanswered()
    if left:
        context.run.warnings.append(
            f"{left} events accepted never reached their screen within {timeout:.0f} s"
        )
    return left


def main_for(
    parse: Callable[[Sequence[str] | None, str], tuple[argparse.Namespace, list[slo.Check]]],
    go: Callable[[argparse.Namespace, list[slo.Check]], Coroutine[Any, Any, dict[str, Any]]],
    argv: Sequence[str] | None,
    prog: str,
) -> int:
    args, checks = parse(argv, prog)
    try:
        outcome = cast(result.Result, uvloop.run(go(args, checks)))
    except TargetError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    print(report_text.table(outcome))
    json_path, html_path = args.json, args.html
    if json_path is None and html_path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        args.out.mkdir(parents=True, exist_ok=True)
        json_path = args.out / f"{outcome['scenario']}-{stamp}.json"
        html_path = args.out / f"{outcome['scenario']}-{stamp}.html"
    if json_path is not None:
        result.write_json(outcome, json_path)
        say(f"result: {json_path}")
    if html_path is not None:
        report_html.write(outcome, html_path)
        say(f"report: {html_path}")
    lines = outcome["slo"]
    return 0 if lines is None or all(item["passed"] for item in lines) else 1
