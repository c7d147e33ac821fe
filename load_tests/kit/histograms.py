"""The kit's latency histograms: HDR histograms in microseconds (exact to three significant digits, up to
ten minutes), and their summary in milliseconds as results and thresholds read it."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from .slo import LatencySummary


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, 600_000_000, 3)


def summary(histogram: HdrHistogram) -> LatencySummary:
    if histogram.get_total_count() == 0:
        return {"count": 0}
    return {
        "count": histogram.get_total_count(),
        "p50_ms": histogram.get_value_at_percentile(50) / 1000,
        "p90_ms": histogram.get_value_at_percentile(90) / 1000,
        "p99_ms": histogram.get_value_at_percentile(99) / 1000,
        "p99_9_ms": histogram.get_value_at_percentile(99.9) / 1000,
        "max_ms": histogram.get_max_value() / 1000,
        "mean_ms": round(histogram.get_mean_value() / 1000, 3),
    }
