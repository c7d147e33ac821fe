"""What a fan-out run measured: per target, its rounds and its memory; the hub/starlette ratios against
the issue's targets; the table printed at the end and the JSON written."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .commands import RoundReport
from .procfs import percent_of_core

BUSY_MACHINE_LIMIT = 20.0
"""Other processes busier than this (% of one core) during a round: the machine was not quiet."""
CLIENT_CPU_LIMIT = 90.0
"""A load-client process busier than this (% of one core) may be what limits the rate: the number is
then a floor of the server's."""
FRAMES_TARGET = 1.0
"""Hub frames/s at least this times the bare Starlette loop's."""
MEMORY_TARGET = 1.2
"""Hub memory per idle connection at most this times the bare Starlette connection's."""


@dataclass(frozen=True, slots=True)
class FanoutResult:
    subscribers: int
    messages: int
    payload_bytes_per_message: int
    expected_deliveries: int
    deliveries: int
    frames: int
    payload_bytes: int
    complete_connections: int
    elapsed_s: float
    """First to last receive, over every client process."""
    publish_to_last_s: float
    deliveries_per_s: float
    frames_per_s: float
    payload_kib_per_s: float
    publish_call_s: float
    server_cpu_percent: float | None
    """Server CPU time from the publish call to the last receive, over that wall time."""
    client_cpu_percent: list[float | None]
    """Per load-client process, over its own first-to-last receive interval."""
    other_cpu_percent: float | None
    """CPU the rest of the machine used from the publish call until the clients reported (Redis
    included), in % of one core: the measurement is trustworthy while this stays small."""
    problems: list[str]
    balancer_cpu_percent: float | None = None
    """A load balancer's CPU (HAProxy's, for the targets behind it), like the server's; None: none."""

    @property
    def complete(self) -> bool:
        return self.complete_connections == self.subscribers and self.deliveries == self.expected_deliveries

    @property
    def machine_busy(self) -> bool:
        return self.other_cpu_percent is not None and self.other_cpu_percent > BUSY_MACHINE_LIMIT

    @property
    def client_bound(self) -> bool:
        return any(cpu is not None and cpu > CLIENT_CPU_LIMIT for cpu in self.client_cpu_percent)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "complete": self.complete,
            "client_bound": self.client_bound,
            "machine_busy": self.machine_busy,
        }

    @classmethod
    def from_reports(
        cls,
        reports: list[RoundReport],
        *,
        subscribers: int,
        messages: int,
        payload_size: int,
        published_at: float,
        publish_call_s: float,
        server_cpu_s: float,
        other_cpu_percent: float | None,
        balancer_cpu_s: float | None = None,
    ) -> FanoutResult:
        firsts = [report.first_at for report in reports if report.first_at is not None]
        lasts = [report.last_at for report in reports if report.last_at is not None]
        first, last = (min(firsts), max(lasts)) if firsts and lasts else (published_at, published_at)
        elapsed = last - first
        deliveries = sum(report.deliveries for report in reports)
        frames = sum(report.frames for report in reports)
        payload = sum(report.payload_bytes for report in reports)

        def rate(count: float) -> float:
            return count / elapsed if elapsed > 0 else 0.0

        return cls(
            subscribers=subscribers,
            messages=messages,
            payload_bytes_per_message=payload_size,
            expected_deliveries=subscribers * messages,
            deliveries=deliveries,
            frames=frames,
            payload_bytes=payload,
            complete_connections=sum(report.complete_connections for report in reports),
            elapsed_s=elapsed,
            publish_to_last_s=last - published_at,
            deliveries_per_s=rate(deliveries),
            frames_per_s=rate(frames),
            payload_kib_per_s=rate(payload / 1024),
            publish_call_s=publish_call_s,
            server_cpu_percent=percent_of_core(server_cpu_s, last - published_at),
            client_cpu_percent=[report.cpu_percent for report in reports],
            other_cpu_percent=other_cpu_percent,
            problems=[problem for report in reports for problem in report.problems][:10],
            balancer_cpu_percent=None
            if balancer_cpu_s is None
            else percent_of_core(balancer_cpu_s, last - published_at),
        )


@dataclass(frozen=True, slots=True)
class MemoryResult:
    connections: int
    """Idle connections opened between the two samples."""
    warm_connections: int
    """Connections already open at the first sample (so that first-use costs are not counted)."""
    rss_before_kib: int
    rss_after_kib: int
    pss_before_kib: int | None
    pss_after_kib: int | None
    connect_seconds: float
    """How long opening the idle connections took (for the hub: upgrade, auth and subscribe)."""

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.connections

    @property
    def pss_kib_per_connection(self) -> float | None:
        if self.pss_before_kib is None or self.pss_after_kib is None:
            return None
        return (self.pss_after_kib - self.pss_before_kib) / self.connections

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "kib_per_connection": self.kib_per_connection,
            "pss_kib_per_connection": self.pss_kib_per_connection,
        }


@dataclass(slots=True)
class TargetResult:
    name: str
    description: str
    status: str = "ok"
    """ok, skipped (not available here) or error."""
    reason: str | None = None
    server_output: str = ""
    """On error: the end of the server's output."""
    subscribe_retries: int = 0
    """Hub: subscribes answered ``unavailable`` (and sent again) while connecting."""
    memory: MemoryResult | None = None
    fanout: list[FanoutResult] = field(default_factory=list)

    def at(self, subscribers: int) -> FanoutResult | None:
        return next((result for result in self.fanout if result.subscribers == subscribers), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "reason": self.reason,
            "server_output": self.server_output,
            "subscribe_retries": self.subscribe_retries,
            "memory": None if self.memory is None else self.memory.as_dict(),
            "fanout": [result.as_dict() for result in self.fanout],
        }


def ratios(results: dict[str, TargetResult], subject: str, reference: str) -> dict[str, Any] | None:
    """`subject` against `reference`: frames/s and deliveries/s per subscriber count, memory per
    connection, and whether the issue's targets are met."""
    this, that = results.get(subject), results.get(reference)
    if this is None or that is None or this.status != "ok" or that.status != "ok":
        return None
    frames: dict[str, float] = {}
    deliveries: dict[str, float] = {}
    for mine in this.fanout:
        theirs = that.at(mine.subscribers)
        if theirs is not None and theirs.frames_per_s > 0:
            frames[str(mine.subscribers)] = mine.frames_per_s / theirs.frames_per_s
            deliveries[str(mine.subscribers)] = mine.deliveries_per_s / theirs.deliveries_per_s
    memory = None
    if this.memory is not None and that.memory is not None and that.memory.kib_per_connection > 0:
        memory = this.memory.kib_per_connection / that.memory.kib_per_connection
    return {
        "frames_per_s": frames,
        "deliveries_per_s": deliveries,
        "kib_per_connection": memory,
        "frames_target": FRAMES_TARGET,
        "memory_target": MEMORY_TARGET,
        "frames_target_met": bool(frames) and all(ratio >= FRAMES_TARGET for ratio in frames.values()),
        # The baselines send one frame per delivery: coalescing trades the hub's frames for deltas.
        "deliveries_target_met": bool(deliveries)
        and all(ratio >= FRAMES_TARGET for ratio in deliveries.values()),
        "memory_target_met": memory is not None and memory <= MEMORY_TARGET,
    }


# ------------------------------------------------------------------------------------------------ table


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def percents(values: list[float | None]) -> str:
    return " ".join(percent(value) for value in values)


_FANOUT_COLUMNS = (
    ("target", "<11"),
    ("subscr.", ">8"),
    ("deliveries/s", ">14"),
    ("frames/s", ">11"),
    ("per frame", ">10"),
    ("KiB/s", ">9"),
    ("elapsed", ">10"),
    ("server CPU", ">12"),
    ("  client CPU", "<14"),
    ("other", ">6"),
    ("  all received", ""),
)
_MEMORY_COLUMNS = (
    ("target", "<11"),
    ("connections", ">12"),
    ("before MiB", ">12"),
    ("after MiB", ">11"),
    ("KiB/conn", ">10"),
    ("PSS KiB/conn", ">14"),
)


def _row(columns: tuple[tuple[str, str], ...], cells: list[str]) -> str:
    return "".join(format(cell, spec) for cell, (_, spec) in zip(cells, columns, strict=True)).rstrip()


def _header(columns: tuple[tuple[str, str], ...]) -> str:
    return _row(columns, [title for title, _ in columns])


def _fanout_row(name: str, run: FanoutResult) -> str:
    received = "yes" if run.complete else f"NO ({run.complete_connections}/{run.subscribers})"
    cells = [
        name,
        f"{run.subscribers:,}",
        f"{run.deliveries_per_s:,.0f}",
        f"{run.frames_per_s:,.0f}",
        f"{run.deliveries / max(run.frames, 1):.1f}",
        f"{run.payload_kib_per_s:,.0f}",
        f"{run.elapsed_s:.3f}s",
        percent(run.server_cpu_percent),
        "  " + percents(run.client_cpu_percent),
        percent(run.other_cpu_percent),
        "  " + received,
    ]
    return _row(_FANOUT_COLUMNS, cells)


def _memory_row(name: str, memory: MemoryResult) -> str:
    pss = memory.pss_kib_per_connection
    cells = [
        name,
        f"{memory.connections:,}",
        f"{memory.rss_before_kib / 1024:.1f}",
        f"{memory.rss_after_kib / 1024:.1f}",
        f"{memory.kib_per_connection:.2f}",
        "-" if pss is None else f"{pss:.2f}",
    ]
    return _row(_MEMORY_COLUMNS, cells)


def table(results: dict[str, TargetResult], comparisons: dict[str, dict[str, Any] | None], pace: str) -> str:
    lines = [
        f"fan-out, {pace} publishing (rates over first-to-last receive; per frame: deliveries per frame, "
        "above 1 when the server coalesces; CPU in % of one core; other: the rest of the machine)",
        _header(_FANOUT_COLUMNS),
    ]
    for result in results.values():
        if result.status != "ok":
            lines.append(f"{result.name:<11}{result.status}: {result.reason}")
        lines += [_fanout_row(result.name, run) for run in result.fanout]
    lines += ["", "memory (server RSS; KiB per idle connection)", _header(_MEMORY_COLUMNS)]
    lines += [_memory_row(result.name, result.memory) for result in results.values() if result.memory]
    for name, comparison in comparisons.items():
        if comparison is not None:
            lines += ["", comparison_line(name, comparison)]
    return "\n".join(lines)


def _ratios_text(ratios: dict[str, float]) -> str:
    return ", ".join(f"{ratio:.2f} at {int(n):,}" for n, ratio in ratios.items())


METRICS_COST = "hub metrics on/off"
"""The comparison of the hub with its Prometheus metrics on (and scraped) against the same hub with them
off (``GAMIF_METRICS=0``): issue 18 allows at most 5 % fewer deliveries/s."""
METRICS_COST_TARGET = 0.95


def metrics_cost(results: dict[str, TargetResult]) -> dict[str, Any] | None:
    """Deliveries/s and frames/s of ``hub`` (metrics on) over ``hub-metrics-off``, per subscriber count."""
    compared = ratios(results, "hub", "hub-metrics-off")
    if compared is None:
        return None
    deliveries = compared["deliveries_per_s"]
    return {
        "frames_per_s": compared["frames_per_s"],
        "deliveries_per_s": deliveries,
        "kib_per_connection": compared["kib_per_connection"],
        "deliveries_target": METRICS_COST_TARGET,
        "deliveries_target_met": bool(deliveries)
        and all(ratio >= METRICS_COST_TARGET for ratio in deliveries.values()),
    }


def comparison_line(name: str, comparison: dict[str, Any]) -> str:
    """One target's throughput against the baselines, as a line of the report."""
    if name == METRICS_COST:
        verdict = "met" if comparison["deliveries_target_met"] else "NOT met"
        deliveries = _ratios_text(comparison["deliveries_per_s"])
        frames = _ratios_text(comparison["frames_per_s"])
        target = f"target >= {METRICS_COST_TARGET}: {verdict}"
        return f"{name}: deliveries/s {deliveries} ({target}); frames/s {frames}"
    frames, deliveries = (
        _ratios_text(comparison["frames_per_s"]),
        _ratios_text(comparison["deliveries_per_s"]),
    )
    memory = comparison["kib_per_connection"]
    memory_text = "-" if memory is None else f"{memory:.2f}"
    if not name.startswith("hub/"):  # the targets are the hub's
        return f"{name}: frames/s {frames}; deliveries/s {deliveries}; memory per connection {memory_text}"
    frames_verdict = "met" if comparison["frames_target_met"] else "NOT met"
    deliveries_verdict = "met" if comparison["deliveries_target_met"] else "NOT met"
    memory_verdict = "met" if comparison["memory_target_met"] else "NOT met"
    return (
        f"{name}: frames/s {frames} (target >= {FRAMES_TARGET}: {frames_verdict}); "
        f"deliveries/s {deliveries} (>= {FRAMES_TARGET}: {deliveries_verdict}); "
        f"memory per connection {memory_text} (target <= {MEMORY_TARGET}: {memory_verdict})"
    )
