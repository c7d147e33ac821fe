"""The metric families recorded where things happen, as prometheus-client objects: ingest outcomes,
scoring batches, event → publish latency, publish failures, Redis errors, challenge transitions and the
database pool. They happen per request or per batch, never per frame (the hub's per-frame counters are
plain integers on the hub, read at scrape time: `server.metrics.hub`).

This module imports nothing of ours, so that the services and the worker can record into it without
depending on the rest of the metrics machinery. In a `gamif worker`'s processes the client's
multi-process mode is on (``PROMETHEUS_MULTIPROC_DIR``, set by the parent before anything imports the
client: `server.metrics.worker`), and these objects write to files the parent's port reads. Labels are
bounded sets (statuses, codes, names of our own): never a user, a topic or an event id.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

INGEST_EVENTS = Counter(
    "gamif_ingest_events_total",
    "Metric events ingested (HTTP and WebSocket), by outcome: accepted, duplicate or rejected, with the "
    "code saying why (empty for accepted).",
    ["status", "code"],
)

SCORING_BATCH_EVENTS = Histogram(
    "gamif_scoring_batch_events",
    "Events scored per transaction (a group of queued batches, or an embedded slice).",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000),
)
SCORING_BATCH_DURATION = Histogram(
    "gamif_scoring_batch_duration_seconds",
    "Time to score one transaction's events, from its start to its live changes published.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENT_PUBLISH_LATENCY = Histogram(
    "gamif_event_publish_latency_seconds",
    "From the receipt of an ingested batch (its 202) to the publish of the live changes it made: one "
    "observation per ingested batch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
PUBLISH_FAILURES = Counter(
    "gamif_publish_failures_total",
    "Live publishes that failed: committed outbox entries left to the sweep (`outbox`), coalesced pushes "
    "of team, feed, leaderboard and scoreboard documents that failed (`push`).",
    ["kind"],
)
REDIS_ERRORS = Counter(
    "gamif_redis_errors_total",
    "Redis errors met where gamif catches them and carries on: ingest's enqueue (`ingest`), the worker's "
    "queue reads and acknowledgements (`queue`), a live publish (`publish`).",
    ["where"],
)
CHALLENGE_TRANSITIONS = Counter(
    "gamif_challenge_transitions_total",
    "Challenges moved through their lifecycle by this process, by the state entered (live, finished).",
    ["to"],
)
DB_POOL_IN_USE = Gauge(
    "gamif_db_pool_connections_in_use",
    "Database connections checked out of the process's pool (a worker: all its processes together).",
    multiprocess_mode="livesum",
)


# Every label value known in advance shows from the start, at 0: a rate over a series that appears only
# with its first error would miss that first one, and a dashboard would have nothing to draw until then.
INGEST_EVENTS.labels("accepted", "")
for _kind in ("outbox", "push"):
    PUBLISH_FAILURES.labels(_kind)
for _where in ("ingest", "queue", "publish", "scrape"):
    REDIS_ERRORS.labels(_where)
for _state in ("live", "finished"):
    CHALLENGE_TRANSITIONS.labels(_state)


def count_ingest(statuses: Iterable[tuple[str, str | None]]) -> None:
    """Count a request's event outcomes ((status, code) each), one counter call per distinct outcome."""
    for (status, code), count in Tally(statuses).items():
        INGEST_EVENTS.labels(status, code or "").inc(count)


def watch_pool(engine: AsyncEngine) -> None:
    """Keep `DB_POOL_IN_USE` up to date for ``engine``'s pool, from its checkout and checkin events."""
    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    event.listen(pool, "checkin", lambda *_: DB_POOL_IN_USE.dec())
