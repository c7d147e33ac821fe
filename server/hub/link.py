"""The broadcast fast path: whole WebSocket frames written straight to the connection's transport.

A server's frames are not masked, so the bytes of a frame on the wire are the same for every
connection: the hub frames a delta once (`wire_frame`) and writes those bytes to each idle session
without a coroutine, a task switch or a re-framing per session, as ``websockets.broadcast`` does. It
is only taken when it cannot reorder or overrun anything: the session has nothing queued or in
flight, the connection is open, and the transport is below its high-water mark (otherwise the
session's writer takes over, and awaits flow control as usual).

`DirectLink.close` closes the same way, without waiting for the socket: a slow client is let go at
once instead of holding the session until its TCP connection dies.

This reaches under the ASGI interface into uvicorn's sans-I/O WebSocket protocol: the server's own
``send`` callable is a method of it, kept in the scope by `ExposeServerSend` (Starlette's middleware
wraps the ``send`` its WebSocket holds). `DirectLink.of` checks every attribute it relies on and
returns None for anything else (another server or implementation): the hub then simply uses
``send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

SERVER_SEND = "gamif.server_send"
"""The scope key under which `ExposeServerSend` keeps the ASGI server's ``send``."""


class ExposeServerSend:
    """ASGI middleware: keeps a WebSocket connection's ``send``, as the server gave it, in the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[SERVER_SEND] = send
        await self.app(scope, receive, send)


def wire_frame(message: bytes | str) -> bytes:
    """The bytes of one unfragmented, unmasked WebSocket frame carrying `message` (binary for bytes,
    text for a string): what uvicorn itself would write for it, without compression."""
    if isinstance(message, str):
        return Frame(Opcode.TEXT, message.encode()).serialize(mask=False)
    return Frame(Opcode.BINARY, message).serialize(mask=False)


class DirectLink:
    __slots__ = ("_conn", "_protocol", "_transport", "_writable")

    def __init__(self, protocol: Any, conn: ServerProtocol, transport: Any) -> None:
        self._protocol = protocol
        self._conn = conn
        self._transport = transport
        self._writable: asyncio.Event = protocol.writable

    @classmethod
    def of(cls, websocket: WebSocket) -> DirectLink | None:
        protocol = getattr(websocket.scope.get(SERVER_SEND), "__self__", None)
        conn = getattr(protocol, "conn", None)
        transport = getattr(protocol, "transport", None)
        if (
            isinstance(conn, ServerProtocol)
            and not conn.extensions  # no per-message deflate: frames are the same for everyone
            and isinstance(getattr(protocol, "writable", None), asyncio.Event)
            and isinstance(getattr(protocol, "close_sent", None), bool)
            and isinstance(getattr(protocol, "read_paused", None), bool)
            and hasattr(protocol, "close_timer")
            # uvloop's transports are not asyncio.WriteTransport subclasses: check the two methods used.
            and callable(getattr(transport, "write", None))
            and callable(getattr(transport, "is_closing", None))
        ):
            return cls(protocol, conn, transport)
        return None

    def write(self, frame: bytes) -> bool:
        """Write a whole frame now if the connection can take it without waiting; False otherwise."""
        if (
            self._writable.is_set()
            and self._conn.state is State.OPEN
            and not self._protocol.close_sent
            and not self._transport.is_closing()
        ):
            self._transport.write(frame)
            return True
        return False

    def close(self, code: int, reason: str, grace: float) -> None:
        """Start the closing handshake now, without waiting for the socket to be writable (ASGI's
        ``websocket.close`` waits, forever for a client that stopped reading): the close frame goes
        behind what the transport holds, and the connection is aborted (its buffers dropped) unless
        the client answers within `grace` seconds. uvicorn's own close path, but bounded."""
        protocol, transport = self._protocol, self._transport
        if protocol.close_sent or transport.is_closing():
            return
        if self._conn.state is State.OPEN:
            self._conn.send_close(code, reason)
            transport.write(b"".join(self._conn.data_to_send()))
        protocol.close_sent = True
        if protocol.read_paused:  # the client's answer must be read
            protocol.read_paused = False
            transport.resume_reading()
        if protocol.close_timer is not None:
            protocol.close_timer.cancel()
        # uvicorn cancels this timer and closes the transport when the client's close frame arrives.
        protocol.close_timer = asyncio.get_running_loop().call_later(grace, reset, transport)


def reset(transport: Any) -> None:
    """Abort a connection with a TCP reset. A plain abort only drops what the transport holds: the
    kernel would go on trying to deliver its own buffer (megabytes) to a client that is not reading."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        return  # closed already (uvloop's socket would raise on its closed descriptor)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
