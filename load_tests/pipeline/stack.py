"""The system under test: a PostgreSQL database of its own, Redis under a key prefix of its own,
``gamif serve`` (API and ``/ws``), ``gamif worker``, an integration API key, and registered players.

Everything is created for the run and removed after it: the database is dropped, and only the keys
under this run's prefix are deleted from Redis (never FLUSHALL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import httpx
from redis.asyncio import Redis

from load_tests.fanout.hub_target import gamif_executable
from load_tests.fanout.targets import HOST, ServerProcess, TargetError, answers_http, free_port

from .lock_watch import SERVER_APPLICATION, WORKER_APPLICATION

ADMIN_HANDLE = "pipeline-admin"


@dataclass(frozen=True, slots=True)
class Player:
    handle: str
    user_id: str
    token: str


class Stack:
    scores_in_process = False
    """True for a hub that scores what it ingests itself (embedded): no `gamif worker` to start."""

    def __init__(self, postgres_url: str, redis_url: str, *, log_level: str = "warning") -> None:
        self.run_id = uuid.uuid4().hex[:10]
        self.postgres_url = postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.redis_url = redis_url
        self.database = f"gamif_pipeline_{self.run_id}"
        self.prefix = f"gamif-pipeline-{self.run_id}:"
        self.log_level = log_level
        self._password = secrets.token_urlsafe(24)
        self._secret = secrets.token_urlsafe(32)
        self._data = tempfile.TemporaryDirectory(prefix="gamif-pipeline-")
        self.port = free_port()
        # The worker's metrics stay on, as in production, on a port of their own: 9101 may be taken by
        # another gamif worker on this machine.
        self.worker_metrics_port = free_port()
        self.server: ServerProcess | None = None
        self.worker: ServerProcess | None = None
        self.api_key = ""
        self.admin_token = ""
        self._created = False

    @property
    def database_url(self) -> str:
        parts = urlsplit(self.postgres_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{self.database}", parts.query, parts.fragment))

    def environment(self, application: str | None = None) -> dict[str, str]:
        """The processes' environment; ``application`` names their database connections (what
        `pg_stat_activity` shows as ``application_name``: the lock sampling tells workers apart by it)."""
        url = (
            self.database_url
            if application is None
            else f"{self.database_url}?application_name={application}"
        )
        return {
            **os.environ,
            "GAMIF_DATA_DIR": self._data.name,
            "GAMIF_DATABASE_URL": url,
            "GAMIF_REDIS_URL": self.redis_url,
            "GAMIF_REDIS_PREFIX": self.prefix,
            "GAMIF_DRAIN_SECONDS": "0",  # no load balancer to drain for: stop at once
            "GAMIF_JWT_SECRET": self._secret,
            "GAMIF_ACCESS_TOKEN_TTL_SECONDS": "7200",
            "GAMIF_LOG_LEVEL": self.log_level,
            "GAMIF_HOST": HOST,
            "GAMIF_PORT": str(self.port),
            "GAMIF_WORKER_METRICS_PORT": str(self.worker_metrics_port),
        }

    # ------------------------------------------------------------------ lifecycle

    async def prepare(self) -> None:
        """Create the database, migrate it, create the admin, start the API, get an API key."""
        await self._create_database()
        gamif = self._gamif()
        await self._run([gamif, "migrate"], "gamif migrate")
        await self._run(
            [gamif, "create-admin", "--email", "pipeline@example.com", "--handle", ADMIN_HANDLE],
            "gamif create-admin",
            extra={"GAMIF_ADMIN_PASSWORD": self._password},
        )
        self.server = ServerProcess(
            [gamif, "serve", "--port", str(self.port)], env=self.environment(SERVER_APPLICATION)
        )
        await asyncio.to_thread(
            self.server.wait_ready, lambda: answers_http(self.port, "/healthz"), "gamif serve"
        )
        async with self.http() as client:
            login = await client.post(
                "/api/v1/auth/login", json={"login": ADMIN_HANDLE, "password": self._password}
            )
            check_status(login, 200, "admin login")
            token = self.admin_token = login.json()["access_token"]
            created = await client.post(
                "/api/v1/service-accounts",
                json={"name": "pipeline bench", "scopes": ["metrics:write"]},
                headers={"Authorization": f"Bearer {token}"},
            )
            check_status(created, 201, "creating the service account")
            self.api_key = created.json()["api_key"]

    async def _create_database(self) -> None:
        connection = await asyncpg.connect(self.postgres_url)
        try:
            await connection.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await connection.close()
        self._created = True

    def start_worker(self, workers: int, concurrency: int) -> int:
        gamif = self._gamif()
        argv = [gamif, "worker", "--workers", str(workers), "--concurrency", str(concurrency)]
        self.worker = ServerProcess(argv, env=self.environment(WORKER_APPLICATION))
        return self.worker.pid

    def worker_pids(self) -> list[int]:
        """The worker command and its children (taskiq forks one process per worker)."""
        if self.worker is None:
            return []
        return [self.worker.pid, *_descendants(self.worker.pid)]

    async def close(self) -> None:
        for process in (self.worker, self.server):
            if process is not None:
                await asyncio.to_thread(process.stop)
        self.worker = self.server = None
        with contextlib.suppress(Exception):
            await self._forget_keys()
        if self._created:
            connection = await asyncpg.connect(self.postgres_url)
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            finally:
                await connection.close()
            self._created = False
        self._data.cleanup()

    async def _forget_keys(self) -> None:
        redis = Redis.from_url(self.redis_url)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{self.prefix}*", count=1_000)]
            for start in range(0, len(keys), 1_000):
                await redis.delete(*keys[start : start + 1_000])
        finally:
            await redis.aclose()

    # ------------------------------------------------------------------ players

    def http(self, timeout: float = 120.0) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        return httpx.AsyncClient(base_url=f"http://{HOST}:{self.port}", timeout=timeout, limits=limits)

    async def register(self, count: int, concurrency: int = 4) -> list[Player]:
        """`count` players (argon2 makes this the slow part of setting up: a few at a time)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(client: httpx.AsyncClient, index: int) -> Player:
            handle = f"p{self.run_id[:6]}{index}"
            async with gate:
                answer = await client.post(
                    "/api/v1/auth/register",
                    json={
                        "email": f"{handle}@example.com",
                        "password": self._password,
                        "handle": handle,
                        "display_name": f"Player {index}",
                    },
                )
            check_status(answer, 201, f"registering {handle}")
            body = answer.json()
            return Player(handle, body["user"]["id"], body["tokens"]["access_token"])

        async with self.http() as client:
            return list(await asyncio.gather(*(one(client, index) for index in range(count))))

    # ------------------------------------------------------------------ database

    async def scored_count(self) -> int:
        connection = await asyncpg.connect(self.database_url)
        try:
            return int(await connection.fetchval("SELECT count(*) FROM metric_events"))
        finally:
            await connection.close()

    async def backend_pids(self) -> list[int]:
        """The PostgreSQL backends serving this run's database (its CPU, read from /proc)."""
        connection = await asyncpg.connect(self.postgres_url)
        try:
            rows = await connection.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.database,
            )
        finally:
            await connection.close()
        return [int(row["pid"]) for row in rows]

    async def connect_database(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url)

    # ------------------------------------------------------------------ helpers

    def _gamif(self) -> str:
        gamif = gamif_executable()
        if gamif is None:
            raise TargetError("the gamif command is not installed (pip install -e .)")
        return gamif

    async def _run(self, argv: list[str], what: str, extra: dict[str, str] | None = None) -> None:
        done = await asyncio.to_thread(
            subprocess.run,
            argv,
            env={**self.environment(), **(extra or {})},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise TargetError(f"{what} failed:\n{done.stdout}{done.stderr}")


def check_status(answer: httpx.Response, status: int, what: str) -> None:
    """Raise a `TargetError` saying what failed unless the API answered `status`."""
    if answer.status_code != status:
        raise TargetError(f"{what} answered {answer.status_code}: {answer.text[:500]}")


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            for child in map(int, children.read().split()):
                found += [child, *_descendants(child)]
    except OSError:
        pass
    return found
