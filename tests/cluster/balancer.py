"""The compose stack's topology without Docker, for the tests: a migrated PostgreSQL database, two
`gamif serve` processes on Redis, a `gamif worker`, and HAProxy (Debian's binary) in front of the hubs
with the stack's own configuration file, infrastructure/haproxy/haproxy.cfg (only its environment
variables differ: the hubs' addresses and the ports it listens on)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.hub.cluster import GAMIF, GamifProcess, HubProcess, Worker, admin_token, hub_env
from tests.polling import until
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "infrastructure" / "haproxy" / "haproxy.cfg"
HUB_NAMES = ("hub1", "hub2")
"""The servers of the configuration's `hubs` backend, as in the compose stack."""


def haproxy_binary() -> str:
    """HAProxy from the distribution's package: the test fails, never skips, without it."""
    found = shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(path, os.X_OK)), None
    )
    if found is None:
        raise AssertionError("HAProxy is not installed: apt-get install haproxy (.ci/run installs it)")
    return found


class Haproxy(GamifProcess):
    """HAProxy in the foreground (``-db``) on infrastructure/haproxy/haproxy.cfg, its servers and ports
    given by the environment variables the file reads."""

    def __init__(self, hubs: dict[str, str]) -> None:
        self.port, self.stats_port = free_port(), free_port()
        super().__init__(
            {
                "HUB1": hubs["hub1"],
                "HUB2": hubs["hub2"],
                "LB_BIND": f"127.0.0.1:{self.port}",
                "STATS_BIND": f"127.0.0.1:{self.stats_port}",
            }
        )

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        binary = haproxy_binary()
        checked = await asyncio.to_thread(
            subprocess.run,
            [binary, "-c", "-f", str(HAPROXY_CFG)],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        self.output = []
        self.process = await asyncio.create_subprocess_exec(
            binary,
            "-db",
            "-f",
            str(HAPROXY_CFG),
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._drain = asyncio.create_task(self._read_rest())
        await until(self._answers, "HAProxy's stats page")

    async def _answers(self) -> bool:
        assert self.process is not None
        assert self.process.returncode is None, "HAProxy exited:\n" + "".join(self.output)
        try:
            await self.servers()
        except httpx.HTTPError:
            return False
        return True

    async def servers(self) -> dict[str, dict[str, str]]:
        """The `hubs` backend's servers as the stats page's CSV shows them (``status``: UP, DOWN, ...;
        ``scur``: current sessions; ``stot``: sessions so far)."""
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"http://127.0.0.1:{self.stats_port}/;csv")
        response.raise_for_status()
        rows = csv.DictReader(io.StringIO(response.text.removeprefix("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "hubs" and row["svname"] in HUB_NAMES}

    async def status(self, name: str) -> str:
        return (await self.servers())[name]["status"]

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGUSR1)  # a soft stop: it ends once its connections close
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await self._drain


@dataclass
class Balanced:
    """Two hubs behind HAProxy, a worker scoring what they queue."""

    hubs: dict[str, HubProcess]
    lb: Haproxy
    worker: Worker
    env: dict[str, str]
    admin: str
    """An admin's access token."""

    async def hub_sessions(self) -> dict[str, int]:
        """Each running hub's authenticated sessions, asked of the hub itself (not through the
        balancer)."""
        counts = {}
        headers = {"Authorization": f"Bearer {self.admin}"}
        async with httpx.AsyncClient(headers=headers, timeout=10) as http:
            for name, hub in self.hubs.items():
                if hub.process is None or hub.process.returncode is not None:
                    continue
                response = await http.get(f"{hub.http}/api/v1/hub")
                assert response.status_code == 200, response.text
                counts[name] = int(response.json()["sessions"])
        return counts

    async def api_key(self) -> str:
        """An integration's API key (metrics:write), made through the balancer."""
        headers = {"Authorization": f"Bearer {self.admin}"}
        async with httpx.AsyncClient(base_url=self.lb.http, headers=headers, timeout=30) as http:
            body = {"name": "CI", "scopes": ["metrics:write"]}
            created = await http.post("/api/v1/service-accounts", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["api_key"])


async def migrate(env: dict[str, str]) -> None:
    """`gamif migrate`, as the compose stack's one-shot `migrate` service runs it."""
    done = await asyncio.to_thread(
        subprocess.run,
        [GAMIF, "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@contextlib.asynccontextmanager
async def balanced(
    database_url: str, redis_url: str, prefix: str, data_dir: Path, **settings: str
) -> AsyncIterator[Balanced]:
    """The stack on an empty database: migrated, two hubs, a worker, HAProxy with both hubs UP.
    `settings` are more GAMIF_* variables for the hubs."""
    env = hub_env(database_url, redis_url, prefix, data_dir)
    # Behind HAProxy, which replaces X-Forwarded-For with the peer it sees (haproxy.cfg).
    env |= {"GAMIF_CLIENT_IP_HEADER": "X-Forwarded-For", **settings}
    await migrate(env)
    hubs = {name: HubProcess(name, env) for name in HUB_NAMES}
    worker = Worker(env)
    lb = Haproxy({name: f"127.0.0.1:{hub.port}" for name, hub in hubs.items()})
    try:
        await asyncio.gather(*(hub.start() for hub in hubs.values()), worker.start())
        await lb.start()

        async def all_up() -> bool:
            return {row["status"] for row in (await lb.servers()).values()} == {"UP"}

        await until(all_up, "HAProxy's health checks finding both hubs UP")
        admin = await admin_token(lb.http, env)
        yield Balanced(hubs, lb, worker, env, admin)
    finally:
        await lb.stop()
        # What a test left running (a SIGTERM would start a drain): its shutdown is tested elsewhere.
        await asyncio.gather(
            *(hub.stop(signal.SIGKILL) for hub in hubs.values()), worker.kill(signal.SIGTERM)
        )
        for name, process in [*hubs.items(), ("haproxy", lb)]:  # shown by pytest when the test fails
            print(f"--- {name} output ---\n" + "".join(process.output))
