"""Real hub processes for the end-to-end tests: `gamif serve` under uvicorn, sharing PostgreSQL and
Redis, and a raw protocol connection to drive them frame by frame."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol import (
    SERVER_FRAME_LIMITS,
    Batch,
    Delta,
    Encoding,
    Message,
    Outcome,
    TopicMirror,
    decode,
    encode_value,
)
from tests.services import free_port

GAMIF = str(Path(sys.executable).parent / "gamif")
STARTED = "Uvicorn running on"
"""What uvicorn prints once it listens (its "Application startup complete" comes before the bind)."""
JWT_SECRET = "test-secret-for-the-hub-tests-0123456789abcdef"
ADMIN_PASSWORD = "an admin password"
"""The password of the admin `admin_token` creates (handle ``root``)."""


class GamifProcess:
    """A `gamif` command run as a process; `output` collects what it prints."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def spawn(self, args: list[str], ready: str, what: str, **options: Any) -> None:
        """Start it and return once it prints a line containing `ready` (no guessing how long that takes)."""
        self.output = []
        self.process = await asyncio.create_subprocess_exec(
            GAMIF,
            *args,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            **options,
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = (await self.process.stdout.readline()).decode(errors="replace")
                if not line:
                    raise AssertionError(f"{what} exited before it was ready:\n" + "".join(self.output))
                self.output.append(line)
                if ready in line:
                    break
        # Keep reading, so that the process never blocks on a full pipe.
        self._drain = asyncio.create_task(self._read_rest())

    async def _read_rest(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.output.append(line.decode(errors="replace"))


class HubProcess(GamifProcess):
    """One `gamif serve` process."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        super().__init__(env)
        self.name = name
        self.port = free_port()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        await self.spawn(["serve", "--port", str(self.port)], STARTED, f"hub {self.name}")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        process = self.process
        if process is None or process.returncode is not None:
            return process.returncode if process is not None and process.returncode is not None else 0
        process.send_signal(sig)
        async with asyncio.timeout(30):
            code = await process.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await self._drain
        return code


class Worker(GamifProcess):
    """One `gamif worker` process (taskiq's supervisor and its worker child, in their own group)."""

    async def start(self) -> None:
        # In a session of its own: a signal to the group reaches taskiq's child process too.
        await self.spawn(["worker", "--workers", "1"], "worker ready", "the worker", start_new_session=True)

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        async with asyncio.timeout(30):
            await self.process.wait()
        if self._drain is not None:
            self._drain.cancel()


def hub_env(database_url: str, redis_url: str | None, prefix: str, data_dir: Path) -> dict[str, str]:
    env = {
        "GAMIF_DATABASE_URL": database_url,
        "GAMIF_DATA_DIR": str(data_dir),
        "GAMIF_JWT_SECRET": JWT_SECRET,
        "GAMIF_REDIS_PREFIX": prefix,
        "GAMIF_HUB_PRESENCE_TTL_SECONDS": "2",
        "GAMIF_HUB_PRESENCE_GRACE_MS": "200",
        "GAMIF_LOG_LEVEL": "info",
    }
    if redis_url is not None:
        env["GAMIF_REDIS_URL"] = redis_url
    return env


async def admin_token(base: str, env: dict[str, str]) -> str:
    """Create the admin ``root`` with `gamif create-admin` on the hub's database, log in: its access token."""
    created = await asyncio.to_thread(
        subprocess.run,
        [GAMIF, "create-admin", "--email", "root@example.com", "--handle", "root"],
        env={**os.environ, **env, "GAMIF_ADMIN_PASSWORD": ADMIN_PASSWORD},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await http.post("/api/v1/auth/login", json={"login": "root", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        return str(login.json()["access_token"])


@dataclass
class Account:
    user_id: str
    handle: str
    access_token: str
    refresh_token: str


async def register(base: str, handle: str) -> Account:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        body = {
            "email": f"{handle}@example.com",
            "password": "a fine long password",
            "handle": handle,
            "display_name": handle.title(),
        }
        created = await http.post("/api/v1/auth/register", json=body)
        assert created.status_code == 201, created.text
        login = await http.post("/api/v1/auth/login", json={"login": handle, "password": body["password"]})
        assert login.status_code == 200, login.text
        tokens = login.json()
        me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200, me.text
        return Account(me.json()["user"]["id"], handle, tokens["access_token"], tokens["refresh_token"])


class Raw:
    """A protocol connection driven frame by frame; every server frame is decoded strictly."""

    def __init__(self, ws: ClientConnection, encoding: Encoding) -> None:
        self.ws = ws
        self.encoding = encoding

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, url: str, encoding: Encoding = Encoding.MSGPACK, *, rcvbuf: int | None = None, **options: Any
    ) -> AsyncIterator[Raw]:
        """`rcvbuf` shrinks the socket's receive buffer (a client that stops reading then fills the
        server's buffers sooner)."""
        options.setdefault("max_size", SERVER_FRAME_LIMITS.max_frame_bytes)
        if rcvbuf is not None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting: sets the window
            sock.setblocking(False)
            port = int(url.split(":")[2].split("/", maxsplit=1)[0])
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            options["sock"] = sock
        async with connect(
            url,
            subprotocols=[encoding.value],  # type: ignore[list-item]
            compression=None,
            **options,
        ) as ws:
            yield cls(ws, encoding)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(encode_value(message, self.encoding))

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    async def recv(self, timeout: float = 10) -> Message:
        async with asyncio.timeout(timeout):
            return decode(await self.ws.recv(), self.encoding, sender="server")

    async def expect(self, kind: str, timeout: float = 10) -> Any:
        """The next message, which must be of type `kind`."""
        message = await self.recv(timeout)
        assert message.type == kind, message
        return message

    async def login(self, token: str) -> Any:
        await self.send({"type": "auth", "id": 1, "token": token})
        return await self.expect("welcome")

    async def subscribe(self, topic: str, since: dict[str, Any] | None = None, id: int = 2) -> Any:
        message: dict[str, Any] = {"type": "subscribe", "id": id, "topic": topic}
        if since is not None:
            message["since"] = since
        await self.send(message)
        return await self.expect("subscribed")

    async def closed(self, timeout: float = 10) -> tuple[int | None, str]:
        """Read until the server closes; its close code and reason."""
        async with asyncio.timeout(timeout):
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await self.ws.recv()
        received = self.ws.protocol.close_rcvd
        return (received.code, received.reason) if received is not None else (None, "")


async def watch(
    raw: Raw, mirror: TopicMirror, until: Callable[[TopicMirror], bool], timeout: float = 20
) -> list[Delta]:
    """Apply the topic's deltas (alone or in batches) to ``mirror`` until ``until(mirror)``; the deltas
    applied. Every one must apply: a gap or a divergence fails the test."""
    applied: list[Delta] = []
    async with asyncio.timeout(timeout):
        while not until(mirror):
            message = await raw.recv()
            deltas = (
                message.deltas
                if isinstance(message, Batch)
                else [message]
                if isinstance(message, Delta)
                else []
            )
            for delta in deltas:
                if delta.topic == mirror.topic:
                    assert mirror.apply_delta(delta) is Outcome.APPLIED
                    applied.append(delta)
    return applied
