"""The WebSocket transport under the hub: uvicorn's sans-I/O protocol (websockets), made to say what
PROTOCOL.md says where uvicorn does otherwise.

- An oversize frame is refused by the frame parser before the hub sees it: its 1009 close carries
  the protocol's reason, ``too_large: …`` (§16), not only the library's text.
- On shutdown (SIGTERM) every open connection is closed with 1012 and the reason
  ``service_restart`` (§17), and a connection that cannot take the close frame (its client stopped
  reading) is aborted instead of holding the process until the graceful-shutdown timeout.
- A refused upgrade (the hub's HTTP denial response, §2) completes the handshake: uvicorn logs the
  one line of the response's status, without a spurious "returned without completing handshake"
  error.

`gamif serve` runs uvicorn with `HubWebSocketProtocol`. Everything here is a thin override of
uvicorn 0.54's ``WebSocketsSansIOProtocol``, through `server.compat.uvicorn`; the hub also works on
any other ASGI server, with that server's close reasons.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.frames import CloseCode
from websockets.server import ServerProtocol

from protocol import ErrorCode, close_reason
from server.compat.uvicorn import ASGISendEvent, SansIOWebSocketProtocol, reset

SERVICE_RESTART = "service_restart"
"""The reason of the 1012 close on shutdown: the close code's name (PROTOCOL.md §17)."""

SHUTDOWN_CLOSE_GRACE = 1.0
"""Seconds a client has, on shutdown, to answer the 1012 close before its connection is aborted."""


class HubServerProtocol(ServerProtocol):
    """websockets' server side, with the protocol's reason on a 1009 close."""

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        if code == CloseCode.MESSAGE_TOO_BIG:
            # The parser's text ("frame with N bytes exceeds limit of M bytes") becomes the detail.
            reason = close_reason(ErrorCode.TOO_LARGE, reason)
        super().fail(code, reason)


class HubWebSocketProtocol(SansIOWebSocketProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # websockets' own logger, not uvicorn's: its info lines ("connection open", "connection
        # rejected") would repeat the one uvicorn logs for each upgrade, accepted or refused.
        self.use_server_protocol(
            lambda extensions, max_size: HubServerProtocol(extensions=extensions, max_size=max_size)
        )

    def shutdown(self) -> None:
        if not self.close_if_open(1012, SERVICE_RESTART):
            super().shutdown()  # not a WebSocket yet (a 500), or closing already
        # A closed transport still sends what it holds before it lets go, and a client that stopped
        # reading never takes it: reset such a connection at once, any other soon, so that none holds
        # the process until the graceful-shutdown timeout.
        transport = self.connection_transport
        if self.write_paused:
            reset(transport)
        else:
            asyncio.get_running_loop().call_later(SHUTDOWN_CLOSE_GRACE, reset, transport)

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            # The denial response is the handshake's answer: the connection is done with.
            self.end_handshake()
