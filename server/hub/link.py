"""The broadcast fast path: whole WebSocket frames written straight to the connection's transport.

A server's frames are not masked, so the bytes of a frame on the wire are the same for every
connection: the hub frames a delta once (`wire_frame`) and writes those bytes to each idle session
without a coroutine, a task switch or a re-framing per session, as ``websockets.broadcast`` does. It
is only taken when it cannot reorder or overrun anything: the session has nothing queued or in
flight, the connection is open, and the transport is below its high-water mark (otherwise the
session's writer takes over, and awaits flow control as usual).

This reaches under the ASGI interface into uvicorn's sans-I/O WebSocket protocol: the server's own
``send`` callable is a method of it, kept in the scope by `ExposeServerSend` (Starlette's middleware
wraps the ``send`` its WebSocket holds). `DirectLink.of` checks every attribute it relies on and
returns None for anything else (another server or implementation): the hub then simply uses
``send``.
"""

from __future__ import annotations

import asyncio
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
