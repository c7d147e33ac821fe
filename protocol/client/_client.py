"""`Client`: one logical session with the hub, kept alive across connections.

A background task (the supervisor) connects, authenticates and resubscribes, then waits for the
connection to end and decides, by the close code, whether and when to connect again (PROTOCOL.md §17).
Everything it decides is delegated to pure code: `Reconnects` and `refresh_delay_ms` (_timing), `Sync`
(_sync), `Replies` (_replies); this module only wires them to the socket and to the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Literal, TypeAlias, TypeVar, overload

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from protocol.client._connection import PROTOCOL_ERROR, Connection
from protocol.client._errors import ClientClosed, ClientError, CloseStatus, ConnectionLost, local_error
from protocol.client._sync import Reaction, Stats, Sync
from protocol.client._timing import Reconnects, handshake_close_code, refresh_delay_ms
from protocol.client._updates import Updates
from protocol.codec import Encoding
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.limits import HEARTBEAT_MS, SERVER_FRAME_LIMITS
from protocol.messages import (
    Auth,
    Ingest,
    Ingested,
    Ping,
    Pong,
    Refresh,
    Refreshed,
    ServerMessage,
    Unsubscribe,
    Welcome,
)
from protocol.mirror import TopicMirror
from protocol.topics import is_topic

__all__ = ["Client", "ConnectionState", "TokenProvider"]

logger = logging.getLogger("protocol.client")

TokenProvider: TypeAlias = Callable[[], Awaitable[str]]
"""Returns a valid access token (HTTP login or refresh). Called for the first connection, for each token
refresh, and before reconnecting when the token was refused or is about to expire."""
ConnectionState: TypeAlias = Literal["connecting", "live", "reconnecting", "closed"]

WELCOME_TIMEOUT_MS = HEARTBEAT_MS
"""How long an opened connection may go without ``welcome`` before the client drops it."""

_R = TypeVar("_R", bound=ServerMessage)


def _expect(reply: ServerMessage, cls: type[_R]) -> _R:
    if not isinstance(reply, cls):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"expected {cls.type}, the reply was {reply.type}")
    return reply


class Client:
    """An async client of the gamif hub: it keeps a live mirror of each subscribed topic, across
    reconnections, and reports updates and events.

    ::

        async with Client("wss://gamif.example.com/ws", get_token) as client:
            me = await client.subscribe(f"user:{user_id}")   # waits for the first snapshot
            async for update in client.updates():
                if update.kind == "event":
                    ...
                print(me.document["xp"])

    ``url`` may be several URLs (the nodes of a cluster, without a load balancer in front): each
    connection attempt takes the next. ``encoding`` picks the subprotocol (msgpack; JSON for
    debugging). ``on_state`` is called with each
    new `ConnectionState`. ``connect_options`` go to ``websockets.asyncio.client.connect`` (``ssl``,
    ``origin``, ``additional_headers``, ``open_timeout``, ...)."""

    def __init__(
        self,
        url: str | Sequence[str],
        token_provider: TokenProvider,
        *,
        encoding: Encoding = Encoding.MSGPACK,
        on_state: Callable[[ConnectionState], None] | None = None,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.urls: tuple[str, ...] = (url,) if isinstance(url, str) else tuple(url)
        if not self.urls:
            raise ValueError("give at least one URL")
        self.url = self.urls[0]
        """The URL of the current (or last) connection: with several, each attempt takes the next one,
        so that a client whose node went away reconnects to another."""
        self._attempts = 0
        self._token_provider = token_provider
        self._encoding = Encoding(encoding)
        self._on_state = on_state
        self._connect_options = dict(connect_options or {})
        self.stats = Stats()
        self.welcome: Welcome | None = None
        """The last connection's ``welcome``: ``user_id``, ``session_id``, ``heartbeat_ms``, limits."""
        self.last_close: CloseStatus | None = None
        """How the last connection (or connection attempt) ended."""
        self._ids = itertools.count(1)
        self._sync = Sync(self.stats, self._next_id)
        self._reconnects = Reconnects()
        self._state: ConnectionState = "connecting"
        self._error: ClientClosed | None = None
        self._closed_by_app = False
        self._token: str | None = None
        self._expires_at_ms: int | None = None
        self._expiry_changed = asyncio.Event()
        self._clock_offset_ms = 0.0
        """The server's clock minus the monotonic clock, from ``welcome`` (token expiry is server time)."""
        self._task: asyncio.Task[None] | None = None
        self._conn: Connection | None = None
        """The current connection, from before ``auth`` (messages to it are pipelined)."""
        self._live: Connection | None = None
        """The current connection, once ``welcome`` came."""
        self._first_sync: dict[str, asyncio.Future[TopicMirror]] = {}
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._streams: weakref.WeakSet[Updates] = weakref.WeakSet()
        self._retries: set[asyncio.TimerHandle] = set()

    # ------------------------------------------------------------------------------------ the API

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def mirrors(self) -> Mapping[str, TopicMirror]:
        """The subscribed topics' mirrors (read-only: the client updates them)."""
        return self._sync.mirrors

    @property
    def error(self) -> ClientClosed | None:
        """Why the client ended, once it has."""
        return self._error

    @property
    def rtt_ms(self) -> float | None:
        """The round trip of the last answered ``ping``."""
        return None if self._live is None else self._live.rtt_ms

    async def __aenter__(self) -> Client:
        if self._task is not None or self._state == "closed":
            raise RuntimeError("a Client runs once")
        self._task = asyncio.create_task(self._supervise(), name=f"gamif client {self.url}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (1000) and end the client: waiters get `ClientClosed`, update streams end."""
        if self._state == "closed":
            return
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._finish(ClientClosed(CloseCode.NORMAL, "closed by the client"), by_app=True)

    async def subscribe(self, topic: str, *, timeout: float | None = None) -> TopicMirror:
        """Subscribe to ``topic`` (kept across reconnections) and return its mirror once it holds the first
        state. Raises `ClientError` if the server refuses (``forbidden_topic``, ``unknown_topic``, ...)."""
        self._check_open()
        if not is_topic(topic):
            raise ValueError(f"not a topic: {topic!r}")
        mirror, subscribe = self._sync.add(topic)
        if subscribe is not None and self._conn is not None:
            self._conn.request(subscribe)  # else the next connection subscribes to it
        if mirror.synced:
            return mirror
        future = self._first_sync.get(topic)
        if future is None:
            future = self._first_sync[topic] = asyncio.get_running_loop().create_future()
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)  # a caller's timeout leaves the subscription running

    async def unsubscribe(self, topic: str) -> None:
        """End the subscription and drop its mirror (nothing if the topic was not subscribed)."""
        self._check_open()
        if not self._sync.drop(topic):
            return
        self._settle_first_sync(topic, local_error("unsubscribed", "unsubscribed before the first state"))
        if self._conn is not None:
            with contextlib.suppress(ConnectionLost):  # the next connection will not subscribe to it
                await self._conn.request(Unsubscribe(id=self._next_id(), topic=topic))

    def updates(self) -> Updates:
        """A stream of `Update`s, from now on. Streams that are dropped stop receiving."""
        stream = Updates()
        if self._state == "closed":
            stream._end(None if self._closed_by_app else self._error)
        else:
            self._streams.add(stream)
        return stream

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until ``predicate()`` holds: it is checked now and after each message and state change.
        Raises TimeoutError, or `ClientClosed` if the client ends first."""
        if predicate():
            return
        self._check_open()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            self._waiters.remove(waiter)

    @overload
    async def request(self, message: Ping) -> Pong: ...
    @overload
    async def request(self, message: Refresh) -> Refreshed: ...
    @overload
    async def request(self, message: Ingest) -> Ingested: ...
    async def request(self, message: Ping | Refresh | Ingest) -> Pong | Refreshed | Ingested:
        """Send a request once the connection is live (its ``id`` is the client's) and return the reply.
        Raises `ClientError` on ``error``, `ConnectionLost` if the connection drops first, and
        `ProtocolError` for a message over the client limits. Subscriptions have their own methods."""
        if not isinstance(message, Ping | Refresh | Ingest):
            raise TypeError("use subscribe() and unsubscribe(); the client authenticates by itself")
        conn = await self._live_connection()
        if isinstance(message, Refresh):
            return await self._refresh_with(conn, message.model_copy(update={"id": self._next_id()}))
        reply = await conn.request(message.model_copy(update={"id": self._next_id()}))
        return _expect(reply, Pong) if isinstance(message, Ping) else _expect(reply, Ingested)

    # --------------------------------------------------------------------------- the supervisor

    async def _supervise(self) -> None:
        new_token = True
        try:
            while True:
                status = await self._attempt(new_token)
                self.last_close = status
                plan = self._reconnects.closed(status.code, self._now_ms())
                if plan.delay_ms is None:
                    raise ClientClosed(status.code, status.reason)
                new_token = plan.new_token or self._token_stale()
                self.stats.reconnects += 1
                self._set_state("reconnecting")
                logger.info("reconnecting in %d ms after %s %s", plan.delay_ms, status.code, status.reason)
                await asyncio.sleep(plan.delay_ms / 1000)
        except ClientClosed as exc:
            self._finish(exc)
        except Exception as exc:  # a bug: end the client and say so, rather than retry it forever
            logger.exception("the client failed")
            error = ClientClosed(None, f"the client failed: {exc!r}")
            error.__cause__ = exc
            self._finish(error)

    async def _attempt(self, new_token: bool) -> CloseStatus:
        """One connection, from the token to the close."""
        if new_token or self._token is None:
            try:
                self._token = await self._fetch_token()
            except Exception as exc:
                raise ClientClosed(None, f"the token provider failed: {exc!r}") from exc
            self._expires_at_ms = None
        self.url = self.urls[self._attempts % len(self.urls)]
        self._attempts += 1
        try:
            ws = await connect(
                self.url,
                subprotocols=[Subprotocol(self._encoding.value)],
                compression=None,  # §2: not negotiated in v1
                max_size=SERVER_FRAME_LIMITS.max_frame_bytes,
                ping_interval=None,  # the protocol's own heartbeat (§14) finds dead connections
                **self._connect_options,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            reason = f"the hub refused the upgrade: HTTP {status}"
            if handshake_close_code(status) is None:
                raise ClientClosed(None, reason, http_status=status) from exc
            return CloseStatus(CloseCode.ABNORMAL, reason)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return CloseStatus(CloseCode.ABNORMAL, f"cannot connect: {exc}")
        if ws.subprotocol != self._encoding.value:
            await ws.close(PROTOCOL_ERROR, "no gamif subprotocol")
            return CloseStatus(PROTOCOL_ERROR, f"the server chose the subprotocol {ws.subprotocol!r}")
        return await self._session(Connection(ws, self._encoding, self._next_id))

    async def _session(self, conn: Connection) -> CloseStatus:
        assert self._token is not None
        self._conn = conn
        auth = conn.request(Auth(id=self._next_id(), token=self._token))
        for subscribe in self._sync.resume():  # pipelined: the server handles them once authenticated
            conn.request(subscribe)
        run = asyncio.create_task(conn.run(partial(self._on_message, conn)))
        refresher: asyncio.Task[None] | None = None
        try:
            first: set[asyncio.Future[Any]] = {run, auth}
            await asyncio.wait(first, timeout=WELCOME_TIMEOUT_MS / 1000, return_when=asyncio.FIRST_COMPLETED)
            if self._live is conn:
                refresher = asyncio.create_task(self._refresh(conn))
            elif not run.done():  # no welcome in time, or an error instead
                reason = f"no welcome within {WELCOME_TIMEOUT_MS} ms"
                conn.abort(CloseStatus(CloseCode.ABNORMAL, repr(auth.exception()) if auth.done() else reason))
            return await run
        finally:
            self._conn = self._live = None
            self._sync.disconnected()
            for handle in self._retries:
                handle.cancel()
            self._retries.clear()
            for task in (refresher, run):
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)

    def _on_message(self, conn: Connection, message: ServerMessage) -> None:
        if isinstance(message, Welcome):
            now = self._now_ms()
            self.welcome = message
            self._clock_offset_ms = message.server_time_ms - now
            self._set_expiry(message.expires_at_ms)
            conn.welcomed(message)
            self._reconnects.welcomed(now)
            self.stats.connects += 1
            self._live = conn
            self._set_state("live")
        self._react(conn, self._sync.receive(message))

    def _react(self, conn: Connection, reaction: Reaction) -> None:
        for subscribe in reaction.subscribes:
            conn.request(subscribe)
        for topic, delay_ms in reaction.retries:
            self._retry_later(topic, delay_ms)
        for topic, error in reaction.failures:
            self._settle_first_sync(topic, ClientError(error))
        for update in reaction.updates:
            if update.kind in ("snapshot", "recovered"):
                self._settle_first_sync(update.topic, self._sync.mirrors[update.topic])
            for stream in list(self._streams):
                stream._push(update)
        self._notify()

    def _retry_later(self, topic: str, delay_ms: int) -> None:
        def retry() -> None:
            self._retries.discard(handle)
            subscribe = self._sync.resync(topic)
            if subscribe is not None and self._conn is not None:
                self._conn.request(subscribe)

        handle = asyncio.get_running_loop().call_later(delay_ms / 1000, retry)
        self._retries.add(handle)

    # ------------------------------------------------------------------------------------ tokens

    async def _fetch_token(self) -> str:
        token = await self._token_provider()
        if not isinstance(token, str) or not 1 <= len(token) <= 4096:
            raise ValueError("the token provider returns a string of 1 to 4096 characters")
        return token

    def _set_expiry(self, expires_at_ms: int) -> None:
        self._expires_at_ms = expires_at_ms
        self._expiry_changed.set()  # the refresher reschedules

    def _token_stale(self) -> bool:
        """Whether the token is due for refreshing anyway: then reconnect with a new one."""
        expires = self._expires_at_ms
        return expires is not None and refresh_delay_ms(expires, self._server_now_ms()) == 0

    async def _refresh(self, conn: Connection) -> None:
        """§18: refresh the token in-band, for as long as the connection lives."""
        failures = 0
        while True:
            self._expiry_changed.clear()
            assert self._expires_at_ms is not None
            delay_ms = refresh_delay_ms(self._expires_at_ms, self._server_now_ms(), failures=failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._expiry_changed.wait(), delay_ms / 1000)
            if self._expiry_changed.is_set():
                continue  # refreshed by hand meanwhile
            try:
                token = await self._fetch_token()
                await self._refresh_with(conn, Refresh(id=self._next_id(), token=token))
            except ConnectionLost:
                return
            except Exception as exc:  # the old token holds until it expires; try again
                failures += 1
                self.stats.refresh_failures += 1
                logger.warning("refreshing the token failed: %r", exc)
            else:
                failures = 0

    async def _refresh_with(self, conn: Connection, message: Refresh) -> Refreshed:
        refreshed = _expect(await conn.request(message), Refreshed)
        self._token = message.token
        self.stats.refreshes += 1
        self._set_expiry(refreshed.expires_at_ms)
        self._notify()
        return refreshed

    # ----------------------------------------------------------------------------------- helpers

    def _next_id(self) -> int:
        return next(self._ids)

    @staticmethod
    def _now_ms() -> float:
        return time.monotonic() * 1000

    def _server_now_ms(self) -> float:
        return self._now_ms() + self._clock_offset_ms

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error
        if self._task is None:
            raise RuntimeError("start the client first: async with Client(...) as client")

    async def _live_connection(self) -> Connection:
        await self.wait_for(lambda: self._live is not None)
        assert self._live is not None
        return self._live

    def _settle_first_sync(self, topic: str, outcome: TopicMirror | BaseException) -> None:
        future = self._first_sync.pop(topic, None)
        if future is None or future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _set_state(self, state: ConnectionState) -> None:
        if state == self._state:
            return
        self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                logger.exception("the on_state callback failed")
        self._notify()

    def _notify(self) -> None:
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                if predicate():
                    future.set_result(None)
            except Exception as exc:
                future.set_exception(exc)

    def _finish(self, error: ClientClosed, *, by_app: bool = False) -> None:
        if self._state == "closed":
            return
        if not by_app:
            logger.warning("the client ended: %s", error)
        self._error, self._closed_by_app = error, by_app
        for topic in list(self._first_sync):
            self._settle_first_sync(topic, error)
        for stream in list(self._streams):
            stream._end(None if by_app else error)
        self._set_state("closed")  # a waiter for the closed state gets it; the others, the error
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(error)
