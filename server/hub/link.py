"""The broadcast fast path: whole WebSocket frames written straight to the connection's transport.

A server's frames are not masked, so the bytes of a frame on the wire are the same for every
connection: the hub frames a delta once (`wire_frame`) and writes those bytes to each idle session
without a coroutine, a task switch or a re-framing per session, as ``websockets.broadcast`` does. It
is only taken when it cannot reorder or overrun anything: the session has nothing queued or in
flight, the connection is open, and the transport is below its high-water mark (otherwise the
session's writer takes over, and awaits flow control as usual).

`DirectLink.close` closes the same way, without waiting for the socket: a slow client is let go at
once instead of holding the session until its TCP connection dies.

This reaches under the ASGI interface into uvicorn's sans-I/O WebSocket protocol (through
`server.compat.uvicorn.ConnectionLink`): the server's own ``send`` callable is a method of it, kept in
the scope by `ExposeServerSend` (Starlette's middleware wraps the ``send`` its WebSocket holds).
`DirectLink.of` returns None for anything else (another server or implementation): the hub then
simply uses ``send``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode

from server.compat.uvicorn import ConnectionLink

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


class DirectLink(ConnectionLink):
    """The direct link of a hub session: uvicorn's connection under its WebSocket, if it has one."""

    __slots__ = ()

    @classmethod
    def of(cls, websocket: WebSocket) -> DirectLink | None:
        return cls.of_send(websocket.scope.get(SERVER_SEND))
