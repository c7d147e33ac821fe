"""The kit's result format (version 1): one JSON object per run, shared by every scenario and report.

A scenario builds a :class:`Result` at the end of a run and saves it with :func:`write_json`; the reports
(the text table, the HTML page, BENCHMARKS.md) read it back with :func:`load_json`. The summary is the
same :class:`~load_tests.kit.slo.RunSummary` that ``--slo`` thresholds are checked against, so the report
and the exit code can never disagree.

``series`` holds one value per interval (usually 1 s), every list the same length as ``t_s``; a ``None``
is an interval without a measurement (e.g. no latency sample), drawn as a gap.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Final, NotRequired, TypeAlias, TypedDict, cast

from .slo import RunSummary

__all__ = [
    "KIT_VERSION",
    "Generator",
    "JsonScalar",
    "Machine",
    "Result",
    "Series",
    "Server",
    "SloLine",
    "load_json",
    "write_json",
]

KIT_VERSION: Final = 1
"""The ``kit`` key of every result written by this version of the kit."""

JsonScalar: TypeAlias = str | int | float | bool | None


class Machine(TypedDict, total=False):
    cpus: int
    python: str
    platform: str


class Generator(TypedDict, total=False):
    procs: int
    cpu_percent: float | None
    """The busiest client process, in % of one core: near 100, the load (not the server) was the limit."""
    saturated: bool


class Server(TypedDict, total=False):
    rss_mb_start: float | None
    rss_mb_peak: float | None
    rss_mb_end: float | None
    cpu_percent: float | None


class Series(TypedDict):
    t_s: list[float]
    connections: list[float | None]
    deliveries_per_s: list[float | None]
    frames_per_s: list[float | None]
    bytes_per_s: list[float | None]
    events_per_s: NotRequired[list[float | None]]
    latency_p50_ms: list[float | None]
    latency_p99_ms: list[float | None]
    latency_max_ms: list[float | None]
    errors: list[float | None]
    """Cumulative."""
    server_rss_mb: NotRequired[list[float | None]]
    generator_cpu_percent: list[float | None]


SERIES_KEYS: tuple[str, ...] = (
    "t_s",
    "connections",
    "deliveries_per_s",
    "frames_per_s",
    "bytes_per_s",
    "events_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "errors",
    "generator_cpu_percent",
)
"""Every series a run samples (``server_rss_mb`` besides, when it watches a server)."""


def empty_series(length: int = 0, **given: list[float]) -> dict[str, list[float | None]]:
    """Series for a result that samples none or few of them: ``given`` ones, the others all None."""
    series: dict[str, list[float | None]] = {key: [None] * length for key in SERIES_KEYS}
    series.update({key: list(values) for key, values in given.items()})
    return series


class SloLine(TypedDict):
    check: str
    passed: bool
    line: str
    """As printed: ``PASS  p99 < 50 ms (measured 9.8)``."""


class Result(TypedDict):
    kit: int
    scenario: str
    title: str
    command: str
    started_at: str
    duration_s: float
    options: dict[str, JsonScalar]
    machine: Machine
    summary: RunSummary
    latency_notes: dict[str, str]
    generator: Generator
    server: NotRequired[Server]
    series: Series
    extra: dict[str, object]
    slo: list[SloLine] | None
    warnings: list[str]
    notes: NotRequired[list[str]]


def _finite(value: object) -> object:
    """NaN and infinities become ``None``: JSON has no spelling for them, and a run's numbers must not be lost
    at the very end because one interval divided by zero."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_json(result: Result, path: str | Path) -> None:
    """Save ``result`` (UTF-8, indented, keys in the result's order), creating the parent directory."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(result), indent=2, ensure_ascii=False, allow_nan=False)
    target.write_text(text + "\n", encoding="utf-8")


def load_json(path: str | Path) -> Result:
    """Read a saved result; a ``ValueError`` names the file if it is not JSON or not a kit result (v1)."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not JSON ({error})") from error
    if not isinstance(data, dict) or "kit" not in data:
        raise ValueError(f"{source}: not a load kit result (no 'kit' key)")
    if data["kit"] != KIT_VERSION:
        raise ValueError(
            f"{source}: load kit result version {data['kit']!r}, this kit reads version {KIT_VERSION}"
        )
    return cast(Result, data)
