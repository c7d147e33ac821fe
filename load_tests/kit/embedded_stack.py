"""An embedded hub as a run's own target: ``gamif serve`` on a throwaway SQLite data directory and no
Redis, so that it queues ingested batches in SQLite and scores them in its own process (the event loop
that also serves the sockets). No database server, no Redis keys and no worker: removing the data
directory after the run removes everything.

The same `Stack` otherwise (admin, API key, admin-API users), so `load_tests.kit.target.OwnStack` drives
it like any other stack of the run's own.
"""

from __future__ import annotations

import asyncio
import os

from load_tests.fanout.targets import HOST, TargetError
from load_tests.pipeline.stack import Stack

_NOT_EMBEDDED = ("GAMIF_DATABASE_URL", "GAMIF_REDIS_URL", "GAMIF_REDIS_PREFIX", "GAMIF_DATA_DIR")
"""Settings of the caller's environment that would point the hub at shared stores (or another data
directory): left out. Any other ``GAMIF_`` setting is passed on, to try one out under load."""


class EmbeddedStack(Stack):
    scores_in_process = True

    def __init__(self, *, log_level: str = "warning") -> None:
        super().__init__("postgresql://unused", "redis://unused", log_level=log_level)

    def environment(self, application: str | None = None) -> dict[str, str]:
        """No database connections to name (``application``): SQLite, in the hub's own process."""
        kept = {key: value for key, value in os.environ.items() if key not in _NOT_EMBEDDED}
        return {
            **kept,
            "GAMIF_DATA_DIR": self._data.name,
            "GAMIF_DRAIN_SECONDS": "0",  # no load balancer to drain for: stop at once
            "GAMIF_JWT_SECRET": self._secret,
            "GAMIF_ACCESS_TOKEN_TTL_SECONDS": "7200",
            "GAMIF_LOG_LEVEL": self.log_level,
            "GAMIF_HOST": HOST,
            "GAMIF_PORT": str(self.port),
        }

    async def _create_database(self) -> None:
        """Nothing to create: `gamif migrate` makes the SQLite file in the data directory."""

    def start_worker(self, workers: int, concurrency: int) -> int:
        raise TargetError("an embedded hub scores in its own process: there is no worker to start")

    async def close(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        self.server = None
        self._data.cleanup()
