"""A pipeline run's results as the load kit's run summary (`load_tests.kit.slo.RunSummary`), so that
``--slo`` thresholds apply to it: the latency run's event->screen histogram (``screen``, the default)
and its segments, its lost and extra deltas, its failed requests; either run's scored events/s
(``events_per_s``)."""

from __future__ import annotations

from typing import Any

from load_tests.kit.slo import LatencySummary, RunSummary

# The latency run's breakdown, by the histogram names thresholds use (``ingest:p99<100ms``).
_SEGMENTS = {
    "ingest": "ingest: POST -> 202 (driver)",
    "queue": "queue wait: XADD -> worker fetch, per request",
    "worker": "worker: fetch -> publish (delta at_ms)",
    "fanout": "fan-out: publish -> first session holds the delta",
}


def run_summary(result: dict[str, Any]) -> RunSummary:
    if result["mode"] == "throughput":
        return {"rates": {"events_per_s": result["scored_events_per_s"]}}
    latency: dict[str, LatencySummary] = {"screen": result["event_to_screen"]}
    latency.update({name: result["breakdown"][key] for name, key in _SEGMENTS.items()})
    return {
        "default_latency": "screen",
        "latency": latency,
        "counters": {
            "errors": result["failed_requests"]
            + (result["sessions_connected"] - result["sessions_complete"]),
            "missed": max(0, result["deltas_expected"] - result["deltas_delivered"]),
            "duplicated": result["deltas_unexpected"],
        },
        "rates": {"connections": result["sessions_connected"], "events_per_s": result["scored_events_per_s"]},
    }
