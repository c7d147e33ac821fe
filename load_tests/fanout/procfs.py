"""A server process's memory and CPU time, read from /proc (Linux)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class MemorySample:
    rss_kib: int
    """VmRSS: resident memory, shared libraries included."""
    pss_kib: int | None
    """Proportional set size (shared pages split between the processes sharing them), when readable."""


def memory(pid: int) -> MemorySample:
    rss = _field(f"/proc/{pid}/status", "VmRSS:")
    try:
        pss: int | None = _field(f"/proc/{pid}/smaps_rollup", "Pss:")
    except (OSError, LookupError):
        pss = None
    return MemorySample(rss, pss)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (10 ms resolution)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


MIN_CPU_WINDOW = 0.25
"""Shorter intervals give no CPU percentage: /proc counts in 10 ms ticks, and a round of a few
milliseconds says nothing about load."""


def percent_of_core(cpu_seconds: float, wall_seconds: float) -> float | None:
    return 100.0 * cpu_seconds / wall_seconds if wall_seconds >= MIN_CPU_WINDOW else None


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (every core, steal included) since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        # cpu user nice system idle iowait irq softirq steal ...
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def settled_memory(
    pid: int, *, interval: float = 0.2, window: int = 5, tolerance_kib: int = 64, deadline: float = 15.0
) -> MemorySample:
    """Memory once RSS has stopped moving: `window` consecutive samples within `tolerance_kib` of each
    other (or, at worst, the last sample when `deadline` seconds have passed). Freed buffers and
    finishing handshakes would otherwise count as per-connection memory."""
    samples = [memory(pid)]
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        time.sleep(interval)
        samples.append(memory(pid))
        recent = [sample.rss_kib for sample in samples[-window:]]
        if len(recent) == window and max(recent) - min(recent) <= tolerance_kib:
            break
    return samples[-1]


def _field(path: str, name: str) -> int:
    """The value, in KiB, of a ``Name:   1234 kB`` line."""
    with open(path, encoding="ascii") as lines:
        for line in lines:
            if line.startswith(name):
                return int(line.split()[1])
    raise LookupError(f"{name} not in {path}")
