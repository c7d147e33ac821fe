"""Who waits on whose locks during a run, seen from PostgreSQL: whether workers that score disjoint
players really never wait on each other (issue 17: no lock all workers share), and what they wait on
when their players overlap.

Every ``period`` (100 ms) one query over the run's database lists the backends whose wait event is a
heavyweight lock (``pg_stat_activity.wait_event_type = 'Lock'``), each with the lock it has not been
granted (``pg_locks``: type, mode, relation), the table of the row it waits for (a row-lock waiter holds
that row's ``tuple`` lock while it waits on the holder's transaction), the start of its statement, and
the application names of the backends that block it (``pg_blocking_pids``). Backends are told apart by
their ``application_name``: the run names the API's connections ``gamif-serve`` and the workers'
``gamif-worker`` (through the database URL), to which each worker process adds its pid
(`tasks.worker.named_connections`): a worker blocked by another worker process is told from one
blocked by its own process's other group (a worker scores two groups at once, one after the other on
the players they share). The deadlocks counter of ``pg_stat_database`` is read at the
start and the end. Reading only PostgreSQL's views, nothing in the server is changed or asked.

A sample is a moment, not a duration: a wait shorter than the period may go unseen, so "no sample
with a waiting worker" over thousands of samples means waits are rare and short, not that none
happened; the deadlocks counter, though, counts every one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

WORKER_APPLICATION = "gamif-worker"
SERVER_APPLICATION = "gamif-serve"

_WAITING = """
SELECT a.application_name AS app,
       l.locktype AS locktype,
       l.mode AS mode,
       l.relation::regclass::text AS relation,
       (SELECT t.relation::regclass::text FROM pg_locks t
         WHERE t.pid = a.pid AND t.locktype = 'tuple' AND t.granted LIMIT 1) AS row_of,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 60) AS statement,
       (SELECT coalesce(array_agg(b.application_name ORDER BY b.pid), '{}') FROM pg_stat_activity b
         WHERE b.pid = ANY (pg_blocking_pids(a.pid))) AS blockers
  FROM pg_stat_activity a
  LEFT JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
 WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()
"""

_DEADLOCKS = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"


@dataclass(slots=True)
class LockWatch:
    database_url: str
    """The run's database (asyncpg's URL): relation names resolve in it."""
    period: float = 0.1
    samples: int = 0
    samples_worker_waiting: int = 0
    """Samples in which at least one of the workers' backends waited on a lock."""
    samples_worker_waiting_on_another: int = 0
    """Samples in which a worker's backend waited on a lock another worker process held."""
    samples_other_waiting: int = 0
    """Samples in which another backend (the API, ...) waited on a lock, and no worker did."""
    worker_waits: int = 0
    """Waiting worker backends, summed over the samples (two waiting in one sample count two)."""
    by_lock: Counter[str] = field(default_factory=Counter)
    """A waiting worker's lock: ``<locktype> <mode> [on <table>]``."""
    by_statement: Counter[str] = field(default_factory=Counter)
    by_blocker: Counter[str] = field(default_factory=Counter)
    """Who blocked a waiting worker: ``another worker process``, ``the same worker process``, or the
    blocker's application name."""
    deadlocks_before: int | None = None
    deadlocks_after: int | None = None
    errors: int = 0
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False

    async def start(self) -> None:
        connection = await asyncpg.connect(self.database_url)
        self.deadlocks_before = await connection.fetchval(_DEADLOCKS)
        self._task = asyncio.create_task(self._watch(connection))

    async def stop(self) -> dict[str, Any]:
        """Stop sampling; the report (`report`)."""
        # A flag, not Task.cancel(): a cancellation landing inside a query could leave the connection busy.
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._task.cancel()
        return self.report()

    async def _watch(self, connection: asyncpg.Connection) -> None:
        try:
            while not self._stopping:
                await asyncio.sleep(self.period)
                try:
                    rows = await connection.fetch(_WAITING)
                except (asyncpg.PostgresError, OSError):
                    self.errors += 1
                    continue
                self.samples += 1
                self._count(rows)
            # Counted by the backend at its next report: read after a fresh snapshot of the statistics.
            await connection.execute("SELECT pg_stat_clear_snapshot()")
            self.deadlocks_after = await connection.fetchval(_DEADLOCKS)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    def _count(self, rows: list[Any]) -> None:
        workers = [row for row in rows if _is_worker(row["app"])]
        if workers:
            self.samples_worker_waiting += 1
        elif rows:
            self.samples_other_waiting += 1
        on_another = False
        for row in workers:
            self.worker_waits += 1
            table = row["relation"] or row["row_of"]
            self.by_lock[f"{row['locktype']} {row['mode']}" + (f" on {table}" if table else "")] += 1
            self.by_statement[row["statement"] or "?"] += 1
            for blocker in row["blockers"] or ["?"]:
                who = _who(row["app"], blocker)
                on_another = on_another or who == ANOTHER_WORKER
                self.by_blocker[who] += 1
        self.samples_worker_waiting_on_another += on_another

    def report(self) -> dict[str, Any]:
        before, after = self.deadlocks_before, self.deadlocks_after
        return {
            "period_ms": round(self.period * 1000),
            "samples": self.samples,
            "samples_worker_waiting": self.samples_worker_waiting,
            "samples_worker_waiting_on_another": self.samples_worker_waiting_on_another,
            "samples_other_waiting": self.samples_other_waiting,
            "worker_waits": self.worker_waits,
            "by_lock": dict(self.by_lock.most_common(10)),
            "by_statement": dict(self.by_statement.most_common(5)),
            "by_blocker": dict(self.by_blocker.most_common(5)),
            "deadlocks_before": before,
            "deadlocks_after": after,
            "deadlocks": None if before is None or after is None else after - before,
            "sample_errors": self.errors,
        }

    @staticmethod
    def describe(report: dict[str, Any]) -> str:
        """One line for the run's table."""
        line = (
            f"{report['samples_worker_waiting']} of {report['samples']} samples ({report['period_ms']} ms) "
            f"with a worker waiting on a lock, {report['samples_worker_waiting_on_another']} on another "
            f"worker process, deadlocks +{report['deadlocks']}"
        )
        if report["by_lock"]:
            line += "; " + ", ".join(f"{lock} x{n}" for lock, n in report["by_lock"].items())
        if report["by_blocker"]:
            line += "; blocked by " + ", ".join(f"{who} x{n}" for who, n in report["by_blocker"].items())
        return line


ANOTHER_WORKER = "another worker process"
SAME_WORKER = "the same worker process"


def _is_worker(application: str | None) -> bool:
    """``gamif-worker``, or ``gamif-worker/<pid>`` (`tasks.worker.named_connections`)."""
    return application is not None and application.split("/", 1)[0] == WORKER_APPLICATION


def _who(waiter: str, blocker: str | None) -> str:
    if _is_worker(blocker):
        return SAME_WORKER if blocker == waiter else ANOTHER_WORKER
    return blocker or "?"
