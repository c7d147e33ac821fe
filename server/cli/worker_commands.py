"""`gamif worker`: run taskiq worker processes that score the queued metric events."""

from __future__ import annotations

import argparse
import sys

from server.config import ConfigError, load_settings


def worker(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"gamif: invalid settings:\n{error}", file=sys.stderr)
        return 1
    if settings.redis_url is None:
        print(
            "gamif worker: set GAMIF_REDIS_URL: workers take their work from a Redis stream "
            "(without Redis, gamif scores in the serving process)",
            file=sys.stderr,
        )
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
