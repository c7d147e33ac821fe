"""A pipeline run as the load kit's result (`load_tests.kit.result.Result`): the same table, JSON, HTML
report and BENCHMARKS.md section as every other scenario."""

from __future__ import annotations

import os
import platform
from typing import Any, cast

from load_tests.kit import slo
from load_tests.kit.result import Result, empty_series

from .slo_summary import run_summary

_NOTES = {
    "screen": "event posted -> the delta that answers it held by its player's session",
    "ingest": "POST /metrics -> 202, at the driver",
    "queue": "XADD -> a worker fetched it",
    "worker": "fetched -> published (the delta's at_ms)",
    "fanout": "published -> the first session holds the delta",
}


def to_kit(
    result: dict[str, Any], command: str, options: dict[str, Any], started_at: str, checks: list[slo.Check]
) -> Result:
    summary = run_summary(result)
    throughput = result["mode"] == "throughput"
    timeline = result.get("series") or {"t_s": [], "events_per_s": []}
    length = len(timeline["t_s"])
    series = empty_series(length, t_s=timeline["t_s"], events_per_s=timeline["events_per_s"])
    cpu = result["cpu_percent"]
    procs = int(cpu.get("client_procs", 0))
    outcomes = slo.evaluate(checks, summary) if checks else None
    if throughput:
        title = (
            f"Scoring pipeline, throughput: {result['scored_events_per_s']:,.0f} events/s scored by "
            f"{result['workers']} worker (concurrency {result['concurrency']})"
        )
        duration = result["window_seconds"]
    else:
        title = (
            f"Scoring pipeline, latency: {result['rate']:,.0f} events/s posted to "
            f"{result['sessions_connected']:,} connected sessions"
        )
        duration = result["duration"]
    extra = {
        key: value
        for key, value in result.items()
        if key not in ("series", "cpu_percent", "warnings", "event_to_screen", "breakdown")
        and not isinstance(value, dict | list)
    }
    extra.update({f"cpu_{name}_percent": share for name, share in cpu.items() if name != "client_procs"})
    document: dict[str, Any] = {
        "kit": 1,
        "scenario": "pipeline",
        "title": title,
        "command": command,
        "started_at": started_at,
        "duration_s": duration,
        "options": options,
        "machine": {
            "cpus": os.cpu_count() or 1,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "summary": {"default_latency": "screen", **summary} if not throughput else summary,
        "latency_notes": {} if throughput else dict(_NOTES),
        "generator": {
            "procs": procs,
            "cpu_percent": round(cpu.get("clients", 0.0) / max(1, procs), 1)
            if procs
            else cpu.get("driver", 0.0),
            "saturated": any("load generator" in warning for warning in result["warnings"]),
        },
        "series": series,
        "extra": extra,
        "slo": (
            [{"check": o.check.text, "passed": o.passed, "line": o.describe()} for o in outcomes]
            if outcomes is not None
            else None
        ),
        "warnings": list(result["warnings"]),
    }
    if "server" in cpu:
        document["server"] = {"cpu_percent": cpu["server"]}
    return cast(Result, document)
