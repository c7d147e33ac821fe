"""A Locust user that speaks the gamif protocol (PROTOCOL.md), for teams that already run Locust.

    locust -f load_tests/locust_user.py --host http://127.0.0.1:8000

Each user registers a player (or takes one from the JSON file named by ``GAMIF_LOCUST_USERS``:
``[{"user_id": ..., "access_token": ...}]``, round-robin), opens ``/ws`` with ``gamif.v1.msgpack``,
authenticates, subscribes to its ``user:`` topic and the weekly XP board, then pings and self-reports
closed tickets. Rows in Locust's stats (request type ``WS`` unless said):

- ``HTTP register``, ``connect+auth``, ``ping``, ``ingest``: request → reply; ``subscribe``: both
  topics' ``subscribe`` (pipelined) → both ``subscribed``;
- ``event->screen``: ``ingest`` sent → its ``xp_awarded`` event received (the whole scoring path);
- ``delta``: ``at_ms`` of each delta → received (publish → screen, meaningful on one machine's clock);
  a failure when a topic's offsets skip (missed deltas);
- ``closed``: a failure when the server closes the session (with its close code).

``event->screen`` pairs awards with tickets in order, per session: with more Locust users than
pre-created accounts, sessions sharing an account also see each other's awards and may pair them.

Only Locust may import this module: it runs under gevent's monkey-patching, so the plain sockets here
yield to other users' greenlets.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import os
import random
import socket
import ssl
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import gevent  # type: ignore[import-untyped]
import msgpack  # type: ignore[import-untyped]
from gevent.event import AsyncResult  # type: ignore[import-untyped]
from gevent.lock import Semaphore  # type: ignore[import-untyped]
from locust import User, between, task
from locust.exception import StopUser

from load_tests.fanout.ws_wire import (
    HEADERS_END,
    MAX_HANDSHAKE_BYTES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    HandshakeError,
    check_handshake_response,
    client_frame,
    close_code,
    close_payload,
    handshake_request,
    new_key,
)
from protocol import Auth, Encoding, Ingest, IngestEvent, Message, Ping, Since, Subscribe, encode

USERS_ENV = "GAMIF_LOCUST_USERS"
BOARD_TOPIC = "leaderboard:xp:weekly"
TICKETS_RULE = "metrics.tickets_closed"
TICKET_XP = 8  # default rules: tickets_closed is worth 8 XP, capped at 80 a day
TICKETS_PER_DAY = 9  # 72 XP: under the daily cap, so that every ticket is scored and answered
DAY_MS = 86_400_000
REPLY_TIMEOUT_S = 10.0
SCREEN_TIMEOUT_S = 30.0  # an accepted ticket whose xp_awarded has not come by then counts as lost


class GamifError(Exception):
    """Something the protocol or the server did wrong, as seen by one load user."""


class RegistrationFailed(GamifError):
    pass


class ReplyTimeout(GamifError):
    pass


class ServerError(GamifError):
    """An ``error`` reply (or an unexpected reply) to one of our requests."""


class SessionClosed(GamifError):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"server closed the session: {code} {reason}".rstrip())
        self.code = code


class MissedDeltas(GamifError):
    pass


class NotScored(GamifError):
    pass


_pre_created: list[dict[str, str]] | None = None
_pre_created_turn = itertools.count()


def _pre_created_user() -> dict[str, str] | None:
    """The next user of the ``GAMIF_LOCUST_USERS`` file (read once per process), or None without one."""
    global _pre_created  # noqa: PLW0603 - one list per Locust process, shared by its users
    path = os.environ.get(USERS_ENV)
    if not path:
        return None
    if _pre_created is None:
        with open(path, encoding="utf-8") as file:
            _pre_created = [
                {"user_id": str(u["user_id"]), "access_token": u["access_token"]} for u in json.load(file)
            ]
        if not _pre_created:
            raise RegistrationFailed(f"{USERS_ENV}={path} holds no users")
    return _pre_created[next(_pre_created_turn) % len(_pre_created)]


class GamifSocket:
    """A minimal RFC 6455 client over a (gevent-patched) socket: masked frames out, a greenlet reading
    frames in and handing each decoded message to ``on_message``."""

    def __init__(self, user: GamifUser, host: str, port: int, tls: bool) -> None:
        self.user = user
        self.closing = False  # we sent the close: the server's echo is no failure
        self.closed = False
        self._send_lock = Semaphore()  # one frame at a time: tasks and the reader both send
        self._buffer = bytearray()
        self.last_sent = time.monotonic()
        raw = socket.create_connection((host, port), timeout=REPLY_TIMEOUT_S)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host) if tls else raw
        key = new_key()
        self.sock.sendall(handshake_request(host, port, "/ws", key, Encoding.MSGPACK.value))
        while HEADERS_END not in self._buffer:
            if len(self._buffer) > MAX_HANDSHAKE_BYTES:
                raise HandshakeError("handshake response too large")
            self._fill()
        end = self._buffer.index(HEADERS_END)
        check_handshake_response(bytes(self._buffer[:end]), key, Encoding.MSGPACK.value)
        del self._buffer[: end + len(HEADERS_END)]
        self.reader = gevent.spawn(self._read_loop)

    def send(self, message: Message) -> int:
        frame = client_frame(OP_BINARY, encode(message, Encoding.MSGPACK))
        self._send_raw(frame)
        return len(frame)

    def _send_raw(self, frame: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(frame)
        self.last_sent = time.monotonic()

    def close(self) -> None:
        if self.closed:
            return
        self.closing = True
        try:
            self._send_raw(client_frame(OP_CLOSE, close_payload(1000)))
            self.reader.join(timeout=2.0)  # the server's close echo ends the reader
        except OSError:
            pass  # already gone: nothing left to close cleanly
        self._shutdown()

    def _shutdown(self) -> None:
        self.closed = True
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65_536)
        if not chunk:
            raise SessionClosed(1006, "connection dropped")
        self._buffer += chunk

    def _parse(self) -> tuple[bool, int, bytes] | None:
        """The next whole frame off the buffer, or None: nothing is consumed until a frame is complete,
        so that a read timeout (the keepalive's tick) never splits one."""
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        if second & 0x80:
            raise GamifError("the server masked a frame")
        size, start = second & 0x7F, 2
        if size >= 126:
            start += 2 if size == 126 else 8
            if len(buffer) < start:
                return None
            size = int.from_bytes(buffer[2:start], "big")
        if len(buffer) < start + size:
            return None
        payload = bytes(buffer[start : start + size])
        del buffer[: start + size]
        return bool(first & 0x80), first & 0x0F, payload

    def _read_loop(self) -> None:
        fragments: list[bytes] = []
        try:
            while True:
                frame = self._parse()
                if frame is None:
                    try:
                        self._fill()
                    except TimeoutError:
                        self.user.keepalive()  # quiet for a while: the reader keeps the session alive
                    continue
                final, opcode, payload = frame
                if opcode == OP_PING:
                    self._send_raw(client_frame(OP_PONG, payload))
                elif opcode == OP_CLOSE:
                    if not self.closing:
                        code = close_code(payload)
                        self.user.failed(
                            "closed", SessionClosed(code, payload[2:].decode("utf-8", "replace"))
                        )
                        self._send_raw(client_frame(OP_CLOSE, close_payload(code)))
                    return
                elif opcode in (OP_BINARY, OP_TEXT, OP_CONTINUATION):
                    fragments.append(payload)
                    if final:
                        message = msgpack.unpackb(b"".join(fragments), raw=False)
                        fragments.clear()
                        self.user.on_message(message, len(payload))
        except (OSError, GamifError, ValueError, KeyError, TypeError) as exc:
            # A malformed frame or message ends the session too: report it, never lose it in a greenlet.
            if not self.closing:
                self.user.failed("closed", exc)
        finally:
            self._shutdown()


class GamifUser(User):
    """One player on one screen: subscribed to its progress and the weekly board, pinging and closing
    tickets now and then."""

    wait_time = between(2, 6)  # a person glancing at a dashboard, not a bot hammering it

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.ws: GamifSocket | None = None
        self.user_id = ""
        self.token = ""
        self.day_base = 0
        self.heartbeat_s = 25.0
        self._ids = itertools.count(1)
        self._replies: dict[int, AsyncResult] = {}
        self._offsets: dict[str, tuple[str, int]] = {}  # topic → (epoch, last offset)
        self._resyncing: set[str] = set()
        self._unscored: deque[tuple[str, float]] = deque()  # (event id, sent at) awaiting xp_awarded
        self._tickets = itertools.count()
        self.deltas = 0
        self._reply_length = 0

    # ------------------------------------------------------------------------- reporting

    def report(self, name: str, started: float, length: int = 0, exception: Exception | None = None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exception,
            context={},
        )

    def failed(self, name: str, exception: Exception) -> None:
        self.environment.events.request.fire(
            request_type="WS", name=name, response_time=0, response_length=0, exception=exception, context={}
        )

    # ------------------------------------------------------------------------- life cycle

    def on_start(self) -> None:
        try:
            user = _pre_created_user()
        except (OSError, ValueError, KeyError, TypeError, RegistrationFailed) as exc:
            self.environment.events.request.fire(
                request_type="HTTP",
                name="register",
                response_time=0,
                response_length=0,
                exception=RegistrationFailed(f"{USERS_ENV}: {exc!r}"),
                context={},
            )
            raise StopUser() from exc
        if user is None:
            self._register()
        else:
            self.user_id, self.token = user["user_id"], user["access_token"]
            self.day_base = random.randrange(300)  # a shared account: spread over days other runs missed
        self._connect()

    def on_stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def _register(self) -> None:
        url = urlsplit(self.host or "")
        handle = f"locust-{uuid.uuid4().hex[:16]}"
        body = json.dumps(
            {
                "email": f"{handle}@load.test",
                "password": uuid.uuid4().hex,
                "handle": handle,
                "display_name": f"Locust {handle[-6:]}",
            }
        )
        connection_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(url.netloc, timeout=REPLY_TIMEOUT_S * 3)
        started = time.perf_counter()
        exception: Exception | None = None
        data = b""
        try:
            connection.request(
                "POST", "/api/v1/auth/register", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            data = response.read()
            if response.status != 201:
                raise RegistrationFailed(f"register: HTTP {response.status} {data[:200]!r}")
            registered = json.loads(data)
            self.user_id, self.token = registered["user"]["id"], registered["tokens"]["access_token"]
        except (OSError, ValueError, KeyError, RegistrationFailed) as exc:
            exception = exc if isinstance(exc, RegistrationFailed) else RegistrationFailed(repr(exc))
        finally:
            connection.close()
        self.environment.events.request.fire(
            request_type="HTTP",
            name="register",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(data),
            exception=exception,
            context={},
        )
        if exception is not None:
            raise StopUser()

    def _connect(self) -> None:
        url = urlsplit(self.host or "")
        tls = url.scheme == "https"
        self._offsets.clear()
        self._resyncing.clear()
        started = time.perf_counter()
        try:
            self.ws = GamifSocket(self, url.hostname or "127.0.0.1", url.port or (443 if tls else 80), tls)
            (welcome,) = self.request(Auth(id=self._next_id(), token=self.token), reply_type="welcome")
            self.heartbeat_s = welcome["heartbeat_ms"] / 1000
            # Below heartbeat_ms so the reader's keepalive fires before the server's idle limit (2x).
            self.ws.sock.settimeout(self.heartbeat_s / 2)
        except (OSError, GamifError) as exc:
            self.report("connect+auth", started, exception=exc)
            self._drop()
            raise StopUser() from exc
        self.report("connect+auth", started)
        started = time.perf_counter()
        try:
            topics = (f"user:{self.user_id}", BOARD_TOPIC)
            self.request(*(Subscribe(id=self._next_id(), topic=t) for t in topics), reply_type="subscribed")
        except (OSError, GamifError) as exc:
            self.report("subscribe", started, exception=exc)
            self._drop()
            raise StopUser() from exc
        self.report("subscribe", started)

    def _drop(self) -> None:
        if self.ws is not None:
            self.ws.closing = True
            self.ws.close()
            self.ws = None

    def _live(self) -> GamifSocket:
        """The session, reopened (and re-subscribed) if the server closed it."""
        if self.ws is None or self.ws.closed:
            self.ws = None
            self._connect()
        assert self.ws is not None
        return self.ws

    # ------------------------------------------------------------------------- requests

    def _next_id(self) -> int:
        return next(self._ids)

    def request(self, *messages: Auth | Subscribe | Ping | Ingest, reply_type: str) -> list[dict[str, Any]]:
        """Send ``messages`` at once (pipelined) and wait for the replies bearing their ids: the replies,
        or a typed error."""
        assert self.ws is not None
        waiters: list[tuple[int, AsyncResult]] = []
        for message in messages:
            assert isinstance(message.id, int)
            waiters.append((message.id, AsyncResult()))
            self._replies[message.id] = waiters[-1][1]
        replies: list[dict[str, Any]] = []
        try:
            for message in messages:
                self.ws.send(message)
            deadline = time.monotonic() + REPLY_TIMEOUT_S
            for _, waiter in waiters:
                replies.append(waiter.get(timeout=max(0.0, deadline - time.monotonic())))
        except gevent.Timeout as exc:
            raise ReplyTimeout(f"no {reply_type} within {REPLY_TIMEOUT_S:.0f} s") from exc
        finally:
            for message_id, _ in waiters:
                self._replies.pop(message_id, None)
        for reply in replies:
            if reply.get("type") != reply_type:
                raise ServerError(f"{reply.get('code', reply.get('type'))}: {reply.get('message', '')}")
        return replies

    def keepalive(self) -> None:
        ws = self.ws
        if ws is not None and time.monotonic() - ws.last_sent >= self.heartbeat_s / 2:
            ws.send(Ping(id=self._next_id()))  # its pong has no waiter: ignored

    @task(3)
    def ping(self) -> None:
        self._live()
        started = time.perf_counter()
        try:
            self.request(Ping(id=self._next_id()), reply_type="pong")
        except (OSError, GamifError) as exc:
            self.report("ping", started, exception=exc)
            return
        self.report("ping", started, length=self._reply_length)

    @task(1)
    def ingest(self) -> None:
        self._live()
        ticket = next(self._tickets)
        event_id = f"locust-{uuid.uuid4().hex}"
        occurred_at_ms = int(time.time() * 1000) - (self.day_base + ticket // TICKETS_PER_DAY) * DAY_MS
        event = IngestEvent(id=event_id, metric="tickets_closed", value=1, occurred_at_ms=occurred_at_ms)
        started = time.perf_counter()
        # Queued before sending: on one machine, scoring can beat the `ingested` frame to the reader.
        self._unscored.append((event_id, started))
        try:
            (reply,) = self.request(Ingest(id=self._next_id(), events=(event,)), reply_type="ingested")
            status = reply["events"][0]
            if status["status"] != "accepted":
                raise ServerError(f"ingest {status['status']}: {status.get('code')}: {status.get('reason')}")
        except (OSError, GamifError, KeyError, IndexError) as exc:
            self._unscored = deque(item for item in self._unscored if item[0] != event_id)
            self.report(
                "ingest", started, exception=exc if isinstance(exc, GamifError) else ServerError(repr(exc))
            )
            return
        self.report("ingest", started, length=self._reply_length)
        self._expire_unscored()

    def _expire_unscored(self) -> None:
        deadline = time.perf_counter() - SCREEN_TIMEOUT_S
        while self._unscored and self._unscored[0][1] < deadline:
            event_id, _ = self._unscored.popleft()
            self.failed(
                "event->screen", NotScored(f"no xp_awarded for {event_id} within {SCREEN_TIMEOUT_S:.0f} s")
            )

    # ------------------------------------------------------------------------- what the server pushes

    def on_message(self, message: dict[str, Any], length: int) -> None:
        kind = message.get("type")
        message_id = message.get("id")
        if kind in ("welcome", "subscribed", "pong", "ingested", "error") and message_id is not None:
            if kind == "subscribed":
                self._start_topic(message)
            waiter = self._replies.get(message_id)
            if waiter is not None:
                self._reply_length = length
                waiter.set(message)
            elif kind == "error":  # e.g. to a keepalive ping
                self.failed("error", ServerError(f"{message.get('code')}: {message.get('message')}"))
        elif kind == "delta":
            self._delta(message)
        elif kind == "batch":
            for delta in message["deltas"]:
                self._delta(delta)
        elif kind == "event":
            self._event(message)
        elif kind == "subscribed":  # unsolicited: the server restarted the subscription
            self._start_topic(message)
        elif kind == "error":
            self.failed("error", ServerError(f"{message.get('code')}: {message.get('message')}"))

    def _start_topic(self, subscribed: dict[str, Any]) -> None:
        topic = subscribed["topic"]
        self._resyncing.discard(topic)
        if subscribed.get("recovered"):
            for delta in subscribed.get("deltas", []):
                self._delta(delta)
        self._offsets[topic] = (subscribed["epoch"], subscribed["offset"])

    def _delta(self, delta: dict[str, Any]) -> None:
        topic, epoch, offset = delta["topic"], delta["epoch"], delta["offset"]
        known = self._offsets.get(topic)
        if known is None or topic in self._resyncing:
            return  # before its `subscribed`, or while re-synchronising: that reply sets the offset
        last_epoch, last = known
        if epoch == last_epoch and offset <= last:
            return  # a duplicate: already counted
        if epoch != last_epoch or offset != last + 1:
            self.failed("delta", MissedDeltas(f"{topic}: got {epoch}/{offset} after {last_epoch}/{last}"))
            # Re-synchronise as PROTOCOL.md §12 says, so that one loss is reported once.
            self._resyncing.add(topic)
            if self.ws is not None:
                self.ws.send(
                    Subscribe(id=self._next_id(), topic=topic, since=Since(epoch=last_epoch, offset=last))
                )
            return
        self._offsets[topic] = (epoch, offset)
        self.deltas += 1
        self.environment.events.request.fire(
            request_type="WS",
            name="delta",
            response_time=max(0.0, time.time() * 1000 - delta["at_ms"]),
            response_length=0,
            exception=None,
            context={},
        )

    def _event(self, event: dict[str, Any]) -> None:
        data = event.get("data", {})
        if event.get("name") != "xp_awarded" or data.get("rule_id") != TICKETS_RULE:
            return
        if event.get("topic") != f"user:{self.user_id}":
            return
        # Scoring batches a user's tickets into one award: each 8 XP answers the oldest ticket sent.
        # Rounded up so that a ticket half-scored under the daily cap still counts as answered.
        for _ in range(min(len(self._unscored), math.ceil(max(0, data.get("amount", 0)) / TICKET_XP))):
            _, sent = self._unscored.popleft()
            self.report("event->screen", sent)
