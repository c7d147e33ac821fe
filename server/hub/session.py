"""One WebSocket session: its reader (requests, in order), its writer (a bounded outbound queue), and
its subscriptions (each an epoch and offset, PROTOCOL.md §10 and §12).

The hub never awaits a client while fanning out: `Session.offer` only appends to the session's queue
and wakes its writer. Several deltas waiting in the queue leave as one ``batch`` frame, assembled from
bodies encoded once per process. A client that lets more than ``send_buffer_bytes`` pile up is closed
with 4008 (slow consumer): it can resume, and its queue is freed at once.

A session asks the application (identities, topics, ingest, notifications) through its hub's
`HubHandlers` and answers a `Refusal` with the code it carries: it knows no service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import (
    CLIENT_FRAME_LIMITS,
    MAX_INGEST_EVENTS,
    Auth,
    Encoding,
    ErrorCode,
    Ingest,
    Ping,
    ProtocolError,
    Refresh,
    Since,
    Subscribe,
    Unsubscribe,
    close_reason,
    decode,
    encode_value,
)
from protocol.errors import ERRORS

from .frames import DeltaRun, Frame, LiveDelta, batch_frame
from .handlers import EventStatus, Identity, Refusal
from .host import SessionHost
from .link import DirectLink, wire_frame
from .presence import Person, scopes_of

log = logging.getLogger("gamif.hub")

_MAX_BATCH_DELTAS = 500
_MAX_BATCH_BYTES = 512 * 1024  # well under the 1 MiB server frame limit
_FLUSH_TIMEOUT = 2.0
"""Seconds the replies queued before a close get to leave (a client that stopped reading never takes
them)."""
_CLOSE_GRACE = 2.0
"""Seconds a client has to answer the server's close frame before its connection is aborted."""
_NOTIFICATIONS_ON_CONNECT = 50


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Subscription:
    epoch: str = ""
    offset: int = -1
    syncing: bool = True
    pending: list[LiveDelta] | None = None
    """Live deltas that arrived while (re)synchronising: applied once the state is sent."""
    pending_bytes: int = 0
    """Their encoded size, counted in the session's send buffer."""


class _Close(Exception):
    """End the session with this close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        self.code, self.reason = code, reason


def _close_args(code: ErrorCode, detail: str = "") -> tuple[int, str]:
    close = ERRORS[code].close_code
    assert close is not None
    return close, close_reason(code, detail)


def _closing(code: ErrorCode, detail: str = "") -> _Close:
    return _Close(*_close_args(code, detail))


class Session:
    __slots__ = (
        "_background",
        "_caught_up",
        "_closed",
        "_deadline",
        "_expires_at_ms",
        "_held_bytes",
        "_joined",
        "_link",
        "_peak_bytes",
        "_queue",
        "_queued_bytes",
        "_refill_at",
        "_refused_in_a_row",
        "_sync_lock",
        "_syncs",
        "_tokens",
        "_writer",
        "encoding",
        "hub",
        "id",
        "identity",
        "subscriptions",
        "websocket",
    )

    def __init__(self, hub: SessionHost, websocket: WebSocket, encoding: Encoding) -> None:
        self.hub = hub
        self.websocket = websocket
        self.encoding = encoding
        self.id = f"{hub.node_id}.{secrets.token_urlsafe(9)}"
        self.identity: Identity | None = None
        self.subscriptions: dict[str, _Subscription] = {}
        self._link = DirectLink.of(websocket)
        self._queue: deque[LiveDelta | Frame] | None = None
        """What waits to be sent (created when a backlog forms: an empty deque takes 600 bytes)."""
        self._queued_bytes = 0
        self._held_bytes = 0
        """The size of the live deltas held while topics synchronise (counted in the send buffer)."""
        self._peak_bytes = 0
        """The most bytes that waited for this client at once (its send buffer's high-water mark)."""
        self._joined = False
        """Whether the session counts in the hub's sessions and in presence (from welcome to its end)."""
        self._writer: asyncio.Task[None] | None = None
        """Drains the queue when the fast path cannot be taken; exists only while there is a backlog."""
        self._closed = False
        self._caught_up = False
        """Whether this session was sent the notifications kept while the player was away."""
        self._deadline = math.inf
        """When (monotonic) the session times out: the auth deadline, then the heartbeat's."""
        self._expires_at_ms: int | None = None
        self._sync_lock: asyncio.Lock | None = None
        self._syncs = 0
        """Synchronisations running or waiting for the lock (which exists only while there are some)."""
        self._background: set[asyncio.Task[None]] | None = None
        self._tokens = float(hub.settings.hub_rate_burst)
        self._refill_at = time.monotonic()
        self._refused_in_a_row = 0

    # ------------------------------------------------------------------ the reader

    async def run(self) -> None:
        """Serve the connection until it ends (the caller has accepted it). Its time limits (auth,
        heartbeat, token expiry) are enforced by the hub's watchdog (`check_deadlines`), which costs
        nothing per message, rather than by a timer per session."""
        settings = self.hub.settings
        self._deadline = time.monotonic() + settings.hub_auth_timeout_ms / 1000
        idle_timeout = 2 * settings.hub_heartbeat_ms / 1000
        self.hub.watch_deadlines(self)
        try:
            while not self._closed:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    if not self._closed:  # the client (or its connection) ended it
                        self.hub.stats.closed("client", message.get("code", 1005))
                    return
                data = message.get("bytes")
                anonymous = self.identity is None
                await self._handle(data if data is not None else message.get("text", ""))
                # Until the session is authenticated its deadline stays the auth deadline, whatever
                # else arrives (an unknown type, an invalid auth): only a welcome starts the heartbeat.
                if self.identity is not None and (anonymous or self._deadline != math.inf):
                    self._deadline = time.monotonic() + idle_timeout
        except _Close as close:
            await self.close(close.code, close.reason)
        except WebSocketDisconnect:
            pass
        finally:
            await self._end()

    def check_deadlines(self, now: float, now_ms: int) -> None:
        """Close the session if its time is up: no ``auth`` in time, silence past twice the heartbeat,
        or an access token that expired without a ``refresh``."""
        if self._closed:
            return
        if now >= self._deadline:
            code = ErrorCode.AUTH_TIMEOUT if self.identity is None else ErrorCode.HEARTBEAT_TIMEOUT
        elif self._expires_at_ms is not None and now_ms >= self._expires_at_ms:
            code = ErrorCode.TOKEN_EXPIRED
        else:
            return
        self._deadline = math.inf  # once
        self._expires_at_ms = None
        self._spawn(self.close(*_close_args(code)))

    async def _handle(self, data: bytes | str) -> None:
        if not self._take_token():
            return
        try:
            request = decode(data, self.encoding, sender="client")
        except ProtocolError as error:
            if error.fatal:
                raise _closing(error.code, error.message) from None
            self._error(error.code, error.message, id=error.message_id, field=error.field)
            return
        if self.identity is None:
            if not isinstance(request, Auth):
                raise _closing(ErrorCode.NOT_AUTHENTICATED, f"{request.type} before auth")
            # The auth limit is the client's to meet: once a valid auth is in, checking it may take
            # what it takes (a connect storm queues them) without the session timing out.
            self._deadline = math.inf
            await self._auth(request)
            return
        try:
            await self._request(request)
        except (_Close, WebSocketDisconnect):
            raise
        except Exception as error:
            # A request that fails unexpectedly gets its error and the session goes on: dropping the
            # connection (1006, "reconnect and resume") would make a client resend it, and loop.
            self._failed(request, error)

    async def _request(self, request: object) -> None:
        """An authenticated session's request."""
        if isinstance(request, Subscribe):
            await self._subscribe(request)
        elif isinstance(request, Unsubscribe):
            await self._unsubscribe(request)
        elif isinstance(request, Ping):
            self._send({"type": "pong", "id": request.id, "server_time_ms": now_ms()})
        elif isinstance(request, Refresh):
            await self._refresh(request)
        elif isinstance(request, Auth):
            self._error(ErrorCode.ALREADY_AUTHENTICATED, "this session is authenticated", id=request.id)
        elif isinstance(request, Ingest):
            await self._ingest(request)
        else:  # pragma: no cover (decode only returns client messages)
            self._error(ErrorCode.UNKNOWN_TYPE, f"unexpected {type(request).__name__}")

    def _failed(self, request: object, error: Exception) -> None:
        """``unavailable`` when a store cannot be reached (try again), else ``internal_error`` with the
        reference its traceback was logged under."""
        request_id = getattr(request, "id", None)
        if self.hub.handlers.store_unavailable(error):
            log.warning("hub: a store is unavailable for a %s: %r", type(request).__name__, error)
            message = "a data store cannot be reached right now; nothing was changed: try again"
            self._error(ErrorCode.UNAVAILABLE, message, id=request_id, retry_after_ms=5000)
            return
        ref = secrets.token_hex(6)
        log.exception("hub: a %s failed (ref %s)", type(request).__name__, ref, exc_info=error)
        self._error(
            ErrorCode.INTERNAL_ERROR, f"the request failed on our side (ref {ref})", id=request_id, ref_id=ref
        )

    def _take_token(self) -> bool:
        """The token bucket of PROTOCOL.md §15."""
        settings = self.hub.settings
        now = time.monotonic()
        rate, burst = settings.hub_rate_per_second, settings.hub_rate_burst
        self._tokens = min(burst, self._tokens + (now - self._refill_at) * rate)
        self._refill_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._refused_in_a_row = 0
            return True
        self._refused_in_a_row += 1
        if self._refused_in_a_row == 1:
            retry = math.ceil((1 - self._tokens) / rate * 1000)
            self._error(ErrorCode.RATE_LIMITED, "too many messages", retry_after_ms=retry)
        if self._refused_in_a_row >= burst:
            raise _closing(ErrorCode.RATE_LIMITED, f"{burst} messages refused in a row")
        return False

    async def _auth(self, request: Auth) -> None:
        try:
            identity = await self.hub.handlers.authenticate(request.token)
        except Refusal as error:
            self.hub.stats.auth_failed(str(error.code))
            raise _closing(error.code, error.message) from None
        if self._closed:
            return  # closed while the token was checked (a shutdown): nothing to join
        self.identity = identity
        settings = self.hub.settings
        limits = {
            "max_frame_bytes": CLIENT_FRAME_LIMITS.max_frame_bytes,
            "max_depth": CLIENT_FRAME_LIMITS.max_depth,
            "max_string_bytes": CLIENT_FRAME_LIMITS.max_string_bytes,
            "max_array_length": CLIENT_FRAME_LIMITS.max_array_length,
            "max_map_length": CLIENT_FRAME_LIMITS.max_map_length,
            "max_subscriptions": settings.hub_max_subscriptions,
            "rate_per_second": settings.hub_rate_per_second,
            "rate_burst": settings.hub_rate_burst,
            "max_ingest_events": MAX_INGEST_EVENTS,
            "auth_timeout_ms": settings.hub_auth_timeout_ms,
        }
        self._send(
            {
                "type": "welcome",
                "id": request.id,
                "session_id": self.id,
                "user_id": identity.user_id,
                "heartbeat_ms": settings.hub_heartbeat_ms,
                "server_time_ms": now_ms(),
                "expires_at_ms": identity.expires_at_ms,
                "limits": limits,
            }
        )
        self._expires_at_ms = identity.expires_at_ms
        self.hub.attach(self)
        self._joined = True
        await self.hub.presence.join(self.id, self.person, scopes_of(identity.teams))

    @property
    def person(self) -> Person:
        assert self.identity is not None
        return Person(self.identity.user_id, self.identity.handle, self.identity.display_name)

    async def _refresh(self, request: Refresh) -> None:
        assert self.identity is not None
        try:
            verified = self.hub.handlers.verify(request.token)
        except Refusal as error:
            self._error(error.code, error.message, id=request.id)
            return
        user_id, expires_at_ms = verified.user_id, verified.expires_at_ms
        if user_id != self.identity.user_id:
            self._error(ErrorCode.AUTH_FAILED, "the token is another user's", id=request.id)
            return
        self._expires_at_ms = expires_at_ms
        self._send({"type": "refreshed", "id": request.id, "expires_at_ms": expires_at_ms})

    async def _ingest(self, request: Ingest) -> None:
        """The player's own metric events, handed to the application (which takes them as ``POST
        /metrics`` does): a status per event (accepted, duplicate, rejected with its code) in `ingested`."""
        assert self.identity is not None
        try:
            out = await self.hub.handlers.ingest(self.identity.user_id, request)
        except Refusal as refused:
            self._error(
                refused.code,
                refused.message,
                id=request.id,
                field=refused.field,
                retry_after_ms=refused.retry_after_ms,
            )
            return
        self._send(
            {
                "type": "ingested",
                "id": request.id,
                "accepted": out.accepted,
                "duplicates": out.duplicates,
                "rejected": out.rejected,
                "rule_version": out.rule_version,
                "events": [_ingest_status(e) for e in out.events],
            }
        )

    # ------------------------------------------------------------------ subscriptions

    async def _subscribe(self, request: Subscribe) -> None:
        topic = request.topic
        if topic not in self.subscriptions:
            if len(self.subscriptions) >= self.hub.settings.hub_max_subscriptions:
                self._error(
                    ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                    f"at most {self.hub.settings.hub_max_subscriptions} topics at once",
                    id=request.id,
                    topic=topic,
                )
                return
            try:
                await self.hub.authorize(self.person.user_id, topic)
            except Refusal as refused:
                self._error(refused.code, refused.message, id=request.id, topic=topic)
                return
            if self._closed:
                return  # torn down meanwhile (a slow consumer): its topics are released already
            topic = sys.intern(topic)  # a crowd watching one topic shares the key
            self.subscriptions[topic] = _Subscription()
            try:
                await self.hub.watch(topic, self)
            except BaseException:
                del self.subscriptions[topic]
                raise
        await self._sync(topic, request.since, request.id)

    async def _sync(self, topic: str, since: Since | None, request_id: int | str | None) -> None:
        """Send the topic's state (the missed deltas after `since`, or a snapshot), then the live
        deltas that came meanwhile."""
        if self._sync_lock is None:
            self._sync_lock = asyncio.Lock()
        self._syncs += 1
        try:
            async with self._sync_lock:
                await self._sync_locked(topic, since, request_id)
        finally:
            self._syncs -= 1
            if self._syncs == 0:
                self._sync_lock = None

    async def _sync_locked(self, topic: str, since: Since | None, request_id: int | str | None) -> None:
        sub = self.subscriptions.get(topic)
        if sub is None:
            return  # unsubscribed meanwhile
        sub.syncing = True
        self._unhold(sub)  # what arrived before this read is in the state it reads
        reply: dict[str, Any] = {"type": "subscribed", "id": request_id, "topic": topic}
        deltas = None
        if since is not None:
            try:
                deltas = await self.hub.streams.since(topic, since.epoch, since.offset)
            except Exception:
                deltas = None  # a snapshot will do
        try:
            if deltas is not None:
                live = [LiveDelta.from_stream(delta) for delta in deltas]
                assert since is not None
                sub.epoch, sub.offset = since.epoch, since.offset + len(live)
                reply |= {"recovered": True, "deltas": [delta.wire() for delta in live]}
            else:
                document, position = await self.hub.snapshot(topic)
                sub.epoch, sub.offset = position.epoch, position.offset
                reply |= {"recovered": False, "snapshot": document}
        except Refusal as refused:  # the topic vanished (a team deleted)
            self._drop(topic)
            self._send({"type": "unsubscribed", "topic": topic, "reason": str(refused.code)})
            return
        except Exception:
            ref = secrets.token_hex(6)
            log.exception("hub: cannot synchronise %s (ref %s)", topic, ref)
            if request_id is not None:
                self._error(
                    ErrorCode.UNAVAILABLE,
                    f"the topic's state cannot be read now (ref {ref})",
                    id=request_id,
                    topic=topic,
                    retry_after_ms=1000,
                )
                self._drop(topic)
            else:
                self._send({"type": "unsubscribed", "topic": topic, "reason": "unavailable"})
                self._drop(topic)
            return
        reply |= {"epoch": sub.epoch, "offset": sub.offset}
        self._send(reply)
        if not self._caught_up and self.identity is not None and topic == f"user:{self.identity.user_id}":
            self._caught_up = True
            await self._send_notifications(topic)
        pending = self._unhold(sub)
        sub.syncing = False
        for delta in pending:
            self.offer(delta)

    async def _send_notifications(self, topic: str) -> None:
        """What happened while the player was away (unread level-ups, badges, missions), once per
        session, as the events they were, each with its ``notification_id`` to mark it read."""
        if self.identity is None:
            return
        try:
            unread = await self.hub.handlers.unread(self.identity.user_id, _NOTIFICATIONS_ON_CONNECT)
        except Exception:
            log.exception("hub: cannot read the notifications of %s", self.identity.user_id)
            return
        for note in unread:
            self._send(
                {
                    "type": "event",
                    "topic": topic,
                    "name": note.kind,
                    "data": {**note.data, "notification_id": note.id},
                    "at_ms": note.at_ms,
                }
            )

    async def _unsubscribe(self, request: Unsubscribe) -> None:
        self._drop(request.topic)
        self._send({"type": "unsubscribed", "id": request.id, "topic": request.topic})

    def _drop(self, topic: str) -> None:
        sub = self.subscriptions.pop(topic, None)
        if sub is not None:
            self._unhold(sub)
            self.hub.unwatch(topic, self)

    def offer(self, delta: LiveDelta) -> None:
        """A live delta of a watched topic (never blocks: the writer sends it)."""
        sub = self.subscriptions.get(delta.topic)
        if sub is None or self._closed:
            return
        if sub.syncing:
            self._hold(sub, delta)
            return
        if delta.epoch == sub.epoch and delta.offset <= sub.offset:
            return  # already in the state this session was sent
        if delta.epoch != sub.epoch or delta.offset != sub.offset + 1:
            # A reset, or a delta this node missed: catch up from the history (or a snapshot).
            sub.syncing = True
            self._hold(sub, delta)
            if self._closed:
                return  # that overflowed the send buffer
            since = Since(epoch=sub.epoch, offset=sub.offset) if sub.offset >= 0 else None
            self._spawn(self._sync(delta.topic, since, None))
            return
        sub.offset = delta.offset
        self._enqueue(delta)
        for frame in delta.event_frames(self.encoding):
            self._enqueue(frame)

    def offer_run(self, run: DeltaRun) -> None:
        """Consecutive live deltas of one topic that arrived together: one shared ``batch`` frame when
        this session is exactly where the run starts and idle, else one by one."""
        first = run.deltas[0]
        sub = self.subscriptions.get(first.topic)
        if (
            len(run.deltas) > 1
            and sub is not None
            and not sub.syncing
            and not self._closed
            and self._queue is None
            and self._link is not None
            and first.epoch == sub.epoch
            and first.offset == sub.offset + 1
            and self._link.write(wired := run.ws_frame(self.encoding))
        ):
            sub.offset = run.deltas[-1].offset
            stats = self.hub.stats
            stats.deltas_sent += len(run.deltas)
            stats.frames_sent += 1
            stats.bytes_sent += len(wired)
            stats.direct_writes += 1
            for delta in run.deltas:
                for frame in delta.event_frames(self.encoding):
                    self._enqueue(frame)
            return
        for delta in run.deltas:
            self.offer(delta)

    def catch_up(self) -> None:
        """The bus may have missed deltas: resynchronise every topic from where it stands."""
        for topic, sub in self.subscriptions.items():
            if not sub.syncing:
                sub.syncing = True
                self._spawn(self._sync(topic, Since(epoch=sub.epoch, offset=sub.offset), None))

    # ------------------------------------------------------------------ the writer

    def _send(self, message: dict[str, Any]) -> None:
        self._enqueue(encode_value({k: v for k, v in message.items() if v is not None}, self.encoding))

    def _error(
        self,
        code: ErrorCode,
        message: str,
        *,
        id: int | str | None = None,
        field: str | None = None,
        topic: str | None = None,
        retry_after_ms: int | None = None,
        ref_id: str | None = None,
    ) -> None:
        self._send(
            {
                "type": "error",
                "id": id,
                "code": str(code),
                "message": message[:1024],
                "field": field,
                "topic": topic,
                "retry_after_ms": retry_after_ms,
                "ref_id": ref_id,
            }
        )

    def _enqueue(self, item: LiveDelta | Frame) -> None:
        if self._closed:
            return
        stats = self.hub.stats
        if self._queue is None and self._link is not None:
            # Nothing ahead of it (a queued or in-flight frame keeps the writer alive): the fast path.
            if isinstance(item, LiveDelta):
                if self._link.write(frame := item.ws_frame(self.encoding)):
                    stats.deltas_sent += 1
                    stats.frames_sent += 1
                    stats.bytes_sent += len(frame)
                    stats.direct_writes += 1
                    return
            elif self._link.write(frame := wire_frame(item)):
                stats.frames_sent += 1
                stats.bytes_sent += len(frame)
                stats.direct_writes += 1
                return
        size = len(item.body(self.encoding)) if isinstance(item, LiveDelta) else len(item)
        self._queued_bytes += size
        self._peak_bytes = max(self._peak_bytes, self._queued_bytes + self._held_bytes)
        if self._queue is None:
            self._queue = deque()
        self._queue.append(item)
        if self._overflowed():
            return
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Send the queue in order, coalescing waiting deltas into batches; ends when it is empty."""
        queue, encoding, stats = self._queue, self.encoding, self.hub.stats
        assert queue is not None
        try:
            while queue:
                item = queue[0]
                if isinstance(item, LiveDelta):
                    deltas, size, count = [item], len(item.body(encoding)), 1
                    while (
                        count < len(queue)
                        and isinstance(queue[count], LiveDelta)
                        and count < _MAX_BATCH_DELTAS
                        and size < _MAX_BATCH_BYTES
                    ):
                        nxt = queue[count]
                        assert isinstance(nxt, LiveDelta)
                        deltas.append(nxt)
                        size += len(nxt.body(encoding))
                        count += 1
                    frame = deltas[0].frame(encoding) if count == 1 else batch_frame(deltas, encoding)
                    stats.deltas_sent += count
                else:
                    frame, size, count = item, len(item), 1
                # Still queued while in flight: the fast path must not overtake it.
                stats.bytes_sent += await self._send_frame(frame)
                for _ in range(count):
                    queue.popleft()
                stats.frames_sent += 1
                self._queued_bytes -= size
        finally:
            self._writer = None
            if self._queue is queue and not queue:
                self._queue = None

    async def _send_frame(self, frame: Frame) -> int:
        """Send one frame; its size (the whole WebSocket frame on the direct link, else its payload)."""
        if self._link is not None and self._link.write(wired := wire_frame(frame)):
            return len(wired)
        if isinstance(frame, bytes):
            await self.websocket.send({"type": "websocket.send", "bytes": frame})
        else:
            await self.websocket.send({"type": "websocket.send", "text": frame})
        return len(frame)

    def _hold(self, sub: _Subscription, delta: LiveDelta) -> None:
        """Keep a live delta until the topic's state is sent; it counts in the send buffer."""
        if sub.pending is None:
            sub.pending = []
        sub.pending.append(delta)
        size = len(delta.body(self.encoding))
        sub.pending_bytes += size
        self._held_bytes += size
        self._peak_bytes = max(self._peak_bytes, self._queued_bytes + self._held_bytes)
        self._overflowed()

    def _unhold(self, sub: _Subscription) -> list[LiveDelta]:
        """The deltas held for the topic, no longer held."""
        pending = sub.pending or []
        self._held_bytes -= sub.pending_bytes
        sub.pending, sub.pending_bytes = None, 0
        return pending

    def _overflowed(self) -> bool:
        """Whether what waits for this client (queued, or held while a topic synchronises) is over the
        send buffer: it is then a slow consumer, torn down at once (PROTOCOL.md §15)."""
        if self._queued_bytes + self._held_bytes <= self.hub.settings.hub_send_buffer_bytes:
            return False
        self.hub.stats.slow_consumers += 1
        self.hub.stats.closed("server", ERRORS[ErrorCode.SLOW_CONSUMER].close_code or 0)
        log.info("hub: session %s is a slow consumer: closed with 4008", self.id)
        self._shut(flush=False)
        self._spawn(self._send_close(*_close_args(ErrorCode.SLOW_CONSUMER), flush=False))
        return True

    # ------------------------------------------------------------------ the end

    def _spawn(self, coroutine: Any) -> None:
        if self._background is None:
            self._background = set()
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self, code: int, reason: str, *, flush: bool = True) -> None:
        """Close the connection. The session ends at once (see `_shut`); the replies already queued
        leave first unless ``flush`` is false, then the close frame."""
        if self._closed:
            return
        self.hub.stats.closed("server", code)
        self._shut(flush=flush)
        await self._send_close(code, reason, flush=flush)

    def _shut(self, *, flush: bool) -> None:
        """End the session without waiting for its socket: it takes no more deltas, leaves its topics,
        the hub's counts and deadlines, and presence (after the grace). Without ``flush``, what waits
        to be sent is dropped and freed. Safe to call again (it releases what came since)."""
        self._closed = True
        if not flush:
            self._queue = None
            self._queued_bytes = 0
        for topic, sub in self.subscriptions.items():
            self._unhold(sub)
            self.hub.unwatch(topic, self)
        self.subscriptions.clear()
        self.hub.unwatch_deadlines(self)
        if self._joined and self.identity is not None:
            self._joined = False
            self.hub.detach(self)
            # Owned by the hub, not the session: the end of the session must not cancel it.
            self.hub.later(self.hub.presence.leave(self.id, self.person, scopes_of(self.identity.teams)))

    async def _send_close(self, code: int, reason: str, *, flush: bool) -> None:
        writer = self._writer
        if flush and writer is not None and not writer.done():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_FLUSH_TIMEOUT):
                    await asyncio.shield(writer)  # it returns once the queue is empty
        self._queue = None
        self._queued_bytes = 0
        await self._stop_writer()
        if self._link is not None:
            # The close frame goes out now, behind what the socket holds; a client that does not
            # answer it in time (one that stopped reading never does) has its connection aborted.
            self._link.close(code, reason, _CLOSE_GRACE)
            return
        with contextlib.suppress(Exception):
            # Another ASGI server: its close waits for the socket, so it is bounded.
            async with asyncio.timeout(_CLOSE_GRACE):
                await self.websocket.close(code, reason)

    async def _stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    async def _end(self) -> None:
        """The connection is gone (or closed): release whatever the session still holds."""
        self.hub.stats.session_ended(self._peak_bytes)
        self._shut(flush=False)
        await self._stop_writer()
        for task in list(self._background or ()):
            if task is not asyncio.current_task():
                task.cancel()


def _ingest_status(status: EventStatus) -> dict[str, str]:
    """An event's status on the wire: absent fields left out, the reason bounded."""
    wire = {
        "id": status.id,
        "status": status.status,
        "code": status.code,
        "reason": None if status.reason is None else status.reason[:1024],
        "field": status.field,
    }
    return {k: v for k, v in wire.items() if v is not None}
