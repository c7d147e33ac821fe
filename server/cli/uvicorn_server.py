"""The uvicorn server `gamif serve` and `gamif run` run: uvicorn's own, with a drain before the shutdown
(behind a load balancer) and a bounded shutdown that ends in exit status 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from server.compat.uvicorn import forget_signal

log = logging.getLogger("uvicorn.error")

GRACEFUL_SHUTDOWN_SECONDS = 6
"""How long connections and requests in flight get on SIGTERM before they are cancelled."""
SHUTDOWN_SECONDS = 9.5
"""The whole shutdown, the application's own included: within the 10 s the README promises (after
the drain)."""


class GamifServer(uvicorn.Server):
    """A SIGTERM is the orderly way to stop gamif (a deploy, a scale-in): once the shutdown is complete
    the process exits 0. (uvicorn re-raises the signal instead, so that the process ends killed by
    it.) A shutdown that overruns its bound is cut short: `forced` is then true.

    With `drain_seconds`, a SIGTERM first starts a drain: `on_drain` is called at once (the app's
    `/readyz` then answers 503, so that a load balancer's health check takes the node out of rotation)
    while everything keeps being served, still listening (the health check must get its 503); the
    shutdown starts when the drain ends, or at a second SIGTERM or a SIGINT."""

    forced = False

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        drain_seconds: float = 0,
        on_drain: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.on_drain = on_drain
        self.draining_until: float | None = None
        """When the drain ends (monotonic), once a SIGTERM started it."""
        self._drain_announced = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            # SIGINT (Ctrl-C) keeps its usual ending.
            forget_signal(self, signal.SIGTERM)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first_term = sig == signal.SIGTERM and self.draining_until is None and not self.should_exit
        if first_term and self.drain_seconds > 0:
            # In a signal handler: only flags here (a log call could deadlock on the logging lock);
            # `on_tick` says it on the loop.
            self.draining_until = time.monotonic() + self.drain_seconds
            if self.on_drain is not None:
                self.on_drain()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.draining_until is not None and not self.should_exit:
            if not self._drain_announced:
                self._drain_announced = True
                log.info(
                    "draining for %g s: /readyz answers 503, sessions go on (a second SIGTERM stops now)",
                    self.drain_seconds,
                )
            if time.monotonic() >= self.draining_until:
                log.info("drained: closing the sessions and stopping")
                self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await super().shutdown(sockets)
        except TimeoutError:
            self.forced = True
            log.error("the shutdown took over %s s: stopping without finishing it", SHUTDOWN_SECONDS)
