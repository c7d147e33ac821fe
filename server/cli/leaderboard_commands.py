"""`gamif leaderboards rebuild`: recompute every Redis leaderboard from the database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from server.config import Settings

from .common import redis_settings_or_report

if TYPE_CHECKING:
    from persistence.leaderboards import RebuildProgress, RebuildStats


def rebuild(args: argparse.Namespace) -> int:
    settings = redis_settings_or_report(
        "leaderboards rebuild",
        "the leaderboards live in Redis "
        "(without Redis, gamif computes them from the database and there is nothing to rebuild)",
    )
    if settings is None:
        return 1
    try:
        return asyncio.run(_rebuild(settings))
    except (OSError, ConnectionError) as error:
        print(f"gamif leaderboards rebuild: failed: {error}", file=sys.stderr)
        return 1


async def _rebuild(settings: Settings) -> int:
    from redis.exceptions import RedisError

    try:
        stats, changed = await rebuild_boards(settings)
    except RedisError as error:
        print(f"gamif leaderboards rebuild: Redis failed: {error}", file=sys.stderr)
        return 1
    print(
        f"rebuilt {stats.boards} boards from {stats.ledger_rows} ledger lines and {stats.metric_rows} metric "
        f"events in {stats.seconds:.1f} s: {stats.entries} entries, {stats.keys_written} keys written, "
        f"{stats.keys_removed} stale keys removed; {changed} live topic(s) updated",
        file=sys.stderr,
    )
    return 0


async def rebuild_boards(settings: Settings, *, push: bool = True) -> tuple[RebuildStats, int]:
    """Recompute every Redis leaderboard from the database (progress on stderr); with ``push``, screens
    watching a board then get the difference as one delta. The stats, and how many topics were pushed."""
    from persistence.db import create_engine, session_factory
    from persistence.models import utcnow
    from server.app import prepare_schema
    from server.hub.wiring import redis_client, redis_streams
    from server.services.boards.live import board_topics, open_live_boards
    from server.services.scoring.rules import RulesService

    url = settings.effective_database_url
    await prepare_schema(url)
    engine = create_engine(url)
    redis = redis_client(settings, socket_timeout=30.0)
    try:
        sessions = session_factory(engine)
        rules = RulesService(sessions, settings.rules_file, recheck_seconds=settings.rules_recheck_ms / 1000)
        streams = redis_streams(redis, settings)
        boards = await open_live_boards(settings, streams, sessions, rules)
        stats = await boards.leaderboards.rebuild(sessions, now=utcnow(), on_progress=_Progress())
        changed = 0
        if push:
            # Screens watching a board get the difference as one delta, as for any other change.
            changed = await boards.refresh(board_topics(["xp", *(await rules.rules()).metrics]))
    finally:
        await redis.aclose()
        await engine.dispose()
    return stats, changed


class _Progress:
    """Progress on stderr: each stage's start and end, and every tenth of the way in between."""

    def __init__(self) -> None:
        self.shown: tuple[str, int] = ("", -1)

    def __call__(self, progress: RebuildProgress) -> None:
        tenth = 10 * progress.done // progress.total if progress.total else 10
        if (progress.stage, tenth) != self.shown:
            self.shown = (progress.stage, tenth)
            print(f"{progress.stage}: {progress.done:,}/{progress.total:,}", file=sys.stderr, flush=True)
