"""uvicorn's internals: the only place that touches them (checked by
``tests/compat/test_uvicorn_contract.py``).

gamif runs uvicorn with its own server and WebSocket protocol classes, and its hub writes broadcast
frames straight to uvicorn's connections. Beyond uvicorn's documented API, that relies on:

- ``uvicorn._types.ASGISendEvent`` (a private module), for the protocol's ``send``;
- `Server`'s list of the signals ``capture_signals`` re-raises on leaving (``_captured_signals``);
- the attributes of `WebSocketsSansIOProtocol`, its state as a connection: ``conn`` (websockets'
  sans-I/O `ServerProtocol`), ``transport``, ``writable``, ``close_sent``, ``read_paused``,
  ``close_timer``, ``handshake_complete``, ``queue``, ``config``; and that the ASGI ``send`` it gives
  the application is its own bound method (so the connection is found from ``send.__self__``).

Everything else uses them through `SansIOWebSocketProtocol`, `ConnectionLink`, `forget_signal` and
`reset`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Any, Self

import uvicorn
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.base import ServerExtensionFactory
from websockets.protocol import State
from websockets.server import ServerProtocol

__all__ = ["ASGISendEvent", "ConnectionLink", "SansIOWebSocketProtocol", "forget_signal", "reset"]


def forget_signal(server: uvicorn.Server, sig: int) -> None:
    """Keep `server` from re-raising `sig` when its ``capture_signals`` block ends (uvicorn re-raises
    the signals it caught, so that the process ends killed by them)."""
    captured: list[int] = server._captured_signals
    captured[:] = [caught for caught in captured if caught != sig]


class SansIOWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol (websockets), with what a subclass changes in it under
    plain names."""

    def use_server_protocol(
        self, make: Callable[[Sequence[ServerExtensionFactory] | None, int | None], ServerProtocol]
    ) -> None:
        """Parse and frame with the `ServerProtocol` that ``make(extensions, max_size)`` builds from
        uvicorn's settings, instead of uvicorn's own."""
        self.conn = make(self.conn.available_extensions, self.config.ws_max_size)

    def close_if_open(self, code: int, reason: str) -> bool:
        """If the connection is an open WebSocket that has not sent its close frame: tell the
        application it is gone (`code`, `reason`), send the close frame, and close the transport once
        it has sent what it holds; True. Otherwise (not a WebSocket yet, or closing) nothing: False."""
        if not (self.handshake_complete and not self.close_sent and self.conn.state is State.OPEN):
            return False
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.close_sent = True
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()
        return True

    @property
    def write_paused(self) -> bool:
        """Whether the transport holds more than its high-water mark (the client is not reading)."""
        return not self.writable.is_set()

    @property
    def connection_transport(self) -> asyncio.Transport:
        return self.transport

    def end_handshake(self) -> None:
        """The handshake is over (a denial response was sent: the connection is done with)."""
        self.handshake_complete = True


class ConnectionLink:
    """Writes straight to the connection under a WebSocket's ASGI ``send`` (uvicorn's sans-I/O
    protocol), bypassing the ASGI message path: `of_send` checks every attribute it relies on and
    returns None for anything else (another server or implementation, or per-message deflate)."""

    __slots__ = ("_conn", "_protocol", "_transport", "_writable")

    def __init__(self, protocol: Any, conn: ServerProtocol, transport: Any) -> None:
        self._protocol = protocol
        self._conn = conn
        self._transport = transport
        self._writable: asyncio.Event = protocol.writable

    @classmethod
    def of_send(cls, send: object) -> Self | None:
        protocol = getattr(send, "__self__", None)
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
    kernel would go on trying to deliver its own buffer (megabytes) to a client that is not reading.
    (uvicorn's close paths only abort: this is what `ConnectionLink.close` and the hub's shutdown add.)"""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        return  # closed already (uvloop's socket would raise on its closed descriptor)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
