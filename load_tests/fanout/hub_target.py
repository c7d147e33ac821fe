"""The gamif hub as a fan-out target: ``gamif serve`` on a throwaway SQLite database, Redis under a key
prefix of its own, one admin whose token every subscriber uses (N tabs of one user), and the team
``bench`` whose topic they all watch.

Publishing takes the production path: `Publisher.publish` appends to the topic's Redis stream and
publishes on the bus, from which every hub process fans out (this one included). So this tool, unlike
the rest of load_tests/, imports `server.hub`; it does so lazily, inside the methods that need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .commands import ConnectSpec
from .hub_wire import SUBPROTOCOL, hello_frames
from .targets import HOST, Published, ServerProcess, Target, TargetError, answers_http, free_port, http_json

if TYPE_CHECKING:
    from server.hub.publish import Publisher

TEAM = "bench"
TOPIC = f"team:{TEAM}"
ADMIN_HANDLE = "bench"
_PUBLISH_CHUNK = 500  # changes per pipelined round trip to Redis


def gamif_executable() -> str | None:
    """The ``gamif`` command of this Python's environment (else the one on the PATH), or None."""
    beside = Path(sys.executable).parent / "gamif"
    return str(beside) if beside.exists() else shutil.which("gamif")


class HubTarget(Target):
    name = "hub"
    description = "gamif hub (gamif serve, /ws), deltas published through Redis by server.hub.publish"

    def __init__(
        self, payload_size: int, redis_url: str, *, metrics: bool = True, scrape_every: float = 0.0
    ) -> None:
        super().__init__(payload_size)
        if not metrics:
            self.name = "hub-metrics-off"
            self.description = f"{self.description}; Prometheus metrics off (GAMIF_METRICS=0)"
        elif scrape_every > 0:
            self.description = f"{self.description}; /metrics scraped every {scrape_every:g} s"
        self.redis_url = redis_url
        self.metrics = metrics
        self.scrape_every = scrape_every
        self._scraper: threading.Thread | None = None
        self._stop_scraping = threading.Event()
        self.scrapes = 0
        self.prefix = f"gamif-fanout-{uuid.uuid4().hex[:12]}:"
        self._password = secrets.token_urlsafe(24)
        self._secret = secrets.token_urlsafe(32)
        self._data: tempfile.TemporaryDirectory[str] | None = None
        self._token: str | None = None
        self._loop: asyncio.Runner | None = None
        self._redis: Redis | None = None
        self._publisher: Publisher | None = None
        self._value = 0

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("server.hub.endpoint") is None:
            return "the hub's WebSocket endpoint (server/hub/endpoint.py, GET /ws) is not there yet"
        if gamif_executable() is None:
            return "the gamif command is not installed (pip install -e .)"
        try:
            self._runner().run(self._ping())
        except Exception as error:
            return f"Redis at {self.redis_url} does not answer ({error!r})"
        return None

    async def _ping(self) -> None:
        await self._connected_redis().ping()

    # ------------------------------------------------------------------ server

    def _environment(self) -> dict[str, str]:
        assert self._data is not None
        return {
            **os.environ,
            "GAMIF_DATA_DIR": self._data.name,
            "GAMIF_REDIS_URL": self.redis_url,
            "GAMIF_REDIS_PREFIX": self.prefix,
            "GAMIF_DRAIN_SECONDS": "0",  # no load balancer to drain for: stop at once
            "GAMIF_JWT_SECRET": self._secret,
            "GAMIF_ACCESS_TOKEN_TTL_SECONDS": "3600",
            "GAMIF_LOG_LEVEL": "warning",
            "GAMIF_HOST": HOST,
            "GAMIF_METRICS": "1" if self.metrics else "0",
        }

    def _prepare(self) -> None:
        """The database and its admin, once for every server run of this target."""
        self._data = tempfile.TemporaryDirectory(prefix="gamif-fanout-")
        gamif = gamif_executable()
        assert gamif is not None
        created = subprocess.run(
            [gamif, "create-admin", "--email", "bench@example.com", "--handle", ADMIN_HANDLE],
            env={**self._environment(), "GAMIF_ADMIN_PASSWORD": self._password},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if created.returncode != 0:
            raise TargetError(f"gamif create-admin failed:\n{created.stdout}{created.stderr}")

    def start(self) -> None:
        if self._data is None:
            self._prepare()
        gamif = gamif_executable()
        assert gamif is not None
        self.port = free_port()
        self.server = ServerProcess([gamif, "serve", "--port", str(self.port)], env=self._environment())
        self.server.wait_ready(lambda: answers_http(self.port, "/healthz"), "gamif serve")
        if self._token is None:
            self._token = self._log_in()
            self._create_team(self._token)
        if self.metrics and self.scrape_every > 0:
            self._stop_scraping.clear()
            self._scraper = threading.Thread(target=self._scrape, args=(self.port,), daemon=True)
            self._scraper.start()

    def _scrape(self, port: int) -> None:
        """Read /metrics every `scrape_every` seconds, as Prometheus would, while the server runs."""
        while not self._stop_scraping.wait(self.scrape_every):
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as r,
            ):
                r.read()
                self.scrapes += 1

    def stop(self) -> None:
        self._stop_scraping.set()
        if self._scraper is not None:
            self._scraper.join(timeout=15)
            self._scraper = None
        super().stop()

    def _log_in(self) -> str:
        status, body = http_json(
            self.port, "POST", "/api/v1/auth/login", {"login": ADMIN_HANDLE, "password": self._password}
        )
        if status != 200:
            raise TargetError(f"login answered {status}: {body}")
        return str(body["access_token"])

    def _create_team(self, token: str) -> None:
        status, body = http_json(
            self.port, "POST", "/api/v1/teams", {"slug": TEAM, "name": "Fan-out bench"}, token=token
        )
        if status not in (201, 409):  # 409: it exists already
            raise TargetError(f"creating the team answered {status}: {body}")

    def spec(self, strict: bool) -> ConnectSpec:
        assert self._token is not None
        return ConnectSpec(
            HOST,
            self.port,
            "/ws",
            SUBPROTOCOL,
            hub=True,
            hello=hello_frames(self._token, TOPIC),
            topic=TOPIC,
            strict=strict,
        )

    def wait_subscribers(self, count: int, timeout: float = 60.0) -> None:
        """Nothing to wait for: a client is ready once ``subscribed`` arrives, when the hub already
        delivers the topic's deltas to it."""

    def collect_garbage(self) -> None:
        """Nothing to trigger from outside: `procfs.settled_memory` waits for RSS to stop moving."""

    # ------------------------------------------------------------------ publishing

    def publish(self, messages: int) -> Published:
        from server.hub.publish import TopicChange

        changes = []
        for _ in range(messages):
            self._value += 1
            changes.append(TopicChange(TOPIC, [["set", ["n"], self._value]]))
        publisher = self._ensure_publisher()
        started = time.perf_counter()
        for start in range(0, len(changes), _PUBLISH_CHUNK):
            self._runner().run(publisher.publish(changes[start : start + _PUBLISH_CHUNK]))
        return Published(time.perf_counter() - started)

    def _ensure_publisher(self) -> Publisher:
        if self._publisher is None:
            from server.hub.publish import Publisher
            from server.hub.redis import RedisStreams

            self._publisher = Publisher(RedisStreams(self._connected_redis(), prefix=self.prefix))
        return self._publisher

    def _runner(self) -> asyncio.Runner:
        """One event loop for every Redis call of the run (the driver is otherwise synchronous)."""
        if self._loop is None:
            # With a loop factory, the runner leaves the thread's current event loop alone.
            self._loop = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        return self._loop

    def _connected_redis(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self.redis_url, decode_responses=False, socket_timeout=10)
        return self._redis

    # ------------------------------------------------------------------ cleaning up

    def close(self) -> None:
        self.stop()
        if self._loop is not None:
            if self._redis is not None:
                # Left behind if Redis went away: the hub's keys expire (streams.py's idle TTL).
                with contextlib.suppress(RedisError, OSError):
                    self._loop.run(self._forget_keys(self._redis))
            self._loop.close()
            self._loop = None
        self._redis = self._publisher = None
        if self._data is not None:
            self._data.cleanup()
            self._data = None

    async def _forget_keys(self, redis: Redis) -> None:
        """Delete this run's keys, and only them (the prefix is unique to the run)."""
        try:
            keys = [key async for key in redis.scan_iter(match=f"{self.prefix}*", count=1_000)]
            for start in range(0, len(keys), 1_000):
                await redis.delete(*keys[start : start + 1_000])
        finally:
            await redis.aclose()
