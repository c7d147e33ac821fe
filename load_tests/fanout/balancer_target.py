"""The hub behind HAProxy as a fan-out target: one or two ``gamif serve`` processes on one Redis (the
run's own prefix), HAProxy in front of them with the compose stack's configuration file
(infrastructure/haproxy/haproxy.cfg, its servers and ports from environment variables), and the
subscribers connecting to HAProxy, which spreads them over the hubs (leastconn).

With one hub, both of the configuration's servers point at it: the same HAProxy, the same path, one
hub process. The server CPU is the hubs' together; HAProxy's own is reported beside it.
"""

from __future__ import annotations

import csv
import functools
import http.client
import io
import os
import shutil
import time
from pathlib import Path

from .hub_target import HubTarget, gamif_executable
from .targets import HOST, ServerProcess, TargetError, answers_http, free_port

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "infrastructure" / "haproxy" / "haproxy.cfg"
SERVERS = ("hub1", "hub2")
"""The servers of the configuration's `hubs` backend."""


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(path, os.X_OK)), None
    )


class BalancedHubTarget(HubTarget):
    """`hubs` gamif hubs behind HAProxy (see the module docstring)."""

    measures_memory = False
    """Memory per connection is the hub's own: the plain ``hub`` target measures it."""

    def __init__(self, payload_size: int, redis_url: str, hubs: int) -> None:
        super().__init__(payload_size, redis_url)
        if hubs not in (1, 2):
            raise ValueError("1 or 2 hubs (the configuration's backend has two servers)")
        self.hubs = hubs
        self.name = f"lb-{hubs}-hub{'s' if hubs > 1 else ''}"
        self.description = (
            f"{hubs} gamif hub{'s' if hubs > 1 else ''} (gamif serve) behind HAProxy (leastconn)"
        )
        self._hub_servers: list[ServerProcess] = []
        self._hub_ports: list[int] = []
        self._stats_port = 0
        self.split: dict[str, int] = {}
        """Sessions per HAProxy server at the last `wait_subscribers`."""

    def unavailable(self) -> str | None:
        if haproxy_binary() is None:
            return "HAProxy is not installed (apt-get install haproxy)"
        return super().unavailable()

    @property
    def server_pids(self) -> list[int]:
        return [server.pid for server in self._hub_servers]

    @property
    def balancer_pid(self) -> int | None:
        return self.pid

    def start(self) -> None:
        if self._data is None:
            self._prepare()
        gamif = gamif_executable()
        binary = haproxy_binary()
        assert gamif is not None
        assert binary is not None
        self._hub_ports = [free_port() for _ in range(self.hubs)]
        self._hub_servers = [
            ServerProcess([gamif, "serve", "--port", str(port)], env=self._environment())
            for port in self._hub_ports
        ]
        for port, server in zip(self._hub_ports, self._hub_servers, strict=True):
            server.wait_ready(functools.partial(answers_http, port, "/readyz"), "gamif serve")
        addresses = [f"{HOST}:{port}" for port in self._hub_ports]
        self.port, self._stats_port = free_port(), free_port()
        env = {
            **os.environ,
            "HUB1": addresses[0],
            "HUB2": addresses[-1],  # one hub: both servers are it
            "LB_BIND": f"{HOST}:{self.port}",
            "STATS_BIND": f"{HOST}:{self._stats_port}",
        }
        # The target's `server` is HAProxy: the pool connects to it, and its pid is the balancer's.
        self.server = ServerProcess([binary, "-db", "-f", str(HAPROXY_CFG)], env=env)
        self.server.wait_ready(self._all_up, "HAProxy with every hub UP")
        if self._token is None:
            self._token = self._log_in()
            self._create_team(self._token)

    def _servers(self) -> dict[str, dict[str, str]] | None:
        """The `hubs` backend's servers on HAProxy's stats page (CSV), or None if it does not answer."""
        try:
            connection = http.client.HTTPConnection(HOST, self._stats_port, timeout=5)
            try:
                connection.request("GET", "/;csv")
                text = connection.getresponse().read().decode()
            finally:
                connection.close()
        except (OSError, http.client.HTTPException):
            return None
        rows = csv.DictReader(io.StringIO(text.removeprefix("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "hubs" and row["svname"] in SERVERS}

    def _all_up(self) -> bool:
        servers = self._servers()
        return servers is not None and all(servers.get(name, {}).get("status") == "UP" for name in SERVERS)

    def wait_subscribers(self, count: int, timeout: float = 60.0) -> None:
        """Once every subscriber is connected (through HAProxy), check that with two hubs both got some
        (leastconn spreads them); the split is kept in `split`."""
        deadline = time.monotonic() + timeout
        while True:
            servers = self._servers() or {}
            self.split = {name: int(row.get("scur") or 0) for name, row in servers.items()}
            if sum(self.split.values()) == count:
                break
            if time.monotonic() > deadline:
                raise TargetError(f"HAProxy holds {self.split} sessions, expected {count} in all")
            time.sleep(0.05)
        if self.hubs == 2 and count >= 2 and min(self.split.values()) == 0:
            raise TargetError(f"HAProxy sent every subscriber to one hub: {self.split}")

    def stop(self) -> None:
        super().stop()  # HAProxy first: the hubs' sessions end with it
        outputs = [server.stop() for server in self._hub_servers]
        self._hub_servers = []
        if outputs:
            self.server_output = "\n".join(filter(None, [self.server_output, *outputs]))[-4000:]
