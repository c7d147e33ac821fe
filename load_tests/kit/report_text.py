"""The table printed at the end of every run (like k6's end summary), and the rows the other reports share.

The row builders (:func:`latency_rows`, :func:`counter_pairs`, ...) are used by the HTML page and by
BENCHMARKS.md too, so that the three reports always show the same numbers, formatted the same way.
Every value may be missing or ``None`` in a result (a run without latency samples, a scenario that does
not count frames): it reads ``n/a``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final

from .result import Result
from .slo import LatencySummary

__all__ = [
    "LATENCY_COLUMNS",
    "NA",
    "counter_pairs",
    "fmt_machine",
    "fmt_ms",
    "fmt_num",
    "fmt_value",
    "generator_pairs",
    "latency_rows",
    "rate_pairs",
    "server_pairs",
    "slo_lines",
    "table",
]

NA: Final = "n/a"

LATENCY_COLUMNS: Final = ("count", "p50", "p90", "p99", "p99.9", "max")
"""The columns of a latency row after its name; every statistic in milliseconds."""

_LATENCY_KEYS: Final = ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms")

_RATES: Final = (
    ("deliveries_per_s", "deliveries/s"),
    ("frames_per_s", "frames/s"),
    ("events_per_s", "events/s"),
    ("connections", "connections (peak)"),
)


def _number(value: object) -> float | None:
    # bool is an int; a flag is not a measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def fmt_ms(value: object) -> str:
    """A latency in milliseconds, two decimals (sub-millisecond latencies are the interesting ones)."""
    number = _number(value)
    return NA if number is None else f"{number:,.2f}"


def fmt_num(value: object) -> str:
    """A count or a rate: integers as such, floats with one decimal, thousands separated."""
    number = _number(value)
    if number is None:
        return NA
    if isinstance(value, int):
        return f"{value:,}"
    return f"{number:,.1f}"


def fmt_machine(result: Result) -> str:
    """``2 CPUs, Python 3.11.2, Linux-...``: where a run was measured."""
    machine: Mapping[str, object] = result.get("machine") or {}
    if not machine:
        return "unknown"
    parts = []
    if "cpus" in machine:
        parts.append(f"{machine['cpus']} CPUs")
    if "python" in machine:
        parts.append(f"Python {machine['python']}")
    if "platform" in machine:
        parts.append(str(machine["platform"]))
    parts += [f"{key} {value}" for key, value in machine.items() if key not in ("cpus", "python", "platform")]
    return ", ".join(parts)


def fmt_value(value: object) -> str:
    """An option or a scenario figure, unrounded (a ratio of 0.25 is not 0.2); lists and objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def latency_rows(result: Result) -> list[tuple[str, list[str], str]]:
    """``(name, [count, p50, p90, p99, p99.9, max], note)`` per histogram.

    A ``*`` marks the default histogram of ``--slo`` latency thresholds (when there is more than one).
    """
    summary = result.get("summary") or {}
    histograms: Mapping[str, LatencySummary] = summary.get("latency") or {}
    default = summary.get("default_latency")
    notes = result.get("latency_notes") or {}
    rows = []
    for name, histogram in histograms.items():
        stats: Mapping[str, object] = histogram or {}
        cells = [fmt_num(stats.get("count"))] + [fmt_ms(stats.get(key)) for key in _LATENCY_KEYS]
        label = f"{name}*" if name == default and len(histograms) > 1 else name
        rows.append((label, cells, str(notes.get(name, ""))))
    return rows


def _closed(closed: object) -> str:
    if not isinstance(closed, Mapping):
        return NA
    if not closed:
        return "none"
    codes = sorted(
        closed, key=lambda code: (not str(code).isdigit(), int(code) if str(code).isdigit() else 0, code)
    )
    return ", ".join(f"{code}: {fmt_num(closed[code])}" for code in codes)


def counter_pairs(result: Result) -> list[tuple[str, str]]:
    counters: Mapping[str, object] = (result.get("summary") or {}).get("counters") or {}
    pairs = [(name, fmt_num(counters.get(name))) for name in ("errors", "missed", "duplicated")]
    pairs.append(("closed by code", _closed(counters.get("closed"))))
    return pairs


def rate_pairs(result: Result) -> list[tuple[str, str]]:
    """The rates the run measured (a scenario that does not score events has no ``events/s`` line)."""
    rates: Mapping[str, object] = (result.get("summary") or {}).get("rates") or {}
    return [
        (label, fmt_num(rates.get(key))) for key, label in _RATES if key in rates or key != "events_per_s"
    ]


def generator_pairs(result: Result) -> list[tuple[str, str]]:
    generator: Mapping[str, object] = result.get("generator") or {}
    cpu = _number(generator.get("cpu_percent"))
    load = NA if cpu is None else f"{cpu:.1f}% of one core (busiest process)"
    if generator.get("saturated"):
        load += ", SATURATED: the load generator, not the server, was the limit"
    return [("generator procs", fmt_num(generator.get("procs"))), ("generator CPU", load)]


def server_pairs(result: Result) -> list[tuple[str, str]]:
    """Server memory and CPU, or nothing when the run did not watch the server's process."""
    server: Mapping[str, object] | None = result.get("server")
    if server is None:
        return []

    def mb(key: str) -> str:
        number = _number(server.get(key))
        return NA if number is None else f"{number:,.1f} MB"

    pairs = [("server RSS", f"start {mb('rss_mb_start')}, peak {mb('rss_mb_peak')}, end {mb('rss_mb_end')}")]
    cpu = _number(server.get("cpu_percent"))
    if cpu is not None:
        pairs.append(("server CPU", f"{cpu:.1f}% of one core"))
    return pairs


def slo_lines(result: Result) -> list[str]:
    return [str(outcome.get("line", "")) for outcome in result.get("slo") or []]


def _align(rows: Sequence[Sequence[str]], right: Sequence[bool], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(right))]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(row, widths, right, strict=True)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _dotted(pairs: Sequence[tuple[str, str]], width: int) -> list[str]:
    return [f"  {label} {'.' * (width - len(label) + 2)} {value}" for label, value in pairs]


def table(result: Result) -> str:
    """The end-of-run summary: latencies (ms), counters, rates, generator, server, warnings, thresholds."""
    duration = _number(result.get("duration_s"))
    lines = [
        str(result.get("title") or result.get("scenario") or "load run"),
        f"  scenario {result.get('scenario', NA)}, started {result.get('started_at', NA)}, "
        + f"duration {NA if duration is None else f'{duration:.1f} s'}",
        "",
    ]
    rows = latency_rows(result)
    if rows:
        header = ["latency (ms)", *LATENCY_COLUMNS, ""]
        body = [[name, *cells, note] for name, cells, note in rows]
        lines += _align([header, *body], [False, *([True] * len(LATENCY_COLUMNS)), False])
        if any(name.endswith("*") for name, _, _ in rows):
            lines.append("  * the histogram --slo latency thresholds apply to by default")
    else:
        lines.append("  latency: no histograms")
    lines.append("")
    pairs = counter_pairs(result) + rate_pairs(result) + generator_pairs(result) + server_pairs(result)
    lines += _dotted(pairs, max(len(label) for label, _ in pairs))
    warnings = result.get("warnings") or []
    if warnings:
        lines += ["", *(f"WARN  {warning}" for warning in warnings)]
    slo = slo_lines(result)
    if slo:
        lines += ["", *slo]
    return "\n".join(lines)
