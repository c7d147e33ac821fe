"""A hub-vs-baselines run as the load kit's result (`load_tests.kit.result.Result`): its figures per
target and subscriber count, and the comparisons, for the table, the HTML report and BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
from typing import Any, cast

from load_tests.kit.result import Result, empty_series

from .results import TargetResult, comparison_line


def to_kit(
    document: dict[str, Any],
    results: dict[str, TargetResult],
    command: str,
    *,
    scenario: str = "hub-vs-baselines",
    title: str | None = None,
    main: str = "hub",
) -> Result:
    """`main`: the target whose largest round gives the summary's rates."""
    extra: dict[str, Any] = {}
    missed = errors = 0
    for name, result in results.items():
        if result.status != "ok":
            extra[f"{name}: status"] = f"{result.status}: {result.reason}"
            errors += result.status == "error"
            continue
        for run in result.fanout:
            key = f"{name} at {run.subscribers:,}"
            extra[f"{key}: frames/s"] = round(run.frames_per_s)
            extra[f"{key}: deliveries/s"] = round(run.deliveries_per_s)
            extra[f"{key}: server CPU %"] = run.server_cpu_percent
            if run.balancer_cpu_percent is not None:
                extra[f"{key}: HAProxy CPU %"] = run.balancer_cpu_percent
            missed += run.expected_deliveries - run.deliveries
            errors += run.subscribers - run.complete_connections
        if result.memory is not None:
            extra[f"{name}: KiB per idle connection"] = round(result.memory.kib_per_connection, 1)
    hub = results.get(main)
    largest = max(hub.fanout, key=lambda run: run.subscribers) if hub is not None and hub.fanout else None
    notes = [
        comparison_line(name, comparison)
        for name, comparison in document["comparisons"].items()
        if comparison is not None
    ]
    options = document["options"]
    metrics_cost_run = set(results) == {"hub", "hub-metrics-off"}  # `--targets hub,hub-metrics-off`
    kit: dict[str, Any] = {
        "kit": 1,
        "scenario": "metrics-cost" if metrics_cost_run else scenario,
        "title": title
        or (
            (
                "The cost of metrics: the hub with Prometheus metrics on (scraped) and off, "
                if metrics_cost_run
                else "Raw fan-out: the hub against bare Starlette and websockets, "
            )
            + " and ".join(f"{n:,}" for n in options["subscribers"])
            + " subscribers"
        ),
        "command": command,
        "started_at": document["started_at"].replace("+00:00", "Z"),
        "duration_s": round(document["seconds"], 1),
        "options": {key: str(value) for key, value in options.items() if not key.endswith("_url")},
        "machine": {
            "cpus": os.cpu_count() or 1,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "summary": {
            "latency": {},
            "counters": {"errors": errors, "missed": missed},
            "rates": (
                {
                    "deliveries_per_s": round(largest.deliveries_per_s, 1),
                    "frames_per_s": round(largest.frames_per_s, 1),
                    "connections": largest.subscribers,
                }
                if largest is not None
                else {}
            ),
        },
        "latency_notes": {},
        "generator": {"procs": int(options["procs"]), "cpu_percent": None, "saturated": False},
        "series": empty_series(),
        "extra": extra,
        "slo": None,
        "warnings": list(document["warnings"]),
        "notes": notes,
    }
    return cast(Result, kit)
