"""One virtual user: a hub session that authenticates, subscribes to its topics, keeps its mirrors'
offsets, pings, ingests its own metric events, and measures what its screen would show and when.

A bare `asyncio.Protocol` (the RFC 6455 pieces come from `load_tests.fanout.ws_wire`): a load client
process holds thousands of these next to the hub it measures, so it must stay cheap. Every server frame
is decoded (msgpack's C decoder, a few microseconds) because every delta's offset is checked: a gap is a
missed delta, an offset already seen a duplicated one (PROTOCOL.md §12).

Clocks: deltas carry ``at_ms`` (wall clock, stamped when the worker published); a virtual user stamps
its own ingests with ``time.time()``. All processes of one machine share that clock.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import msgpack  # type: ignore[import-untyped]

from load_tests.fanout.ws_wire import (
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

SUBPROTOCOL = "gamif.v1.msgpack"
_FINAL_BINARY = 0x80 | OP_BINARY
_FINAL_CLOSE = 0x80 | OP_CLOSE
_FINAL_PING = 0x80 | OP_PING
_FINAL_PONG = 0x80 | OP_PONG
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST

INGEST_METRIC = "tickets_closed"
"""A metric players may report themselves (``reporters: [integration, self]``)."""
INGEST_XP = 8
INGEST_PER_DAY = 10
"""8 XP a ticket, 80 XP a day: the first ten of a day always award XP, so a virtual user dates its
k-th event ``k // 10`` days back and every event it sends is answered on its screen."""
INGEST_MAX_EVENTS = INGEST_PER_DAY * 390  # the hub refuses events older than 400 days (default)

_packb = msgpack.Packer(use_bin_type=True).pack


@dataclass(frozen=True, slots=True)
class VuSpec:
    """What one virtual user is and does (picklable: the driver deals these to the client processes)."""

    name: str
    """Unique in the run: event ids start with it."""
    user_id: str
    token: str
    topics: tuple[str, ...]
    ingest_every_s: float = 0.0
    """Mean think time between two ingests (exponential); 0: this user never ingests."""
    ping_every_s: float = 0.0
    """Ping at least this often; 0: only as the heartbeat needs (half of ``heartbeat_ms`` quiet)."""
    backdate: bool = True
    """Date the k-th event ``k // 10`` days back (so every one awards XP); False: now (a challenge's
    window counts only events inside it)."""


class Meter:
    """What the virtual users of one process measured since the driver last asked (and in all)."""

    def __init__(self, record: Callable[[str, float], None]) -> None:
        self.record = record
        """``record(histogram name, milliseconds)``."""
        self.frames = 0
        self.payload_bytes = 0
        self.deliveries = 0
        self.events_answered = 0
        self.ingested = 0
        self.errors = 0
        self.missed = 0
        self.duplicated = 0
        self.resets = 0
        self.recovered = 0
        self.resnapshotted = 0
        self.in_flight_at_drop = 0
        """Events sent but not yet answered when their session was dropped: their answer is lost."""
        self.closed: collections.Counter[str] = collections.Counter()
        self.problems: list[str] = []
        self.ping_histogram: str | None = "ping"
        """Where pong round trips go (a scenario names its phases apart); None: not recorded."""

    def problem(self, text: str) -> None:
        """An error: counted, and its text kept (the first few)."""
        self.errors += 1
        self.note(text)

    def note(self, text: str) -> None:
        """Kept for the report, not counted (e.g. why a session failed to open: counted as failed)."""
        if len(self.problems) < 20:
            self.problems.append(text)


@dataclass(slots=True)
class Mirror:
    """Where the session's mirror of a topic stands."""

    epoch: str = ""
    offset: int = -1
    """-1: not subscribed yet."""
    scoreboard: bool = False
    """A ``challenge:`` topic."""


@dataclass(slots=True)
class _Pending:
    sent_at: float
    count: int = 1


class VirtualUser(asyncio.Protocol):
    """One session. `connect` opens it (again, resuming its mirrors, after `drop`)."""

    def __init__(self, spec: VuSpec, host: str, port: int, meter: Meter, rng: random.Random) -> None:
        self.spec = spec
        self.host, self.port = host, port
        self.meter = meter
        self.rng = rng
        self.mirrors = {topic: Mirror(scoreboard=topic.startswith("challenge:")) for topic in spec.topics}
        self.heartbeat_s = 25.0
        self.transport: asyncio.Transport | None = None
        self.connected = False
        self.closed: str | None = None
        self.last_sent = time.monotonic()
        self._ids = itertools.count(1)
        self._ready: asyncio.Future[None] | None = None
        self._awaiting: set[str] = set()
        self._handshake: bytearray | None = None
        self._pending = b""
        self._closing = False
        self._pings: dict[int, float] = {}
        self._ingests: dict[int, float] = {}
        self._unanswered: collections.deque[_Pending] = collections.deque()
        self._sent_events = 0
        self._key = ""
        self._lost: asyncio.Future[None] | None = None
        """Set when the current connection has ended (one protocol object serves a session's
        successive connections: the next may only start once the previous one is gone)."""

    # ------------------------------------------------------------------ opening

    async def connect(self, timeout: float = 60.0) -> float:
        """Open the session: TCP, upgrade, ``auth``, a ``subscribe`` per topic (with ``since`` for a
        mirror it holds); return the milliseconds until every topic answered."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        if self._lost is not None and not self._lost.done():
            await self._lost
        self._ready = loop.create_future()
        self._handshake = bytearray()
        self._pending = b""
        self._closing = False
        self.closed = None
        self._key = new_key()
        await loop.create_connection(lambda: self, self.host, self.port)
        try:
            await asyncio.wait_for(self._ready, timeout)
        except BaseException:
            self.drop()
            raise
        self.connected = True
        return (time.monotonic() - started) * 1000

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._lost = asyncio.get_running_loop().create_future()
        self.transport.write(handshake_request(self.host, self.port, "/ws", self._key, SUBPROTOCOL))

    def _upgraded(self) -> None:
        self._send({"type": "auth", "id": next(self._ids), "token": self.spec.token})
        self._awaiting = set(self.spec.topics)
        for topic, mirror in self.mirrors.items():
            message: dict[str, Any] = {"type": "subscribe", "id": next(self._ids), "topic": topic}
            if mirror.offset >= 0:
                message["since"] = {"epoch": mirror.epoch, "offset": mirror.offset}
            self._send(message)
        if not self._awaiting:
            self._settle()

    def _settle(self, error: str | None = None) -> None:
        if self._ready is not None and not self._ready.done():
            if error is None:
                self._ready.set_result(None)
            else:
                self._ready.set_exception(ConnectionError(error))

    # ------------------------------------------------------------------ bytes in

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
                check_handshake_response(head, self._key, SUBPROTOCOL)
            except HandshakeError as error:
                self._abort(f"handshake: {error}")
                return
            self._upgraded()
            if not rest:
                return
            data = rest
        if self._pending:
            data = self._pending + data
            self._pending = b""
        self._frames(data)

    def _frames(self, data: bytes) -> None:
        size, position = len(data), 0
        meter = self.meter
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
                meter.frames += 1
                meter.payload_bytes += length
                try:
                    message = msgpack.unpackb(data[start:end], raw=False)
                except ValueError as error:
                    self._abort(f"undecodable frame: {error}")
                    return
                self._message(message)
            else:
                self._control(first, data[start:end])
            if self._closing:
                return
            position = end
        if position < size:
            self._pending = data[position:]

    def _control(self, first: int, payload: bytes) -> None:
        if first == _FINAL_PING:
            self._write(OP_PONG, payload)
        elif first == _FINAL_CLOSE:
            code = close_code(payload)
            self.closed = f"{code} {payload[2:].decode('utf-8', 'replace')}".rstrip()
            self.meter.closed[str(code)] += 1
            if self.connected:  # while opening, the open fails: counted once, as a failed session
                self.meter.problem(f"closed by the server: {self.closed}")
            self._write(OP_CLOSE, close_payload(code))
            self._closing = True
            self._settle(f"closed by the server: {self.closed}")
            assert self.transport is not None
            self.transport.close()
        elif first != _FINAL_PONG:
            self._abort(f"unexpected frame, first byte {first:#04x}")

    # ------------------------------------------------------------------ messages

    def _message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "delta":
            self._delta(message, time.time() * 1000)
        elif kind == "batch":
            now_ms = time.time() * 1000
            for delta in message.get("deltas", ()):
                self._delta(delta, now_ms)
        elif kind == "event":
            self._event(message)
        elif kind == "pong":
            sent = self._pings.pop(message.get("id", -1), None)
            name = self.meter.ping_histogram
            if sent is not None and name is not None:
                self.meter.record(name, (time.monotonic() - sent) * 1000)
        elif kind == "subscribed":
            self._subscribed(message)
        elif kind == "ingested":
            self._ingested(message)
        elif kind == "welcome":
            self.heartbeat_s = message.get("heartbeat_ms", 25_000) / 1000
        elif kind == "error":
            text = f"error {message.get('code')}: {message.get('message')}"
            if self.connected:
                self.meter.problem(text)
            else:
                self._settle(text)  # the open fails: counted once, as a failed session
        # unsubscribed, refreshed, unknown types of a later v1: nothing to measure

    def _delta(self, delta: dict[str, Any], now_ms: float) -> None:
        mirror = self.mirrors.get(delta.get("topic", ""))
        if mirror is None or mirror.offset < 0:
            self.meter.problem(f"a delta of {delta.get('topic')!r}, not subscribed")
            return
        meter = self.meter
        offset = int(delta.get("offset", 0))
        if delta.get("epoch") != mirror.epoch:
            meter.problem(
                f"{delta.get('topic')}: delta of epoch {delta.get('epoch')!r}, mirror holds {mirror.epoch!r}"
            )
            return
        if offset <= mirror.offset:
            meter.duplicated += 1
            return
        if offset > mirror.offset + 1:
            meter.missed += offset - mirror.offset - 1
        mirror.offset = offset
        meter.deliveries += 1
        # A challenge's scoreboard deltas get a histogram of their own: they are what spectators watch.
        name = "scoreboard" if mirror.scoreboard else "delivery"
        meter.record(name, now_ms - delta.get("at_ms", now_ms))

    def _subscribed(self, message: dict[str, Any]) -> None:
        topic = message.get("topic", "")
        mirror = self.mirrors.get(topic)
        if mirror is None:
            return
        was_held = mirror.offset >= 0
        if message.get("recovered"):
            # The deltas after our `since`, exactly: checked like live ones.
            self.meter.recovered += 1
            for delta in message.get("deltas") or ():
                self._delta({**delta, "topic": topic}, time.time() * 1000)
        else:
            if was_held:
                self.meter.resnapshotted += 1
            if "id" not in message:
                self.meter.resets += 1  # the hub reset the topic's stream: a fresh snapshot
            mirror.epoch = message.get("epoch", "")
            mirror.offset = int(message.get("offset", 0))
        self._awaiting.discard(topic)
        if not self._awaiting:
            self._settle()

    def _event(self, message: dict[str, Any]) -> None:
        if message.get("name") != "xp_awarded":
            return
        data = message.get("data") or {}
        if data.get("rule_id") != f"metrics.{INGEST_METRIC}":
            return
        answered = int(data.get("amount", 0)) // INGEST_XP
        now = time.time()
        while answered > 0 and self._unanswered:
            head = self._unanswered[0]
            take = min(answered, head.count)
            for _ in range(take):
                self.meter.record("screen", (now - head.sent_at) * 1000)
            self.meter.events_answered += take
            head.count -= take
            answered -= take
            if head.count == 0:
                self._unanswered.popleft()

    def _ingested(self, message: dict[str, Any]) -> None:
        sent = self._ingests.pop(message.get("id", -1), None)
        if sent is None:
            return
        self.meter.record("ingest", (time.time() - sent) * 1000)
        accepted = int(message.get("accepted", 0))
        self.meter.ingested += accepted
        if accepted != len(message.get("events", ())):
            statuses = [f"{e.get('status')} {e.get('code')}" for e in message.get("events", ())]
            self.meter.problem(f"ingest not accepted: {statuses}")
            # The refused events will never be answered: stop waiting for them.
            refused = len(statuses) - accepted
            while refused > 0 and self._unanswered:
                tail = self._unanswered[-1]
                dropped = min(refused, tail.count)
                tail.count -= dropped
                refused -= dropped
                if tail.count == 0:
                    self._unanswered.pop()

    # ------------------------------------------------------------------ bytes out

    def ping(self) -> None:
        ident = next(self._ids)
        self._pings[ident] = time.monotonic()
        self._send({"type": "ping", "id": ident})

    def ingest(self) -> bool:
        """Report one event of this user's; False once it has sent all it may (they would stop
        awarding XP, leaving nothing to measure)."""
        limit = INGEST_MAX_EVENTS if self.spec.backdate else INGEST_PER_DAY  # today's: capped at ten
        if not self.connected or self._sent_events >= limit:
            return False
        k = self._sent_events
        self._sent_events += 1
        now = time.time()
        back = 86_400 * (k // INGEST_PER_DAY) if self.spec.backdate else 0
        occurred_ms = int((now - back) * 1000) - (60_000 if self.spec.backdate else 1_000)
        ident = next(self._ids)
        event = {
            "id": f"{self.spec.name}-{k}",
            "metric": INGEST_METRIC,
            "value": 1,
            "occurred_at_ms": occurred_ms,
        }
        self._ingests[ident] = now
        self._unanswered.append(_Pending(now))
        self._send({"type": "ingest", "id": ident, "events": [event]})
        return True

    def expect(self, count: int, sent_at: float) -> None:
        """``count`` events of this user's that someone else reported (an integration) at ``sent_at``
        (``time.time()``): answered, and timed as ``screen``, like its own when their XP arrives."""
        self._unanswered.append(_Pending(sent_at, count))

    @property
    def unanswered(self) -> int:
        """Events in flight: not answered by the hub (``ingested``) or whose XP has not reached this
        screen, yet."""
        return max(len(self._ingests), sum(pending.count for pending in self._unanswered))

    def _send(self, message: dict[str, Any]) -> None:
        self._write(OP_BINARY, _packb(message))

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))
            self.last_sent = time.monotonic()

    # ------------------------------------------------------------------ closing

    def connection_lost(self, exc: Exception | None) -> None:
        was_connected = self.connected
        self.connected = False
        if self.closed is None:
            self.closed = f"connection lost ({exc!r})" if exc else "connection closed by the server"
            if was_connected:
                self.meter.problem(self.closed)
        self._settle(self.closed)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def drop(self) -> None:
        """Cut the connection at once, with a TCP reset (a network failure, as the server sees it)."""
        self.connected = False
        self.closed = "dropped by the load client"
        # What was in flight is lost with the connection: the `ingested` replies, and the events that
        # answer it (PROTOCOL.md §12: events are not replayed on resume; the state shows their effect).
        self.meter.in_flight_at_drop += self.unanswered
        self._ingests.clear()
        self._unanswered.clear()
        if self.transport is None or self.transport.is_closing():
            return
        sock: socket.socket | None = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        self._closing = True
        self.transport.abort()
        self._pings.clear()

    def close(self) -> None:
        """A clean goodbye (close 1000)."""
        self.connected = False
        if self.closed is None:
            self.closed = "closed by the load client"
        self._write(OP_CLOSE, close_payload(1000))
        self._closing = True
        if self.transport is not None:
            self.transport.close()

    def _abort(self, reason: str) -> None:
        (self.meter.problem if self.connected else self.meter.note)(reason)
        self.closed = reason
        self._settle(reason)
        self._closing = True
        if self.transport is not None:
            self.transport.abort()
