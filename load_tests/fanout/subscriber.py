"""One subscriber connection of the load client, and the counters its process shares between them.

`Subscriber` is a bare `asyncio.Protocol`: it upgrades the connection itself (`ws_wire`), then walks
the server's frames in place, counting deliveries, frames and payload bytes without building a message
per frame. Per round, a baseline connection must receive exactly the round's messages; a hub connection
must receive deltas with consecutive offsets continuing its subscription (checked from the round's first
and last frames, or frame by frame with ``strict``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import Any, cast

from . import hub_wire
from .commands import ConnectSpec
from .ws_wire import (
    HEADERS_END,
    MAX_HANDSHAKE_BYTES,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    HandshakeError,
    check_handshake_response,
    client_frame,
    close_code,
    close_payload,
    handshake_request,
    new_key,
)

_FINAL_BINARY = 0x80 | OP_BINARY
_FINAL_CLOSE = 0x80 | OP_CLOSE
_FINAL_PING = 0x80 | OP_PING
_FINAL_PONG = 0x80 | OP_PONG
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, leaves no TIME_WAIT

_MAX_SUBSCRIBE_RETRIES = 5

monotonic = time.monotonic  # CLOCK_MONOTONIC: comparable between the processes of one machine


class Tally:
    """The round in progress, for all the connections of one process."""

    __slots__ = (
        "cpu_first",
        "cpu_last",
        "deliveries",
        "done",
        "expected",
        "first_at",
        "frames",
        "last_at",
        "milestone",
        "payload_bytes",
        "reached",
    )

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.reached = asyncio.Event()
        """Set once `milestone` deliveries have come (lock-step publishing waits on it)."""
        self.arm(0)

    def arm(self, expected: int) -> None:
        self.expected = self.milestone = expected
        self.deliveries = 0
        self.frames = 0
        self.payload_bytes = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.cpu_first = 0.0
        self.cpu_last = 0.0
        self.done.clear()
        self.reached.clear()
        if expected == 0:
            self.done.set()
            self.reached.set()

    @property
    def armed(self) -> bool:
        return not self.done.is_set()

    def add(self, deliveries: int, frames: int, payload_bytes: int) -> None:
        now = monotonic()
        if self.first_at is None:
            self.first_at = now
            self.cpu_first = time.process_time()
        self.last_at = now
        self.deliveries += deliveries
        self.frames += frames
        self.payload_bytes += payload_bytes
        if self.deliveries >= self.milestone:  # never above expected: one test on the hot path
            self.reached.set()
            if self.deliveries >= self.expected and not self.done.is_set():
                self.cpu_last = time.process_time()
                self.done.set()

    def await_milestone(self, deliveries: int) -> None:
        self.milestone = min(deliveries, self.expected)
        if self.deliveries >= self.milestone:
            self.reached.set()
        else:
            self.reached.clear()

    def give_up(self) -> None:
        """The round ends incomplete: the CPU time runs to now (idle since the last frame anyway)."""
        if not self.done.is_set():
            self.cpu_last = time.process_time() if self.first_at is not None else 0.0
            self.done.set()


class Subscriber(asyncio.Protocol):
    def __init__(self, spec: ConnectSpec, tally: Tally, ready: asyncio.Future[None]) -> None:
        self.spec = spec
        self.tally = tally
        self.ready = ready
        self.lost: asyncio.Future[None] = ready.get_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.last_sent = monotonic()
        self.retries = 0
        """Hub: subscribes answered ``unavailable`` and sent again."""
        self.heartbeat = 25.0
        """Hub: send something at least this often (``welcome.heartbeat_ms``)."""
        self._key = new_key()
        self._handshake: bytearray | None = bytearray()
        self._pending = b""
        self._closing = False
        self.closed: str | None = None
        """Why the connection ended, once it has."""
        # The subscription (hub): its epoch and the offset of the last delta accounted for.
        self.epoch = ""
        self.offset = 0
        # The round in progress.
        self.got = 0
        self.problem: str | None = None
        self._first_frame: bytes | None = None
        self._last_frame: bytes | None = None

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        spec = self.spec
        self.transport.write(handshake_request(spec.host, spec.port, spec.path, self._key, spec.subprotocol))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            self.closed = f"connection lost ({exc!r})" if exc else "connection closed by the server"
        self._fail(self.closed)
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._handshake is not None:
            self._handshake += data
            end = self._handshake.find(HEADERS_END)
            if end < 0:
                if len(self._handshake) > MAX_HANDSHAKE_BYTES:
                    self._abort("handshake response too long")
                return
            head, rest = bytes(self._handshake[:end]), bytes(self._handshake[end + len(HEADERS_END) :])
            self._handshake = None
            try:
                check_handshake_response(head, self._key, self.spec.subprotocol)
            except HandshakeError as error:
                self._abort(str(error))
                return
            self._upgraded()
            if not rest:
                return
            data = rest
        if self._pending:
            data = self._pending + data
            self._pending = b""
        self._frames(data)

    # ------------------------------------------------------------------ frames

    def _frames(self, data: bytes) -> None:
        """Walk the complete frames of ``data``; keep an incomplete one for the next read. Hot path."""
        size = len(data)
        position = 0
        deliveries = frames = payload_bytes = 0
        hub = self.spec.hub
        while size - position >= 2:
            length = data[position + 1]
            if length < 126:
                start = position + 2
            elif length == 126:
                if size - position < 4:
                    break
                length = (data[position + 2] << 8) | data[position + 3]
                start = position + 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(data[position + 2 : position + 10], "big")
                start = position + 10
            else:
                self._abort("masked frame from the server")
                return
            end = start + length
            if end > size:
                break
            first = data[position]
            if first == _FINAL_BINARY:
                count = self._hub_frame(data, start, end) if hub else 1
                if count:
                    deliveries += count
                    frames += 1
                    payload_bytes += length
            else:
                self._control(first, data[start:end])
                if self._closing:
                    return
            position = end
        if position < size:
            self._pending = data[position:]
        if frames:
            self.got += deliveries
            self.tally.add(deliveries, frames, payload_bytes)

    def _control(self, first: int, payload: bytes) -> None:
        if first == _FINAL_PING:
            self.send(OP_PONG, payload)
        elif first == _FINAL_PONG:
            pass
        elif first == _FINAL_CLOSE:
            code = close_code(payload)
            reason = payload[2:].decode("utf-8", "replace")
            self.closed = f"closed by the server: {code} {reason}".rstrip()
            self.send(OP_CLOSE, close_payload(code))
            self._closing = True
            assert self.transport is not None
            self.transport.close()
        else:
            # Text frames, fragments: neither the hub (msgpack) nor the baselines send them.
            self._abort(f"unexpected frame, first byte {first:#04x}")

    def _hub_frame(self, data: bytes, start: int, end: int) -> int:
        count = -1 if self.spec.strict else hub_wire.fast_delta_count(data, start, end)
        if count < 0:
            count = self._hub_message(hub_wire.decode(data[start:end]))
        if count and not self.spec.strict:  # for `_verify_ends`
            frame = data[start:end]
            if self._first_frame is None:
                self._first_frame = frame
            self._last_frame = frame
        return count

    def _hub_message(self, message: dict[str, Any]) -> int:
        """Handle a decoded hub message; return how many deltas of the bench topic it carries."""
        kind = message.get("type")
        deltas = hub_wire.deltas_of(message)
        if deltas:
            if self.spec.strict:
                for delta in deltas:
                    self._check_next(delta)
            return sum(delta.get("topic") == self.spec.topic for delta in deltas)
        if kind == "welcome":
            self.heartbeat = message["heartbeat_ms"] / 1000
        elif kind == "subscribed":
            self.epoch, self.offset = message["epoch"], message["offset"]
            if message.get("id") == hub_wire.SUBSCRIBE_ID and not self.ready.done():
                self.ready.set_result(None)
            else:
                self._note(f"stream reset by the hub (subscribed at offset {self.offset})")
        elif kind == "error":
            text = f"error {message.get('code')}: {message.get('message')}"
            if self.ready.done():
                self._note(text)
            elif self._may_retry(message):
                # PROTOCOL.md §16: `unavailable` is temporary; a client subscribes again after a backoff.
                self.retries += 1
                delay = float(message.get("retry_after_ms", 1_000)) / 1_000
                self.ready.get_loop().call_later(delay, self.send, OP_BINARY, self.spec.hello[-1])
            else:
                self._abort(text)
        elif kind == "unsubscribed":
            self._note(f"unsubscribed by the hub ({message.get('reason')})")
        return 0  # pong, event, ...

    def _may_retry(self, error: dict[str, Any]) -> bool:
        return (
            error.get("code") == "unavailable"
            and error.get("id") == hub_wire.SUBSCRIBE_ID
            and self.retries < _MAX_SUBSCRIBE_RETRIES
        )

    def _check_next(self, delta: dict[str, Any]) -> None:
        if delta.get("topic") != self.spec.topic:
            return
        if delta.get("epoch") != self.epoch or delta.get("offset") != self.offset + 1:
            self._note(f"expected offset {self.offset + 1} of {self.epoch}, got {delta.get('offset')}")
        self.epoch, self.offset = delta.get("epoch", ""), int(delta.get("offset", 0))

    # ------------------------------------------------------------------ rounds

    def arm(self) -> None:
        self.got = 0
        self.problem = None
        self._first_frame = self._last_frame = None

    def verify(self, expected: int) -> str | None:
        """Why this connection's round is wrong, or None: all `expected` deliveries, in order."""
        if self.problem is None and self.got != expected:
            self._note(f"received {self.got} of {expected}")
        if self.problem is None and self.spec.hub and not self.spec.strict and expected:
            self._verify_ends(expected)
        if self.problem is None and self.closed is not None:
            self._note(self.closed)
        return self.problem

    def _verify_ends(self, expected: int) -> None:
        """Cheap mode: the round's deltas must run from the subscription's next offset, `expected` of them.
        Offsets only grow along a connection, so with the count right that leaves no room for a gap."""
        assert self._first_frame is not None
        assert self._last_frame is not None
        first = hub_wire.deltas_of(hub_wire.decode(self._first_frame))[0]
        last = hub_wire.deltas_of(hub_wire.decode(self._last_frame))[-1]
        want = (self.epoch, self.offset + 1, self.offset + expected)
        got = (first.get("epoch"), first.get("offset"), last.get("offset"))
        if got != want:
            self._note(
                f"expected offsets {want[1]}..{want[2]} of {want[0]}, got {got[1]}..{got[2]} of {got[0]}"
            )
        self.epoch, self.offset = str(last.get("epoch")), int(last.get("offset", 0))

    # ------------------------------------------------------------------ sending and closing

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))
            self.last_sent = monotonic()

    def reset(self) -> None:
        """Drop the connection at once, with a TCP reset."""
        if self.transport is None or self.transport.is_closing():
            return
        sock: socket.socket | None = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # a reset is tidier, not required
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        self._closing = True
        self.closed = self.closed or "closed by the load client"
        self.transport.abort()

    def _upgraded(self) -> None:
        if self.spec.hub:
            for frame in self.spec.hello:
                self.send(OP_BINARY, frame)
        elif not self.ready.done():
            self.ready.set_result(None)

    def _note(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))

    def _abort(self, reason: str) -> None:
        self.closed = reason
        self._fail(reason)
        self._closing = True
        if self.transport is not None:
            self.transport.abort()
