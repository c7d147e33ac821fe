"""What `server.compat.uvicorn` relies on in uvicorn, checked against the installed version: the
sans-I/O WebSocket protocol's state attributes, its ASGI ``send`` being its own bound method (the
hub's direct link), its close and shutdown paths, and the server's re-raised signals. The end-to-end
checks run a real uvicorn server in this process and a real websockets client. A failure names the
uvicorn version and what changed."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.base import ServerExtensionFactory
from websockets.frames import CloseCode
from websockets.server import ServerProtocol

from server.compat.uvicorn import ConnectionLink, SansIOWebSocketProtocol, forget_signal
from server.hub.link import wire_frame
from tests.compat.contract import Contract
from tests.polling import until

UVICORN = Contract("uvicorn", "server/compat/uvicorn.py")
MAX_SIZE = 1_000


class ProbeServerProtocol(ServerProtocol):
    """websockets' server side, with its own reason on a 1009 close (as the hub's has)."""

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        super().fail(code, f"probe: {reason}" if code == CloseCode.MESSAGE_TOO_BIG else reason)


class ProbeProtocol(SansIOWebSocketProtocol):
    made_with: tuple[Sequence[ServerExtensionFactory] | None, int | None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.use_server_protocol(self._make)

    def _make(
        self, extensions: Sequence[ServerExtensionFactory] | None, max_size: int | None
    ) -> ServerProtocol:
        self.made_with = (extensions, max_size)
        return ProbeServerProtocol(extensions=extensions, max_size=max_size)


@dataclass
class Accepted:
    protocol: Any
    link: ConnectionLink | None
    disconnect: asyncio.Future[dict[str, Any]] = field(default_factory=asyncio.Future)


@dataclass
class Served:
    url: str
    accepted: asyncio.Queue[Accepted]
    server: uvicorn.Server


def config(app: Any, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app, ws=ProbeProtocol, ws_max_size=MAX_SIZE, ws_per_message_deflate=False, lifespan="off", **options
    )


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    accepted: asyncio.Queue[Accepted] = asyncio.Queue()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        here = Accepted(getattr(send, "__self__", None), ConnectionLink.of_send(send))
        accepted.put_nowait(here)
        while (message := await receive())["type"] != "websocket.disconnect":
            pass
        here.disconnect.set_result(message)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(config(app, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: server.started, "uvicorn started", timeout=10, every=0.01)
    host, port = sock.getsockname()
    yield Served(f"ws://{host}:{port}/", accepted, server)
    server.should_exit = True
    async with asyncio.timeout(10):
        await serving


async def open_connection(served: Served) -> tuple[ClientConnection, Accepted]:
    client = await connect(served.url)
    async with asyncio.timeout(5):
        return client, await served.accepted.get()


async def test_the_protocol_keeps_the_state_it_reads() -> None:
    made = config(lambda *_: None)
    made.load()
    protocol = ProbeProtocol(config=made, server_state=ServerState(), app_state={})
    UVICORN.check(
        protocol.made_with == ([], MAX_SIZE) and isinstance(protocol.conn, ProbeServerProtocol),
        "lets a subclass replace WebSocketsSansIOProtocol.conn (built with ws_max_size) in __init__",
    )
    expected = {
        "writable": asyncio.Event,
        "close_sent": bool,
        "read_paused": bool,
        "handshake_complete": bool,
        "queue": asyncio.Queue,
    }
    for name, kind in expected.items():
        value = UVICORN.has_attribute(protocol, name)
        UVICORN.check(isinstance(value, kind), f"keeps WebSocketsSansIOProtocol.{name} as a {kind.__name__}")
    UVICORN.check(protocol.close_timer is None, "keeps WebSocketsSansIOProtocol.close_timer (None at first)")
    UVICORN.check(not protocol.write_paused, "starts with WebSocketsSansIOProtocol.writable set")
    for name in ("shutdown", "send", "stop_keepalive"):
        UVICORN.has_attribute(WebSocketsSansIOProtocol, name)
    UVICORN.takes(WebSocketsSansIOProtocol.send, "message")


async def test_the_asgi_send_leads_to_the_connection_and_frames_written_there_arrive(served: Served) -> None:
    client, accepted = await open_connection(served)
    try:
        UVICORN.check(
            isinstance(accepted.protocol, ProbeProtocol),
            "gives the application its WebSocket protocol's bound send method as the ASGI send",
        )
        link = accepted.link
        UVICORN.check(
            link is not None, "exposes conn, transport, writable, close_sent, read_paused, close_timer"
        )
        assert link is not None
        UVICORN.check(link.write(wire_frame(b"direct")), "accepts a frame written to its open transport")
        async with asyncio.timeout(5):
            UVICORN.check(await client.recv() == b"direct", "delivers a frame written to its transport")
        link.close(4000, "bye", grace=5.0)
        UVICORN.check(not link.write(wire_frame(b"late")), "refuses frames once close_sent is set")
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                await client.recv()
        rcvd = closed.value.rcvd
        UVICORN.check(
            rcvd is not None and (rcvd.code, rcvd.reason) == (4000, "bye"),
            "sends the close frame that ServerProtocol.send_close queued",
        )
        async with asyncio.timeout(5):
            message = await accepted.disconnect
        UVICORN.check(
            message["type"] == "websocket.disconnect" and accepted.protocol.close_timer is None,
            "cancels close_timer and tells the application when the client answers the close",
        )
    finally:
        await client.close()


async def test_a_subclass_closes_an_open_connection_and_its_parser_is_used(served: Served) -> None:
    client, accepted = await open_connection(served)
    try:
        protocol: SansIOWebSocketProtocol = accepted.protocol
        UVICORN.check(protocol.close_if_open(4001, "closing"), "closes an open connection in close_if_open")
        UVICORN.check(not protocol.close_if_open(4001, "again"), "sets close_sent when closing")
        async with asyncio.timeout(5):
            message = await accepted.disconnect
        UVICORN.check(
            (message.get("code"), message.get("reason")) == (4001, "closing"),
            "passes a websocket.disconnect put on WebSocketsSansIOProtocol.queue to the application",
        )
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                await client.recv()
        UVICORN.check(
            closed.value.rcvd is not None and closed.value.rcvd.code == 4001, "sends the close frame"
        )
    finally:
        await client.close()
    # The parser a subclass put in place is the one that reads.
    client, accepted = await open_connection(served)
    try:
        await client.send(b"x" * (MAX_SIZE + 1))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                await client.recv()
        rcvd = closed.value.rcvd
        UVICORN.check(
            rcvd is not None and rcvd.code == CloseCode.MESSAGE_TOO_BIG and rcvd.reason.startswith("probe: "),
            "parses incoming frames with the ServerProtocol in WebSocketsSansIOProtocol.conn",
        )
    finally:
        await client.close()


def test_the_server_re_raises_the_signals_it_caught_unless_forgotten() -> None:
    got: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda sig, _frame: got.append(sig))
    try:
        server = uvicorn.Server(uvicorn.Config(lambda *_: None))
        with server.capture_signals():
            server.handle_exit(signal.SIGUSR1, None)  # what its handler does with a signal
        UVICORN.check(got == [signal.SIGUSR1], "re-raises, leaving Server.capture_signals, what it caught")
        got.clear()
        server = uvicorn.Server(uvicorn.Config(lambda *_: None))
        with server.capture_signals():
            server.handle_exit(signal.SIGUSR1, None)
            forget_signal(server, signal.SIGUSR1)
        UVICORN.check(
            got == [], "keeps the signals Server.capture_signals re-raises in Server._captured_signals"
        )
    finally:
        signal.signal(signal.SIGUSR1, previous)
