"""The uvicorn server `gamif serve` and `gamif run` run: uvicorn's own, with a bounded shutdown that
ends in exit status 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import uvicorn

from server.compat.uvicorn import forget_signal

log = logging.getLogger("uvicorn.error")

GRACEFUL_SHUTDOWN_SECONDS = 6
"""How long connections and requests in flight get on SIGTERM before they are cancelled."""
SHUTDOWN_SECONDS = 9.5
"""The whole shutdown, the application's own included: within the 10 s the README promises."""


class GamifServer(uvicorn.Server):
    """A SIGTERM is the orderly way to stop gamif (a deploy, a scale-in): once the shutdown is complete
    the process exits 0. (uvicorn re-raises the signal instead, so that the process ends killed by
    it.) A shutdown that overruns its bound is cut short: `forced` is then true."""

    forced = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            # SIGINT (Ctrl-C) keeps its usual ending.
            forget_signal(self, signal.SIGTERM)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await super().shutdown(sockets)
        except TimeoutError:
            self.forced = True
            log.error("the shutdown took over %s s: stopping without finishing it", SHUTDOWN_SECONDS)
