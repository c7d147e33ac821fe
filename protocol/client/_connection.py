"""One WebSocket to the hub: frames out (paced by the rate limit) and in (decoded with the server's
limits), replies matched to requests, and the heartbeat. It knows nothing of topics or tokens: the client
decides what to send and what the messages mean."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from protocol.client._errors import CloseStatus, ConnectionLost
from protocol.client._replies import Replies
from protocol.client._timing import Heartbeat, TokenBucket
from protocol.codec import Encoding, decode, encode
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.limits import RATE_BURST, RATE_PER_SECOND
from protocol.messages import SERVER_MESSAGES, ClientMessage, Error, Ping, Pong, ServerMessage, Welcome

__all__ = ["PROTOCOL_ERROR", "Connection", "close_status"]

logger = logging.getLogger("protocol.client")

PROTOCOL_ERROR = 1002
"""What the client closes with when the server breaks the protocol (§16). It is not in the table of §17,
so the client reconnects after it with backoff and at least 1 s, as the section asks."""


def close_status(exc: ConnectionClosed) -> CloseStatus:
    """The close the reconnection is decided on: the server's close frame when the server started the
    closing handshake; 1006 when there was none. A close this side started without saying why (the
    library refusing a frame over ``max_size`` with 1009) means a broken server: 1002, which reconnects,
    where 1009 would not."""
    if exc.rcvd is not None and (exc.sent is None or exc.rcvd_then_sent):
        return CloseStatus(exc.rcvd.code, exc.rcvd.reason)
    if exc.sent is not None and exc.sent.code != CloseCode.NORMAL:
        return CloseStatus(PROTOCOL_ERROR, f"closed by the client ({exc.sent.code} {exc.sent.reason})")
    if exc.sent is not None:
        return CloseStatus(CloseCode.NORMAL, exc.sent.reason)
    return CloseStatus(CloseCode.ABNORMAL, "the connection dropped without a close frame")


class Connection:
    """Requests go out in the order of `request` calls, so that replies can be matched by order too."""

    def __init__(
        self,
        ws: ClientConnection,
        encoding: Encoding,
        next_id: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ws = ws
        self._encoding = encoding
        self._next_id = next_id
        self._clock = clock
        self.replies = Replies()
        self.rtt_ms: float | None = None
        self._outbox: asyncio.Queue[bytes | str] = asyncio.Queue()
        self._bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST, self.now_ms())  # welcome may change it
        self._heartbeat: Heartbeat | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._local_close: CloseStatus | None = None
        self._crash: BaseException | None = None
        self._closed = False

    def now_ms(self) -> float:
        return self._clock() * 1000

    # ---------------------------------------------------------------------------------- sending

    def request(self, message: ClientMessage) -> asyncio.Future[ServerMessage]:
        """Queues ``message`` (which carries an ``id``) and returns the future of its reply. Raises
        `ProtocolError` at once for a message the server would refuse (over the client frame limits)."""
        if message.id is None:
            raise ValueError("a request carries an id")
        frame = encode(message, self._encoding)
        future = self.replies.expect(message.id)
        if self._closed:
            self.replies.fail(message.id, ConnectionLost("the connection is closed"))
            return future
        self._outbox.put_nowait(frame)
        if self._heartbeat is not None:
            self._heartbeat.sent(self.now_ms(), ping=isinstance(message, Ping))
        return future

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            delay = self._bucket.delay_ms(self.now_ms())
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            self._bucket.take(self.now_ms())
            try:
                await self._ws.send(frame)
            except ConnectionClosed:
                return  # the reader sees the close too, and says how it ended

    # ---------------------------------------------------------------------------------- receiving

    async def run(self, on_message: Callable[[ServerMessage], None]) -> CloseStatus:
        """Reads until the connection closes, and says how it ended. ``on_message`` sees each message
        before the request it answers is settled."""
        self._spawn(self._write())
        try:
            status = await self._read(on_message)
        finally:
            self._closed = True
            tasks, self._tasks = set(self._tasks), set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.replies.fail_all(ConnectionLost("the connection closed before the reply"))
            with contextlib.suppress(Exception):
                await self._ws.close()  # a no-op once closed; else (cancelled) the client's own close
        if self._crash is not None:
            raise self._crash
        return status

    async def _read(self, on_message: Callable[[ServerMessage], None]) -> CloseStatus:
        while True:
            try:
                frame = await self._ws.recv()
            except ConnectionClosed as exc:
                return self._local_close or close_status(exc)
            try:
                message = decode(frame, self._encoding, sender="server")
            except ProtocolError as exc:
                refused = await self._refused(exc)
                if refused is None:
                    continue
                message = refused
            assert isinstance(message, SERVER_MESSAGES)  # sender="server" decodes nothing else
            if isinstance(message, Pong) and self._heartbeat is not None:
                self.rtt_ms = self._heartbeat.pong(self.now_ms())
            on_message(message)
            self.replies.resolve(message)

    async def _refused(self, exc: ProtocolError) -> Error | None:
        """A frame that does not decode. Fatal ones close the connection (a broken server, §16); other
        messages are skipped (a mirror that misses a delta finds the gap on the next one), except that a
        reply to one of our requests stands as an ``error``: the request, and the subscription it may
        repair, must not wait for a reply that will never come."""
        if exc.fatal:
            self._local_close = CloseStatus(PROTOCOL_ERROR, str(exc))
            await self._ws.close(PROTOCOL_ERROR, exc.code.value)
            return None
        if exc.code is ErrorCode.UNKNOWN_TYPE:  # §19: a newer server's informative message
            logger.info("ignoring a message of a type this client does not know: %s", exc.message)
            return None
        logger.warning("ignoring an invalid message from the server: %s", exc)
        if exc.message_id is None or exc.message_id not in self.replies:
            return None
        field = None if exc.field is None else exc.field[:256]
        return Error(id=exc.message_id, code=exc.code.value, message=exc.message[:1024], field=field)

    # ------------------------------------------------------------------------------- the session

    def welcomed(self, welcome: Welcome) -> None:
        """Apply the session's limits and start the heartbeat."""
        now = self.now_ms()
        self._bucket.configure(welcome.limits.rate_per_second, welcome.limits.rate_burst, now)
        self._heartbeat = Heartbeat(welcome.heartbeat_ms, now)
        self._spawn(self._beat(self._heartbeat))

    async def _beat(self, heartbeat: Heartbeat) -> None:
        while True:
            action, wait_ms = heartbeat.next(self.now_ms())
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)
            elif action == "drop":  # §14: drop without a closing handshake, and reconnect with resume
                self.abort(CloseStatus(CloseCode.ABNORMAL, f"no pong within {heartbeat.interval_ms} ms"))
                return
            else:
                self.request(Ping(id=self._next_id()))

    def abort(self, status: CloseStatus) -> None:
        """Drop the connection at once; `run` returns ``status``."""
        if self._local_close is None:
            self._local_close = status
        self._ws.transport.abort()

    async def close(self) -> None:
        await self._ws.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None or self._crash is not None:
            return
        self._crash = task.exception()  # a bug: end the connection, and `run` raises it
        self.abort(CloseStatus(CloseCode.ABNORMAL, f"client error: {self._crash!r}"))
