"""`gamif worker`: run taskiq worker processes that score the queued metric events."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from server.config import Settings

from .common import redis_settings_or_report


async def _preflight(settings: Settings) -> None:
    """Reach the database (its schema up to date) and Redis once, before any worker process starts:
    taskiq restarts a worker that dies at start without end, so a wrong URL would loop instead of
    saying what is wrong."""
    from redis.asyncio import Redis

    from server.app import prepare_schema

    await prepare_schema(settings.effective_database_url)
    assert settings.redis_url is not None
    redis = Redis.from_url(settings.redis_url, socket_timeout=4.0)
    try:
        await redis.ping()
    finally:
        await redis.aclose()


WORKER_CONCURRENCY = 200
"""Queued batches a worker process holds at once (taskiq's ``max_async_tasks``), which its batcher scores
together in groups (`tasks.scoring_batcher`). A group costs about the same per player whatever its
events, so it must be able to grow: with per-event arrivals (one small batch a request), 40 held
batches made groups of a few hundred events and a worker fell behind 1,000 events a second that it
keeps up with at 200 (`gamif load pipeline --mode latency`). Bulk batches (up to 1,000 events each)
stay bounded by the group size (`GAMIF_WORKER_MAX_GROUP_EVENTS`); what is held beyond it waits."""


def worker(args: argparse.Namespace) -> int:
    settings = redis_settings_or_report(
        "worker",
        "workers take their work from a Redis stream (without Redis, gamif scores in the serving process)",
    )
    if settings is None:
        return 1
    from server.metrics.worker import multiprocess_mode

    # First: the metrics' multi-process mode must be on before anything imports prometheus-client, so
    # that the worker processes forked below inherit it.
    with multiprocess_mode(settings) as metrics_directory:
        return _run_workers(settings, args, metrics_directory)


def _run_workers(settings: Settings, args: argparse.Namespace, metrics_directory: str | None) -> int:
    from server.app import SchemaOutOfDate
    from server.metrics.worker import MetricsPortError, serving_worker_metrics

    try:
        asyncio.run(_preflight(settings))
    except SchemaOutOfDate as error:
        print(f"gamif worker: {error}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, RedisError, OSError) as error:
        print(f"gamif worker: cannot start: {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return 1
    try:
        with serving_worker_metrics(settings, metrics_directory):
            return _supervise(settings, args)
    except MetricsPortError as error:
        print(f"gamif worker: {error}", file=sys.stderr)
        return 1


def _supervise(settings: Settings, args: argparse.Namespace) -> int:
    from taskiq.acks import AcknowledgeType

    from tasks.compat.taskiq import run_worker_processes

    code = run_worker_processes(
        broker="tasks.worker:broker",
        workers=args.workers,
        log_level=settings.log_level.upper(),
        # The logging `gamif` configured (server/logs.py) is the worker processes' too (they are
        # forked): taskiq's own basicConfig would add nothing, or a second format.
        configure_logging=False,
        # SIGTERM (or SIGINT): the supervisor notices within a second and stops its worker, which
        # takes no new batch, gives those it holds WAIT_TASKS_SECONDS (an unfinished one stays
        # pending in the stream and is taken over: scoring is idempotent), then closes its
        # services within SHUTDOWN_SECONDS. The whole stays within the README's 10 s.
        wait_tasks_timeout=WAIT_TASKS_SECONDS,
        shutdown_timeout=SHUTDOWN_SECONDS,
        max_async_tasks=args.concurrency,
        # The tasks acknowledge their messages themselves, after the commit (`tasks.scoring`):
        # taskiq's default would acknowledge a task that failed, and lose its batch.
        ack_type=AcknowledgeType.MANUAL,
        # What it cannot run goes to the dead letters rather than being acknowledged and dropped.
        receiver="tasks.receiver:DeadLetteringReceiver",
    )
    # taskiq's supervisor returns None once it has asked its workers to stop, or -1 when they kept
    # dying at start. It does not wait for them (Python would, without end, on leaving): a worker that
    # has not stopped in time is killed, and the exit status says so.
    deadline = time.monotonic() + WAIT_TASKS_SECONDS + SHUTDOWN_SECONDS + 1
    for child in multiprocessing.active_children():
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            print(f"gamif worker: {child.name} did not stop in time: killed", file=sys.stderr)
            child.kill()
            child.join()
            code = code or 1
    return code or 0


WAIT_TASKS_SECONDS = 4.0
SHUTDOWN_SECONDS = 3.0
