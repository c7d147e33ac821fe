"""The driver side of a run: every interval it gathers the client processes' ticks, merges their
histograms, samples the server's memory and CPU, prints the live progress line, and keeps the time
series; at the end it builds the kit's result (`load_tests.kit.result`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from load_tests.fanout import procfs

from . import slo
from .histograms import new_histogram, summary
from .result import SERIES_KEYS
from .swarm import COUNTERS, Swarm, Tick

GENERATOR_SATURATED = 85.0
"""% of one core above which a client process is the bottleneck, not the hub."""


@dataclass(slots=True)
class Totals:
    """Everything counted since the run started."""

    opened: int = 0
    failed: int = 0
    open_now: int = 0
    peak_open: int = 0
    resumed: int = 0
    resume_failed: int = 0
    frames: int = 0
    payload_bytes: int = 0
    deliveries: int = 0
    events_answered: int = 0
    ingested: int = 0
    errors: int = 0
    missed: int = 0
    duplicated: int = 0
    resets: int = 0
    recovered: int = 0
    resnapshotted: int = 0
    in_flight_at_drop: int = 0
    closed: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


class Run:
    """One scenario run's measurements. Use `monitor` around the load."""

    def __init__(
        self,
        scenario: str,
        title: str,
        command: str,
        options: dict[str, Any],
        *,
        default_latency: str,
        latency_notes: dict[str, str],
        interval: float = 1.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.scenario, self.title, self.command, self.options = scenario, title, command, options
        self.default_latency = default_latency
        self.latency_notes = latency_notes
        self.interval = interval
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self.totals = Totals()
        self.histograms: dict[str, HdrHistogram] = {}
        self.series: dict[str, list[Any]] = {key: [] for key in SERIES_KEYS}
        self.server_pids: list[int] = []
        self.rss_mb: list[float] = []
        self.started_at = datetime.now(UTC)
        self.started = time.monotonic()
        self.warnings: list[str] = []
        self.background: float | None = None
        """The machine's load before the run (% of one core); measured at `monitor` when not set."""
        self.status: Callable[[], str] = lambda: ""
        """Extra text for the progress line (a scenario's phase)."""
        self._procs = 1
        self._saturated_ticks = 0
        self._cpu_peak = 0.0
        self._server_cpu_start: dict[int, float] = {}
        self._machine_start = 0.0
        self._tty = sys.stderr.isatty()
        self._ended = 0.0
        self._changed = asyncio.Event()
        self._swarm: Swarm | None = None

    # ------------------------------------------------------------------ sampling

    @contextlib.asynccontextmanager
    async def monitor(self, swarm: Swarm, server_pids: list[int] | None = None) -> AsyncIterator[Run]:
        self.server_pids = list(server_pids or [])
        self._procs = len(swarm.pids)
        background = self.background if self.background is not None else await background_load()
        if background > 25:
            self.warnings.append(
                f"the machine was already busy before the run ({background:.0f}% of a core): "
                "other work skews every number"
            )
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        self._machine_start = procfs.machine_busy_seconds()
        for pid in self.server_pids:
            with contextlib.suppress(OSError):
                self._server_cpu_start[pid] = procfs.cpu_seconds(pid)
        self._swarm = swarm
        task = asyncio.create_task(self._sample_forever(swarm))
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._sample(swarm)  # the last partial interval
            self._ended = time.monotonic()
            if self._tty:
                print(file=sys.stderr)

    async def sample_now(self) -> None:
        """Take a sample at once (before reading `totals` for the result: they lag by an interval)."""
        assert self._swarm is not None
        await self._sample(self._swarm)

    async def _sample_forever(self, swarm: Swarm) -> None:
        next_at = time.monotonic() + self.interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += self.interval
            await self._sample(swarm)

    async def _sample(self, swarm: Swarm) -> None:
        now = time.monotonic()
        elapsed = now - self.started
        span = max(1e-6, elapsed - (self.series["t_s"][-1] if self.series["t_s"] else 0.0))
        ticks = await swarm.tick()
        interval = self._merge(ticks)
        totals = self.totals
        self.series["t_s"].append(round(elapsed, 3))
        self.series["connections"].append(totals.open_now)
        self.series["deliveries_per_s"].append(round(sum(t.deliveries for t in ticks) / span, 1))
        self.series["frames_per_s"].append(round(sum(t.frames for t in ticks) / span, 1))
        self.series["bytes_per_s"].append(round(sum(t.payload_bytes for t in ticks) / span, 1))
        self.series["events_per_s"].append(round(sum(t.events_answered for t in ticks) / span, 1))
        default = interval.get(self.default_latency)
        stats = summary(default) if default is not None else None
        self.series["latency_p50_ms"].append(stats.get("p50_ms") if stats else None)
        self.series["latency_p99_ms"].append(stats.get("p99_ms") if stats else None)
        self.series["latency_max_ms"].append(stats.get("max_ms") if stats else None)
        self.series["errors"].append(totals.errors)
        cpu = max((100 * t.cpu_s / span for t in ticks), default=0.0)
        self.series["generator_cpu_percent"].append(round(cpu, 1))
        if span >= 0.5:
            self._cpu_peak = max(self._cpu_peak, cpu)
            self._saturated_ticks += cpu > GENERATOR_SATURATED
        if self.server_pids:
            rss = 0.0
            for pid in self.server_pids:
                with contextlib.suppress(OSError, LookupError):
                    rss += procfs.memory(pid).rss_kib / 1024
            self.rss_mb.append(round(rss, 1))
        self._progress(elapsed, stats, cpu)
        self._changed.set()

    def _merge(self, ticks: list[Tick]) -> dict[str, HdrHistogram]:
        totals = self.totals
        interval: dict[str, HdrHistogram] = {}
        for tick in ticks:
            for name in COUNTERS:
                setattr(totals, name, getattr(totals, name) + getattr(tick, name))
            totals.closed.update(tick.closed)
            room = 20 - len(totals.problems)
            totals.problems += tick.problems[: max(0, room)]
            for name, encoded in tick.histograms.items():
                part = interval.get(name)
                if part is None:
                    part = interval[name] = new_histogram()
                part.decode_and_add(encoded)
        totals.opened = sum(t.opened for t in ticks)
        totals.failed = sum(t.failed for t in ticks)
        totals.open_now = sum(t.open_now for t in ticks)
        totals.resumed = sum(t.resumed for t in ticks)
        totals.resume_failed = sum(t.resume_failed for t in ticks)
        totals.peak_open = max(totals.peak_open, totals.open_now)
        for name, part in interval.items():
            whole = self.histograms.get(name)
            if whole is None:
                whole = self.histograms[name] = new_histogram()
            whole.add(part)
        return interval

    def _progress(self, elapsed: float, stats: slo.LatencySummary | None, cpu: float) -> None:
        totals = self.totals
        series = self.series
        latency = (
            f"{self.default_latency} p50 {stats.get('p50_ms', 0):.0f} p99 {stats.get('p99_ms', 0):.0f} ms"
            if stats and stats.get("count")
            else f"{self.default_latency} -"
        )
        parts = [
            f"[{elapsed:5.0f}s]",
            f"conn {totals.open_now:,}" + (f" (failed {totals.failed})" if totals.failed else ""),
            f"deliv {series['deliveries_per_s'][-1]:,.0f}/s",
            f"frames {series['frames_per_s'][-1]:,.0f}/s",
            f"{series['bytes_per_s'][-1] / 1024:,.0f} KiB/s",
            latency,
            f"err {totals.errors} missed {totals.missed} dup {totals.duplicated}",
            f"gen cpu {cpu:.0f}%",
        ]
        if self.rss_mb:
            parts.append(f"server {self.rss_mb[-1]:,.0f} MiB")
        extra = self.status()
        if extra:
            parts.append(extra)
        line = "  ".join(parts)
        if self._tty:
            print(f"\r\x1b[K{line}", end="", file=sys.stderr, flush=True)
        elif len(series["t_s"]) % 5 == 1:  # a log (CI): a line every 5 intervals
            self.say(line)

    async def until(self, done: Callable[[Totals], bool], timeout: float, what: str) -> bool:
        """Wait (interval by interval) until ``done(totals)``; False, and a warning, on timeout."""
        deadline = time.monotonic() + timeout
        while not done(self.totals):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.warnings.append(f"gave up waiting after {timeout:.0f} s: {what}")
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    # ------------------------------------------------------------------ the result

    def latency(self, name: str) -> slo.LatencySummary:
        histogram = self.histograms.get(name)
        return summary(histogram) if histogram is not None else {"count": 0}

    def result(
        self,
        counters: slo.CounterSummary,
        rates: slo.RateSummary,
        extra: dict[str, Any],
        checks: list[slo.Check],
    ) -> dict[str, Any]:
        duration = (self._ended or time.monotonic()) - self.started
        names = sorted(self.histograms, key=lambda name: (name != self.default_latency, name))
        latency = {name: self.latency(name) for name in names}
        latency.setdefault(self.default_latency, {"count": 0})
        run_summary: slo.RunSummary = {
            "default_latency": self.default_latency,
            "latency": latency,
            "counters": counters,
            "rates": rates,
        }
        saturated = self._saturated_ticks >= 3
        if saturated:
            self.warnings.append(
                f"the load generator saturated a core ({self._cpu_peak:.0f}% at peak, {self._saturated_ticks}"
                " intervals over 85%): add --procs, or load from another machine; latency includes its queue"
            )
        cores = os.cpu_count() or 1
        machine = 100 * (procfs.machine_busy_seconds() - self._machine_start) / max(duration, 1e-6)
        if machine > 90 * cores:
            self.warnings.append(
                f"the machine was saturated ({machine:.0f}% of {cores} cores): the load generator, the hub "
                "and its stores share it"
            )
        series = dict(self.series)
        server: dict[str, Any] | None = None
        if self.rss_mb:
            series["server_rss_mb"] = list(self.rss_mb)
            cpu = 0.0
            for pid, start in self._server_cpu_start.items():
                with contextlib.suppress(OSError):
                    cpu += procfs.cpu_seconds(pid) - start
            server = {
                "rss_mb_start": self.rss_mb[0],
                "rss_mb_peak": max(self.rss_mb),
                "rss_mb_end": self.rss_mb[-1],
                "cpu_percent": round(100 * cpu / max(duration, 1e-6), 1),
            }
        outcomes = slo.evaluate(checks, run_summary) if checks else None
        result: dict[str, Any] = {
            "kit": 1,
            "scenario": self.scenario,
            "title": self.title,
            "command": self.command,
            "started_at": self.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(duration, 2),
            "options": self.options,
            "machine": {"cpus": cores, "python": platform.python_version(), "platform": platform.platform()},
            "summary": run_summary,
            "latency_notes": {name: note for name, note in self.latency_notes.items() if name in latency},
            "generator": {
                "procs": self._procs,
                "cpu_percent": round(self._cpu_peak, 1),
                "saturated": saturated,
            },
            "series": series,
            "extra": {**extra, **({"problems": self.totals.problems[:10]} if self.totals.problems else {})},
            "slo": (
                [
                    {"check": outcome.check.text, "passed": outcome.passed, "line": outcome.describe()}
                    for outcome in outcomes
                ]
                if outcomes is not None
                else None
            ),
            "warnings": list(self.warnings),
        }
        if server is not None:
            result["server"] = server
        return result


async def background_load(seconds: float = 1.0) -> float:
    """How busy the machine is before the run (% of one core)."""
    before, started = procfs.machine_busy_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (procfs.machine_busy_seconds() - before) / (time.monotonic() - started)
