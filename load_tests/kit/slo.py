"""k6-style thresholds (``--slo 'p99<50ms,errors=0'``) checked against a load run's summary.

Pure and typed: no I/O. The CLI parses the option with :func:`parse`, runs, builds the run's summary,
calls :func:`evaluate`, prints each :meth:`Outcome.describe` and exits non-zero unless
:func:`all_passed`.

Grammar
-------
A comma-separated list of checks, whitespace allowed around every token::

    CHECK  := METRIC OP VALUE[UNIT]
    OP     := < | <= | > | >= | = | ==
    VALUE  := 12 | 12.5 | .5           (non-negative decimal)

Metrics:

* latency statistics ``p50``, ``p90``, ``p99``, ``p99.9``, ``max``, ``mean``: of the summary's default
  histogram (its ``default_latency``), or of a named one when qualified: ``connect:p99<200ms``,
  ``screen:p99<50ms``. They need a unit, ``us``, ``ms`` or ``s``; the value is held in milliseconds.
* counters ``errors`` (protocol errors + failed connections, summed by whoever builds the summary),
  ``missed`` (missed deltas), ``duplicated``, and ``closed:CODE`` (closes with that close code, e.g.
  ``closed:4008=0``). No unit. ``closed`` is therefore not usable as a histogram name.
* rates ``deliveries_per_s``, ``frames_per_s``, ``events_per_s`` (scored), ``connections`` (connected at
  peak). No unit.

A malformed option raises :class:`SloError` (a ``ValueError``) naming the offending check.

Summary shape
-------------
Plain dicts, JSON-ready (see :class:`RunSummary`; the key names are the ``*_KEY`` constants)::

    {
        "default_latency": "screen",
        "latency": {
            "screen": {"count": 1000, "p50_ms": 1.2, "p90_ms": 3.4, "p99_ms": 9.8, "p99_9_ms": 14.0,
                       "max_ms": 20.1, "mean_ms": 1.9},
            "connect": {...},
        },
        "counters": {"errors": 0, "missed": 0, "duplicated": 0, "closed": {"4008": 2}},
        "rates": {"deliveries_per_s": 125000.0, "frames_per_s": 4000.0, "connections": 10000},
    }

A check whose measurement is absent (no such histogram, an empty histogram -- ``count`` 0 --, a missing
or ``None`` statistic, counter or rate) is *not measured* and fails. A close code absent from a present
``closed`` mapping counts as zero closes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal, TypedDict

__all__ = [
    "CLOSED_KEY",
    "COUNTERS",
    "COUNTERS_KEY",
    "COUNT_KEY",
    "DEFAULT_LATENCY_KEY",
    "LATENCY_KEY",
    "LATENCY_STATS",
    "LATENCY_UNITS_TO_MS",
    "RATES",
    "RATES_KEY",
    "Check",
    "CounterSummary",
    "LatencySummary",
    "Metric",
    "MetricKind",
    "Op",
    "Outcome",
    "RateSummary",
    "RunSummary",
    "SloError",
    "all_passed",
    "evaluate",
    "parse",
    "parse_check",
]

# ------------------------------------------------------------------------------------ the summary's shape

DEFAULT_LATENCY_KEY: Final = "default_latency"
LATENCY_KEY: Final = "latency"
COUNTERS_KEY: Final = "counters"
RATES_KEY: Final = "rates"
COUNT_KEY: Final = "count"
CLOSED_KEY: Final = "closed"
"""Under ``counters``: close code (as a string, JSON keys being strings) -> number of closes."""

LATENCY_STATS: Final[Mapping[str, str]] = {
    "p50": "p50_ms",
    "p90": "p90_ms",
    "p99": "p99_ms",
    "p99.9": "p99_9_ms",
    "max": "max_ms",
    "mean": "mean_ms",
}
"""Latency statistic as written in a threshold -> its key in a histogram's summary (milliseconds)."""

COUNTERS: Final = ("errors", "missed", "duplicated")
"""Counters under ``counters`` (besides ``closed``)."""

RATES: Final = ("deliveries_per_s", "frames_per_s", "events_per_s", "connections")
"""Rates under ``rates`` (``events_per_s``: events scored; ``connections``: connected at peak)."""

LATENCY_UNITS_TO_MS: Final[Mapping[str, Decimal]] = {
    "us": Decimal("0.001"),
    "ms": Decimal(1),
    "s": Decimal(1000),
}


class LatencySummary(TypedDict, total=False):
    count: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p99_9_ms: float | None
    max_ms: float | None
    mean_ms: float | None


class CounterSummary(TypedDict, total=False):
    errors: int
    missed: int
    duplicated: int
    closed: dict[str, int]


class RateSummary(TypedDict, total=False):
    deliveries_per_s: float
    frames_per_s: float
    events_per_s: float
    connections: int


class RunSummary(TypedDict, total=False):
    default_latency: str
    latency: dict[str, LatencySummary]
    counters: CounterSummary
    rates: RateSummary


# ------------------------------------------------------------------------------------------- checks

MetricKind = Literal["latency", "counter", "closed", "rate"]
Op = Literal["<", "<=", ">", ">=", "="]

_OPS: Final[Mapping[str, Op]] = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "=", "==": "="}
_KNOWN: Final = (
    ", ".join(LATENCY_STATS)
    + " (of the default histogram, or NAME:p99 for a named one), "
    + ", ".join(COUNTERS)
    + ", closed:CODE, "
    + ", ".join(RATES)
)
_EXAMPLE: Final = "expected METRIC OP VALUE, e.g. p99<50ms"
_CHECK_RE: Final = re.compile(
    r"""
    \s*
    (?: (?P<qualifier>[A-Za-z_][\w-]*) \s* : \s* )?
    (?P<name>\w[\w.]*)
    \s* (?P<op><=|>=|==|<|>|=) \s*
    (?P<value>\d+(?:\.\d*)?|\.\d+)
    \s* (?P<unit>[^\W\d_]+)?
    \s*
    """,
    re.VERBOSE,
)


class SloError(ValueError):
    """A malformed ``--slo`` option; the message names the offending check."""


@dataclass(frozen=True, slots=True)
class Metric:
    kind: MetricKind
    name: str
    """The latency statistic (``p99``), counter (``errors``), close code (``4008``) or rate."""
    histogram: str | None = None
    """Latency only: the histogram's name; ``None`` for the summary's ``default_latency``."""

    def label(self, default_histogram: str | None = None) -> str:
        """``screen p99``, ``errors``, ``closed:4008``, ``frames_per_s``."""
        if self.kind == "latency":
            histogram = self.histogram if self.histogram is not None else default_histogram
            return self.name if histogram is None else f"{histogram} {self.name}"
        if self.kind == "closed":
            return f"{CLOSED_KEY}:{self.name}"
        return self.name


@dataclass(frozen=True, slots=True)
class Check:
    text: str
    """The check as written (stripped)."""
    metric: Metric
    op: Op
    value: float
    """The threshold; in milliseconds for a latency."""

    def passes(self, measured: float) -> bool:
        if self.op == "<":
            return measured < self.value
        if self.op == "<=":
            return measured <= self.value
        if self.op == ">":
            return measured > self.value
        if self.op == ">=":
            return measured >= self.value
        return measured == self.value


def parse_check(text: str) -> Check:
    """One check, ``METRIC OP VALUE[UNIT]``."""
    stripped = text.strip()
    if not stripped:
        raise SloError(f"empty threshold: {_EXAMPLE}")
    match = _CHECK_RE.fullmatch(text)
    if match is None:
        raise SloError(f"bad threshold {stripped!r}: {_EXAMPLE}")
    metric = _metric(match["qualifier"], match["name"], stripped)
    unit = match["unit"]
    try:
        number = Decimal(match["value"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise SloError(f"bad threshold {stripped!r}: {_EXAMPLE}") from None
    if metric.kind == "latency":
        if unit is None:
            raise SloError(f"bad threshold {stripped!r}: give a unit: ms (or us, s), e.g. p99<50ms")
        scale = LATENCY_UNITS_TO_MS.get(unit)
        if scale is None:
            raise SloError(f"bad threshold {stripped!r}: unknown unit {unit!r}; use us, ms or s")
        number *= scale
    elif unit is not None:
        what = "a rate" if metric.kind == "rate" else "a count"
        raise SloError(f"bad threshold {stripped!r}: {metric.label()} is {what} and takes no unit ({unit!r})")
    return Check(text=stripped, metric=metric, op=_OPS[match["op"]], value=float(number))


def parse(spec: str) -> list[Check]:
    """A comma-separated list of checks (an ``--slo`` option's value), in order."""
    parts = spec.split(",")
    if not spec.strip():
        raise SloError(f"no thresholds given: {_EXAMPLE}")
    checks = []
    for part in parts:
        if not part.strip():
            raise SloError(f"empty threshold in {spec.strip()!r} (a stray comma?): {_EXAMPLE}")
        checks.append(parse_check(part))
    return checks


def _metric(qualifier: str | None, name: str, text: str) -> Metric:
    if qualifier == CLOSED_KEY:
        if not name.isdigit():
            raise SloError(f"bad threshold {text!r}: a close code is a number, e.g. closed:4008=0")
        return Metric("closed", str(int(name)))
    if qualifier is not None:
        if name not in LATENCY_STATS:
            raise SloError(
                f"unknown latency statistic {name!r} in {text!r}: use {', '.join(LATENCY_STATS)} "
                f"after a histogram name, e.g. {qualifier}:p99<50ms"
            )
        return Metric("latency", name, histogram=qualifier)
    if name in LATENCY_STATS:
        return Metric("latency", name)
    if name in COUNTERS:
        return Metric("counter", name)
    if name in RATES:
        return Metric("rate", name)
    if name == CLOSED_KEY:
        raise SloError(f"bad threshold {text!r}: closed needs a close code, e.g. closed:4008=0")
    raise SloError(f"unknown metric {name!r} in {text!r}; known metrics: {_KNOWN}")


# ---------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Outcome:
    check: Check
    subject: str
    """What was measured, the default histogram resolved: ``screen p99``, ``errors``, ``closed:4008``."""
    measured: float | None
    """``None``: not measured (the check then fails; ``note`` says why)."""
    passed: bool
    note: str | None = None

    @property
    def text(self) -> str:
        return self.check.text

    def describe(self) -> str:
        """``PASS  screen p99 < 50 ms (measured 12.3 ms)``, ``FAIL  errors = 0 (measured 3)``."""
        unit = " ms" if self.check.metric.kind == "latency" else ""
        verdict = "PASS" if self.passed else "FAIL"
        head = f"{verdict}  {self.subject} {self.check.op} {_num(self.check.value)}{unit}"
        if self.measured is None:
            return f"{head} (not measured: {self.note})" if self.note else f"{head} (not measured)"
        return f"{head} (measured {_num(self.measured)}{unit})"


def evaluate(checks: Iterable[Check], summary: Mapping[str, object]) -> list[Outcome]:
    """Each check against the run's summary (shaped as :class:`RunSummary`), in order."""
    default = summary.get(DEFAULT_LATENCY_KEY)
    default_histogram = default if isinstance(default, str) else None
    outcomes = []
    for check in checks:
        measured, note = _measure(check.metric, summary, default_histogram)
        outcomes.append(
            Outcome(
                check=check,
                subject=check.metric.label(default_histogram),
                measured=measured,
                passed=measured is not None and check.passes(measured),
                note=note,
            )
        )
    return outcomes


def all_passed(outcomes: Iterable[Outcome]) -> bool:
    return all(outcome.passed for outcome in outcomes)


def _measure(
    metric: Metric, summary: Mapping[str, object], default_histogram: str | None
) -> tuple[float | None, str | None]:
    """The measurement, or ``None`` and why not."""
    if metric.kind == "latency":
        name = metric.histogram if metric.histogram is not None else default_histogram
        if name is None:
            return None, f"the summary names no {DEFAULT_LATENCY_KEY} histogram"
        histogram = _section(_section(summary, LATENCY_KEY), name)
        if histogram is None:
            return None, f"no {name!r} histogram in the summary"
        if _number(histogram.get(COUNT_KEY)) == 0:
            return None, f"the {name!r} histogram is empty"
        return _field(histogram, LATENCY_STATS[metric.name], f"no {metric.name} in the {name!r} histogram")
    if metric.kind == "closed":
        closed = _section(_section(summary, COUNTERS_KEY), CLOSED_KEY)
        if closed is None:
            return None, f"no {COUNTERS_KEY}.{CLOSED_KEY} in the summary"
        if metric.name not in closed:
            return 0.0, None
        return _field(closed, metric.name, f"no count for close code {metric.name}")
    key = COUNTERS_KEY if metric.kind == "counter" else RATES_KEY
    return _field(_section(summary, key), metric.name, f"no {key}.{metric.name} in the summary")


def _section(mapping: Mapping[str, object] | None, key: str) -> Mapping[str, object] | None:
    if mapping is None:
        return None
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else None


def _field(mapping: Mapping[str, object] | None, key: str, why: str) -> tuple[float | None, str | None]:
    value = None if mapping is None else _number(mapping.get(key))
    return (value, None) if value is not None else (None, why)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _num(value: float) -> str:
    """12.3, 50, 0.0425, 125000: no exponent, no trailing zeros, three decimals at most above 1."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value):
        return str(int(value))
    if abs(value) >= 1:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"
