"""`gamif worker`: run taskiq worker processes that score the queued metric events."""

from __future__ import annotations

import argparse

from .common import redis_settings_or_report


def worker(args: argparse.Namespace) -> int:
    settings = redis_settings_or_report(
        "worker",
        "workers take their work from a Redis stream (without Redis, gamif scores in the serving process)",
    )
    if settings is None:
        return 1
    from taskiq.cli.worker.args import WorkerArgs
    from taskiq.cli.worker.run import run_worker

    code = run_worker(
        WorkerArgs(
            broker="server.worker:broker",
            modules=[],
            workers=args.workers,
            log_level=settings.log_level.upper(),  # type: ignore[arg-type]
            shutdown_timeout=10,
            max_async_tasks=args.concurrency,
        )
    )
    return code or 0
