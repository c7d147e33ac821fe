"""PostgreSQL and Redis servers of a test's own, that it may stop, kill and start again (never the shared
ones): a PostgreSQL stopped ``immediate`` (its processes quit at once, mid-transaction, as in a crash)
and a Redis killed with SIGKILL, both restarted on the same port with their data.

Redis keeps its data in an append-only file written before each command is answered (``appendfsync
always``), as a deployment that must not lose its queue runs it. PostgreSQL runs with ``fsync=off`` (the
machine does not crash here, only the server) but synchronous commits: a commit it acknowledged is in
its WAL when its processes are killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from redis.asyncio import Redis

from tests.services import free_port, postgres_bindir

START_TIMEOUT_S = 60


class ThrowawayPostgres:
    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.workdir = Path(tempfile.mkdtemp(prefix="gamif-fault-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and the server refuse to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(self.workdir, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        result = subprocess.run(
            [*self.as_user, *argv], capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}"
            )

    async def create(self) -> None:
        initdb = str(self.bindir / "initdb")
        args = ("-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
        await asyncio.to_thread(self._run, initdb, *args)
        await self.start()

    async def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.workdir} "
            "-c fsync=off -c full_page_writes=off"
        )
        pg_ctl = str(self.bindir / "pg_ctl")
        log = str(self.workdir / "server.log")
        args = ("-D", str(self.data), "-l", log, "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start")
        await asyncio.to_thread(self._run, pg_ctl, *args)

    async def stop_immediately(self) -> None:
        """``pg_ctl stop -m immediate``: every server process quits at once, open transactions cut."""
        await asyncio.to_thread(
            self._run, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
        )

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)


class ThrowawayRedis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no redis-server on PATH")
        self.binary = binary
        self.workdir = Path(tempfile.mkdtemp(prefix="gamif-fault-redis-"))
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", ""),
            *("--appendonly", "yes", "--appendfsync", "always"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while True:
                    with contextlib.suppress(Exception):  # refused, or still loading its data
                        if await client.ping():
                            return
                    if self.process.returncode is not None:
                        raise RuntimeError(f"redis-server exited with {self.process.returncode}")
                    await asyncio.sleep(0.05)  # polling: a server coming up announces nothing to await
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """SIGTERM: a clean shutdown (the append-only file is complete)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(START_TIMEOUT_S):
                await self.process.wait()

    async def kill(self) -> None:
        """SIGKILL: no shutdown, nothing saved but what the append-only file already holds."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    def remove(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
