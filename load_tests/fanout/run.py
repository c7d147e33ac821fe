"""The benchmark itself: for each target, a memory phase and a fan-out phase, each on a fresh server.

Memory: open a few warm-up connections (first-use costs are not per connection), sample the server's
settled RSS, open `idle` more (hub: authenticated and subscribed), sample again.

Fan-out: for each subscriber count, ascending, top the connections up to it, run a warm-up round, then
the measured round: the clients are armed, the target publishes M messages (all at once, or each once
the previous has reached every subscriber: `BenchOptions.pace`), and each client process reports once
every connection has all M, checked (or nothing came for `stall` seconds).
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any, Literal

from . import procfs
from .balancer_target import BalancedHubTarget
from .hub_target import TOPIC, HubTarget
from .hub_wire import delta_frame_size
from .pool import ClientPool
from .results import (
    BUSY_MACHINE_LIMIT,
    METRICS_COST,
    FanoutResult,
    MemoryResult,
    TargetResult,
    metrics_cost,
    percent,
    percents,
    ratios,
)
from .targets import StarletteTarget, Target, TargetError, WebsocketsTarget

TARGETS = ("hub", "starlette", "websockets", "hub-metrics-off")
BALANCER_TARGETS = ("lb-1-hub", "lb-2-hubs")
"""The hub behind HAProxy, one or two hub processes (`balancer_target`): `gamif load fanout-balancer`."""
Pace = Literal["burst", "lockstep"]
PACES: tuple[Pace, ...] = ("burst", "lockstep")
WARM_CONNECTIONS = 10
_FD_MARGIN = 256  # listening sockets, pipes, logs, the database, Redis
_MONOTONIC = time.monotonic
_QUIET_WINDOW = 0.5


@dataclass(frozen=True, slots=True)
class BenchOptions:
    targets: tuple[str, ...] = ("hub", "starlette", "websockets")
    subscribers: tuple[int, ...] = (1_000, 5_000)
    messages: int = 200
    warmup: int = 10
    idle: int = 10_000
    procs: int = field(default_factory=lambda: os.cpu_count() or 1)
    strict: bool = False
    stall: float = 10.0
    pace: Pace = "lockstep"
    """lockstep (the default): publish each message once the previous reached every subscriber (one
    frame per delivery everywhere: compares the per-frame send paths); burst: publish the round's
    messages as fast as the target takes them (the hub may coalesce them into batches)."""
    quiet_wait: float = 20.0
    """Before each measured round, wait up to this long for the rest of the machine to go quiet."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    scrape_every: float = 5.0
    """Hub with metrics on: GET /metrics this often while it serves (a third of Prometheus's default
    interval: the cost of being scraped is measured, pessimistically); 0: never."""


class LimitError(SystemExit):
    """The machine cannot hold the connections asked for."""


def raise_open_file_limit(options: BenchOptions) -> int:
    """Raise the soft limit to the hard one (inherited by the servers and clients started afterwards)
    and check that the largest phase fits in the server process and in each client process."""
    peak = max(options.idle + WARM_CONNECTIONS, *options.subscribers)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, peak + _FD_MARGIN)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft != resource.RLIM_INFINITY and soft < peak + _FD_MARGIN:
        raise LimitError(
            f"fanout: the open-file limit is {soft} (hard {hard}), too low for {peak:,} connections in one "
            f"server process: raise it (ulimit -n {peak + _FD_MARGIN}, or the hard limit as root) or pass a "
            f"smaller --idle / --subscribers"
        )
    low, high = _ephemeral_ports()
    if high - low + 1 < peak + _FD_MARGIN:
        raise LimitError(
            f"fanout: the local port range {low}-{high} holds fewer than {peak:,} client connections: "
            "widen net.ipv4.ip_local_port_range or pass a smaller --idle / --subscribers"
        )
    return int(soft)


def _ephemeral_ports() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ports:
            low, high = ports.read().split()
    except OSError:
        return 32_768, 60_999  # Linux's default
    return int(low), int(high)


def make_target(name: str, payload_size: int, options: BenchOptions) -> Target:
    if name in BALANCER_TARGETS:
        return BalancedHubTarget(payload_size, options.redis_url, hubs=BALANCER_TARGETS.index(name) + 1)
    if name == "hub":
        return HubTarget(payload_size, options.redis_url, scrape_every=options.scrape_every)
    if name == "hub-metrics-off":
        return HubTarget(payload_size, options.redis_url, metrics=False)
    if name == "starlette":
        return StarletteTarget(payload_size)
    if name == "websockets":
        return WebsocketsTarget(payload_size)
    raise ValueError(f"unknown target {name!r} (choose from {', '.join(TARGETS)})")


@dataclass(frozen=True, slots=True)
class Outcome:
    results: dict[str, TargetResult]
    comparisons: dict[str, dict[str, Any] | None]
    document: dict[str, Any]
    """Everything, JSON-ready."""

    @property
    def ok(self) -> bool:
        """Every target ran (or was skipped) and every round delivered every message."""
        return all(
            result.status != "error" and all(run.complete for run in result.fanout)
            for result in self.results.values()
        )


def run_benchmark(options: BenchOptions, say: Callable[[str], None] = print) -> Outcome:
    """Run every target in turn (one at a time: they share the machine with the load clients)."""
    open_files = raise_open_file_limit(options)
    # The baselines send what the hub sends for the same change: one delta frame of the bench topic.
    rounds = len(options.subscribers) * (options.warmup + options.messages)
    payload_size = delta_frame_size(TOPIC, offset=rounds // 2 + 1, value=rounds // 2 + 1)
    say(
        f"fanout: targets {', '.join(options.targets)}; "
        f"subscribers {', '.join(map(str, options.subscribers))}; "
        f"{options.messages} messages of {payload_size} B per round; {options.idle:,} idle connections; "
        f"{options.procs} client processes; open-file limit {open_files}"
    )
    results: dict[str, TargetResult] = {}
    started = datetime.now(UTC)
    with ClientPool(options.procs) as pool:
        for name in options.targets:
            target = make_target(name, payload_size, options)
            result = results[name] = TargetResult(name, target.description)
            reason = target.unavailable()
            if reason is not None:
                result.status, result.reason = "skipped", reason
                say(f"[{name}] SKIPPED: {reason}")
                target.close()
                continue
            retries = pool.subscribe_retries
            try:
                if target.measures_memory:
                    result.memory = measure_memory(target, pool, options, say)
                result.fanout = measure_fanout(target, pool, options, say)
            except Exception as error:
                result.status, result.reason = "error", f"{type(error).__name__}: {error}"
                result.server_output = target.server_output
                say(f"[{name}] ERROR: {result.reason}")
                if target.server_output.strip():
                    say(f"[{name}] the server's last output:\n{target.server_output.rstrip()}")
            finally:
                target.close()
            result.subscribe_retries = pool.subscribe_retries - retries
            if result.subscribe_retries:
                say(f"[{name}] {result.subscribe_retries} subscribes were answered `unavailable` and retried")
            if pool.broken is not None:
                say(f"fanout: stopping: {pool.broken}")
                break
    comparisons = {
        "hub/starlette": ratios(results, "hub", "starlette"),
        "websockets/starlette": ratios(results, "websockets", "starlette"),
        METRICS_COST: metrics_cost(results),
    }
    document = {
        "benchmark": "fanout",
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": (datetime.now(UTC) - started).total_seconds(),
        "machine": _machine(),
        "options": {**asdict(options), "payload_bytes": payload_size, "warm_connections": WARM_CONNECTIONS},
        "targets": {name: result.as_dict() for name, result in results.items()},
        "comparisons": comparisons,
        "warnings": _warnings(results),
    }
    return Outcome(results, comparisons, document)


def measure_memory(
    target: Target, pool: ClientPool, options: BenchOptions, say: Callable[[str], None]
) -> MemoryResult:
    with target.running():
        spec = target.spec(options.strict)
        try:
            pool.connect(spec, WARM_CONNECTIONS)
            target.wait_subscribers(WARM_CONNECTIONS)
            target.collect_garbage()
            before = procfs.settled_memory(target.pid)
            opened = _MONOTONIC()
            pool.connect(spec, options.idle, timeout=max(300.0, options.idle / 20))
            target.wait_subscribers(WARM_CONNECTIONS + options.idle)
            connect_seconds = _MONOTONIC() - opened
            say(f"[{target.name}] {options.idle:,} idle connections open in {connect_seconds:.1f} s")
            target.collect_garbage()
            after = procfs.settled_memory(target.pid)
            census = pool.census()
            if census.closed:
                raise TargetError(
                    f"{census.closed:,} of the idle connections closed before the memory sample: "
                    + "; ".join(census.reasons)
                )
        finally:
            pool.close_all()
    memory = MemoryResult(
        connections=options.idle,
        warm_connections=WARM_CONNECTIONS,
        rss_before_kib=before.rss_kib,
        rss_after_kib=after.rss_kib,
        pss_before_kib=before.pss_kib,
        pss_after_kib=after.pss_kib,
        connect_seconds=connect_seconds,
    )
    say(
        f"[{target.name}] memory: RSS {before.rss_kib / 1024:.1f} -> {after.rss_kib / 1024:.1f} MiB, "
        f"{memory.kib_per_connection:.2f} KiB per idle connection"
    )
    return memory


def measure_fanout(
    target: Target, pool: ClientPool, options: BenchOptions, say: Callable[[str], None]
) -> list[FanoutResult]:
    results = []
    with target.running():
        spec = target.spec(options.strict)
        try:
            for subscribers in sorted(options.subscribers):
                opened = _MONOTONIC()
                pool.connect(spec, subscribers - pool.connections, timeout=max(300.0, subscribers / 20))
                target.wait_subscribers(subscribers)
                say(f"[{target.name}] {subscribers:,} subscribers connected ({_MONOTONIC() - opened:.1f} s)")
                if options.warmup:
                    warm = run_round(target, pool, subscribers, options.warmup, options.stall, options.pace)
                    if not warm.complete:
                        say(f"[{target.name}] warm-up round incomplete: {'; '.join(warm.problems)}")
                wait_for_quiet(options.quiet_wait, target.name, say)
                result = run_round(target, pool, subscribers, options.messages, options.stall, options.pace)
                results.append(result)
                say(_progress(target.name, result))
        finally:
            pool.close_all()
    return results


def wait_for_quiet(limit: float, name: str, say: Callable[[str], None]) -> None:
    """Wait (at most `limit` seconds) until other processes use little CPU: between rounds ours are idle,
    so what keeps the machine busy is someone else's work, which would skew the round."""
    if limit <= 0:
        return
    started = _MONOTONIC()
    while True:
        before = procfs.machine_busy_seconds()
        time.sleep(_QUIET_WINDOW)
        busy = 100.0 * (procfs.machine_busy_seconds() - before) / _QUIET_WINDOW
        waited = _MONOTONIC() - started
        if busy <= BUSY_MACHINE_LIMIT:
            if waited > 2 * _QUIET_WINDOW:
                say(f"[{name}] waited {waited:.0f} s for the machine to go quiet")
            return
        if waited >= limit:
            say(
                f"[{name}] other processes still use {busy:.0f}% of a core after {waited:.0f} s: "
                "measuring anyway"
            )
            return


def run_round(
    target: Target, pool: ClientPool, subscribers: int, messages: int, stall: float, pace: Pace
) -> FanoutResult:
    pool.arm(messages)
    servers, balancer = target.server_pids, target.balancer_pid
    ours = [*servers, *([balancer] if balancer is not None else []), *pool.pids]
    busy_before, ours_before = procfs.machine_busy_seconds(), _cpu_of(ours)
    published_at = _MONOTONIC()
    if pace == "burst":
        publish_seconds = target.publish(messages).seconds
    else:  # lockstep: each message reaches every subscriber before the next is published
        publish_seconds = 0.0
        for sent in range(1, messages + 1):
            publish_seconds += target.publish(1).seconds
            if not pool.await_deliveries(sent, stall):
                break  # a message was lost: the collect below reports it
    reports = pool.collect(stall, timeout=600.0)
    collected_at = _MONOTONIC()
    busy_after, ours_after = procfs.machine_busy_seconds(), _cpu_of(ours)
    # What the rest of the machine used meanwhile (the hub's Redis included): on a shared machine, the
    # numbers are only as good as this is small.
    others = (busy_after - busy_before) - (sum(ours_after.values()) - sum(ours_before.values()))
    return FanoutResult.from_reports(
        reports,
        subscribers=subscribers,
        messages=messages,
        payload_size=target.payload_size,
        published_at=published_at,
        publish_call_s=publish_seconds,
        server_cpu_s=sum(ours_after[pid] - ours_before[pid] for pid in servers),
        balancer_cpu_s=None if balancer is None else ours_after[balancer] - ours_before[balancer],
        other_cpu_percent=procfs.percent_of_core(max(0.0, others), collected_at - published_at),
    )


def _cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process (the driver's own under its pid)."""
    return {os.getpid(): time.process_time()} | {pid: procfs.cpu_seconds(pid) for pid in pids}


def _progress(name: str, result: FanoutResult) -> str:
    line = (
        f"[{name}] {result.subscribers:,} subscribers x {result.messages} messages: "
        f"{result.deliveries_per_s:,.0f} deliveries/s, {result.frames_per_s:,.0f} frames/s, "
        f"first-to-last {result.elapsed_s:.3f} s; server CPU {percent(result.server_cpu_percent)}, "
        f"client CPU {percents(result.client_cpu_percent)}, "
        + (
            f"balancer CPU {percent(result.balancer_cpu_percent)}, "
            if result.balancer_cpu_percent is not None
            else ""
        )
        + f"other processes {percent(result.other_cpu_percent)}"
    )
    if not result.complete:
        line += f"\n[{name}] INCOMPLETE: {result.deliveries:,} of {result.expected_deliveries:,} deliveries; "
        line += "; ".join(result.problems)
    if result.client_bound:
        line += f"\n[{name}] WARNING: a load client was above 90% CPU: this rate is a floor, not the server's"
    return line


def _warnings(results: dict[str, TargetResult]) -> list[str]:
    warnings = []
    for result in results.values():
        for run in result.fanout:
            if run.client_bound:
                warnings.append(
                    f"{result.name} at {run.subscribers} subscribers: a load client was above 90% CPU "
                    f"({percents(run.client_cpu_percent)}): "
                    "the rate is a floor"
                )
            if run.machine_busy:
                warnings.append(
                    f"{result.name} at {run.subscribers} subscribers: other processes used "
                    f"{percent(run.other_cpu_percent)} of a core during the round: the machine was not quiet"
                )
            if not run.complete:
                warnings.append(f"{result.name} at {run.subscribers} subscribers: not every message arrived")
    return warnings


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: version(name) for name in ("uvicorn", "websockets", "starlette", "uvloop", "msgpack")
        },
    }
