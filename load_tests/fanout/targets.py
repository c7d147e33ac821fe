"""The servers under test: how to start one, reach its subscribers, publish to them, and stop it.

A `Target` runs one server process at a time (`start`/`stop`, or ``with target.running():``). The two
baselines live here; the hub, which needs a database, a user, a team and Redis, in `hub_target`.
"""

from __future__ import annotations

import abc
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from .commands import ConnectSpec
from .hub_wire import SUBPROTOCOL

HOST = "127.0.0.1"


class TargetError(RuntimeError):
    """The server failed to start or to answer."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Published:
    seconds: float
    """How long the publishing call took: the server's own send loop for the baselines, the Redis
    round trips for the hub (its fan-out happens after)."""


LOG_DIR = "GAMIF_LOAD_LOG_DIR"
"""Where to keep the servers' output (a file per process, named by its command), instead of a temporary
file that goes with the run: set it to read a hub's or a worker's log after a run."""


class ServerProcess:
    """A server subprocess whose output goes to a file (never a pipe it could block on), shown when it
    fails; kept in ``$GAMIF_LOAD_LOG_DIR`` when that is set."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self._log: IO[bytes]
        keep = os.environ.get(LOG_DIR)
        if keep:
            name = "-".join(Path(part).name for part in argv[:2])
            self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
                dir=keep, prefix=f"{name}-", suffix=".log", delete=False
            )
        else:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(argv), env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-4000:]

    def wait_ready(self, probe: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """Poll `probe` until it says the server answers, failing fast if the process exits."""
        deadline = time.monotonic() + timeout
        while not probe():
            if self.process.poll() is not None:
                raise TargetError(f"{what} exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise TargetError(f"{what} not ready within {timeout:.0f} s:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> str:
        """Stop the process; return the end of its output."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        output = self.output()
        self._log.close()
        return output


def http_json(
    port: int, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """One HTTP request to the server under test; (status, decoded JSON body or None)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        connection.close()


def answers_http(port: int, path: str) -> bool:
    try:
        status, _ = http_json(port, "GET", path)
    except (OSError, http.client.HTTPException, ValueError):
        return False
    return status == 200


class Target(abc.ABC):
    name: str
    description: str

    def __init__(self, payload_size: int) -> None:
        self.payload_size = payload_size
        self.server: ServerProcess | None = None
        self.port = 0
        self.server_output = ""
        """The end of what the last server process printed (its errors), once stopped."""

    def unavailable(self) -> str | None:
        """Why this target cannot run here, or None."""
        return None

    measures_memory = True
    """Whether the memory phase runs on this target (its server's RSS per idle connection)."""

    @property
    def pid(self) -> int:
        assert self.server is not None, "the target is not running"
        return self.server.pid

    @property
    def server_pids(self) -> list[int]:
        """The processes whose CPU is the server's (several hubs count together)."""
        return [self.pid]

    @property
    def balancer_pid(self) -> int | None:
        """A load balancer in front of the server, whose CPU is reported apart; None: none."""
        return None

    @abc.abstractmethod
    def spec(self, strict: bool) -> ConnectSpec:
        """How a subscriber connects (valid while the target runs)."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start a fresh server process and wait until it answers."""

    def stop(self) -> None:
        if self.server is not None:
            self.server_output = self.server.stop()
            self.server = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self.start()
        try:
            yield
        finally:
            self.stop()

    @abc.abstractmethod
    def wait_subscribers(self, count: int, timeout: float = 60.0) -> None:
        """Return once the server holds `count` subscribers (a client may be ready before the server's
        handler has stored its socket)."""

    @abc.abstractmethod
    def publish(self, messages: int) -> Published:
        """Send `messages` messages to every subscriber, as fast as the server takes them."""

    @abc.abstractmethod
    def collect_garbage(self) -> None:
        """Let the server free what it can before a memory sample (the baselines run ``gc.collect()``)."""

    def close(self) -> None:
        """Release what the target keeps between its server runs."""
        self.stop()


def _poll_count(count_now: Callable[[], int], count: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while (seen := count_now()) != count:
        if time.monotonic() > deadline:
            raise TargetError(f"{what} holds {seen} subscribers, expected {count}")
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------- baselines


class StarletteTarget(Target):
    name = "starlette"
    description = "bare Starlette under uvicorn: for ws in conns: await ws.send_bytes(payload)"

    def spec(self, strict: bool) -> ConnectSpec:
        return ConnectSpec(HOST, self.port, "/ws", SUBPROTOCOL)

    def start(self) -> None:
        self.port = free_port()
        module = "load_tests.fanout.baseline_starlette"
        self.server = ServerProcess([sys.executable, "-m", module, "--port", str(self.port)])
        self.server.wait_ready(lambda: answers_http(self.port, "/count"), self.name)

    def wait_subscribers(self, count: int, timeout: float = 60.0) -> None:
        _poll_count(
            lambda: int(http_json(self.port, "GET", "/count")[1]["connections"]), count, timeout, self.name
        )

    def publish(self, messages: int) -> Published:
        status, body = http_json(
            self.port, "POST", "/publish", {"messages": messages, "size": self.payload_size}
        )
        if status != 200:
            raise TargetError(f"{self.name}: POST /publish answered {status}")
        return Published(float(body["seconds"]))

    def collect_garbage(self) -> None:
        http_json(self.port, "POST", "/gc")


class WebsocketsTarget(Target):
    name = "websockets"
    description = "websockets.asyncio.server.serve, websockets.broadcast(conns, payload)"

    def __init__(self, payload_size: int) -> None:
        super().__init__(payload_size)
        self._control: ClientConnection | None = None
        self._closing = contextlib.ExitStack()

    def spec(self, strict: bool) -> ConnectSpec:
        return ConnectSpec(HOST, self.port, "/ws", SUBPROTOCOL)

    def start(self) -> None:
        self.port = free_port()
        module = "load_tests.fanout.baseline_websockets"
        self.server = ServerProcess([sys.executable, "-m", module, "--port", str(self.port)])
        self.server.wait_ready(self._open_control, self.name)

    def _open_control(self) -> bool:
        try:
            connecting = ws_connect(
                f"ws://{HOST}:{self.port}/control",
                compression=None,
                subprotocols=[Subprotocol(SUBPROTOCOL)],
                open_timeout=5,
            )
            self._control = self._closing.enter_context(connecting)
        except OSError:
            return False
        return True

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._control is not None
        self._control.send(json.dumps(command))
        reply: dict[str, Any] = json.loads(self._control.recv(timeout=600))
        return reply

    def wait_subscribers(self, count: int, timeout: float = 60.0) -> None:
        _poll_count(lambda: int(self._ask({"op": "count"})["connections"]), count, timeout, self.name)

    def publish(self, messages: int) -> Published:
        reply = self._ask({"op": "publish", "messages": messages, "size": self.payload_size})
        return Published(float(reply["seconds"]))

    def collect_garbage(self) -> None:
        self._ask({"op": "gc"})

    def stop(self) -> None:
        self._closing.close()
        self._control = None
        super().stop()
