"""``python -m load_tests.pipeline``: the scoring pipeline end to end (POST /metrics -> Redis stream ->
``gamif worker`` -> PostgreSQL -> hub -> WebSocket clients), on a PostgreSQL database and a Redis key
prefix of its own, both removed afterwards.

    python -m load_tests.pipeline                        # both runs: throughput, then latency
    python -m load_tests.pipeline --mode latency --rate 1000 --subscribers 2000 --duration 60
    python -m load_tests.pipeline --mode throughput --duration 60 --json result.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from load_tests.kit import report_html, slo
from load_tests.kit.options import add_store_options, command_line, public_options, slo_checks
from load_tests.kit.result import write_json

from .kit_result import to_kit
from .lock_watch import LockWatch
from .run import Options, latency, throughput
from .slo_summary import run_summary


def parse(
    argv: Sequence[str] | None, prog: str = "python -m load_tests.pipeline"
) -> tuple[Options, Path | None, list[slo.Check]]:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("both", "throughput", "latency"), default="both")
    parser.add_argument("--rate", type=float, default=1_000.0, help="latency run: events/s posted (1000)")
    parser.add_argument(
        "--throughput-rate",
        type=float,
        default=5_000.0,
        help="throughput run: the target events/s; rate x duration x 1.2 events are queued (5000)",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured, per run (60)")
    parser.add_argument("--subscribers", type=int, default=2_000, help="latency run: hub sessions (2000)")
    parser.add_argument(
        "--throughput-subscribers", type=int, default=0, help="throughput run: hub sessions (0)"
    )
    parser.add_argument("--players", type=int, default=250, help="registered players; sessions share them")
    parser.add_argument("--workers", type=int, default=1, help="gamif worker --workers (1)")
    parser.add_argument("--concurrency", type=int, default=200, help="gamif worker --concurrency (200)")
    parser.add_argument(
        "--lanes",
        type=int,
        default=0,
        help="throughput run: disjoint player lanes, one per block of 100 queued batches (a worker's read), "
        "so that workers score disjoint players; 1: every batch spans all players; 0: twice --workers (auto)",
    )
    parser.add_argument("--tick-ms", type=float, default=20.0, help="latency run: one POST every tick (20)")
    parser.add_argument("--client-procs", type=int, default=2, help="subscriber processes (2)")
    add_store_options(parser)
    parser.add_argument("--json", type=Path, default=None, help="write both runs' raw results here")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("load-results"),
        help="each run's kit result (JSON) and HTML report go here, named after the run (load-results)",
    )
    parser.add_argument(
        "--slo",
        default=None,
        help="thresholds checked against each run, e.g. 'p99<50ms,missed=0,errors=0' (latency: screen, "
        "ingest, queue, worker, fanout histograms; throughput: events_per_s>=5000); exit 1 if one is missed",
    )
    args = parser.parse_args(argv)
    checks = slo_checks(parser, args)
    options = Options(
        mode=args.mode,
        rate=args.rate,
        throughput_rate=args.throughput_rate,
        duration=args.duration,
        subscribers=args.subscribers,
        players=args.players,
        workers=args.workers,
        concurrency=args.concurrency,
        tick=args.tick_ms / 1000,
        client_procs=max(1, args.client_procs),
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        throughput_subscribers=args.throughput_subscribers,
        lanes=max(0, args.lanes),
    )
    kit.update(
        out=args.out,
        checks=checks,
        options={k: v for k, v in vars(args).items() if k not in ("json", "out", "slo")},
    )
    kit["options"] = public_options(kit["options"])
    return options, args.json, checks


kit: dict[str, Any] = {}
"""What the kit results need besides the run (set by `parse`)."""


def say(line: str) -> None:
    print(line, flush=True)


def _ms(summary: dict[str, Any]) -> str:
    if not summary.get("count"):
        return "n/a"
    return "  ".join(f"{summary[key]:>8.1f}" for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))


def table(results: list[dict[str, Any]]) -> str:
    lines = [""]
    for result in results:
        cpu = "  ".join(
            f"{name} {share:.0f}%"
            for name, share in result["cpu_percent"].items()
            if name not in ("client_procs", "background_before_run")
        )
        if result["mode"] == "throughput":
            lines += [
                f"THROUGHPUT  ({result['workers']} worker process, concurrency {result['concurrency']}, "
                f"{result['players']} players, {result['subscribers']} sessions)",
                f"  accepted (queueing)  {result['accepted_events_per_s']:>10,.0f} events/s"
                f"  ({result['queued_events']:,} in {result['queue_seconds']:.1f} s)",
                f"  scored               {result['scored_events_per_s']:>10,.0f} events/s"
                f"  ({result['scored_in_window']:,} in {result['window_seconds']:.1f} s; per second "
                f"{result['scored_per_s_min']}..{result['scored_per_s_max']})"
                + ("  [queue drained early]" if result["drained"] else ""),
                f"  cpu (% of a core)    {cpu}",
                f"  lock waits           {LockWatch.describe(result['lock_waits'])}"
                f"  ({result['lanes']} player lane(s))",
            ]
        else:
            lines += [
                f"LATENCY  ({result['rate']:.0f} events/s for {result['duration']:.0f} s, "
                f"{result['sessions_connected']} sessions on {result['players']} players)",
                f"  accepted             {result['accepted_events_per_s']:>10,.0f} events/s"
                f"  ({result['accepted_events']:,} of {result['posted_events']:,} posted, "
                f"{result['failed_requests']} requests failed)",
                f"  scored               {result['scored_events_per_s']:>10,.0f} events/s"
                f"  ({result['scored_events']:,} of {result['accepted_events']:,})",
                f"  deltas               {result['deltas_delivered']:,} of {result['deltas_expected']:,}"
                f" delivered, {result['sessions_complete']} sessions complete",
                f"  {'':<52}{'p50':>8}  {'p90':>8}  {'p99':>8}  {'max':>8}  (ms)",
                f"  {'event -> screen':<52}{_ms(result['event_to_screen'])}",
            ]
            lines += [f"  {name:<52}{_ms(summary)}" for name, summary in result["breakdown"].items()]
            lines.append(f"  cpu (% of a core)    {cpu}")
            lines.append(f"  lock waits           {LockWatch.describe(result['lock_waits'])}")
        lines += [f"  WARNING: {warning}" for warning in result["warnings"]]
        lines.append("")
    return "\n".join(lines)


async def _main(options: Options, json_path: Path | None) -> list[dict[str, Any]]:
    """Each run's table and JSON are written as soon as it ends: a failing run keeps the others'."""
    started = time.time()
    results: list[dict[str, Any]] = []
    runs = [("throughput", throughput), ("latency", latency)]
    for name, run in runs:
        if options.mode not in ("both", name):
            continue
        stamp = datetime.now(UTC)
        results.append(await run(options, say))
        say(table(results[-1:]))
        if kit:
            kit_result = to_kit(
                results[-1],
                command_line("pipeline"),
                kit["options"],
                stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                kit["checks"],
            )
            base = kit["out"] / f"pipeline-{name}-{stamp:%Y%m%d-%H%M%S}"
            write_json(kit_result, base.with_suffix(".json"))
            report_html.write(kit_result, base.with_suffix(".html"))
            say(f"result: {base}.json, report: {base}.html")
        if json_path is not None:
            document = {
                "started_at": started,
                "command": " ".join(["python -m load_tests.pipeline", *sys.argv[1:]]),
                "results": results,
            }
            json_path.write_text(json.dumps(document, indent=2) + "\n")
            say(f"results written to {json_path}")
    return results


def check(results: list[dict[str, Any]], checks: list[slo.Check]) -> bool:
    """Print each run's threshold outcomes; whether every one passed."""
    passed = True
    for result in results:
        outcomes = slo.evaluate(checks, run_summary(result))
        say(f"SLO ({result['mode']} run)")
        for outcome in outcomes:
            say(f"  {outcome.describe()}")
        passed = passed and slo.all_passed(outcomes)
    return passed


def main(argv: Sequence[str] | None = None, prog: str = "python -m load_tests.pipeline") -> int:
    options, json_path, checks = parse(argv, prog)
    results = uvloop.run(_main(options, json_path))
    return 0 if not checks or check(results, checks) else 1
