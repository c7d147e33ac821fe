"""Matching replies to requests on one connection (PROTOCOL.md §4)."""

from __future__ import annotations

import asyncio

from protocol.client._errors import ClientError, local_error
from protocol.messages import Error, ServerMessage

__all__ = ["MessageId", "Replies"]

MessageId = int | str


def _retrieve(future: asyncio.Future[ServerMessage]) -> None:
    # Nobody awaits the replies of pings and resume subscribes: keep asyncio from logging their failures.
    if not future.cancelled():
        future.exception()


class Replies:
    """The requests of one connection that await their reply, in the order they were sent.

    Each request gets exactly one reply, in request order, with two exceptions (§4): a fatal error
    (the connection closes: `fail_all`), and the rate limiter, which answers only the first message of a
    run it drops. So a reply to a request proves that every earlier request still waiting was dropped
    without a word: those fail with ``rate_limited``."""

    def __init__(self) -> None:
        self._pending: dict[MessageId, asyncio.Future[ServerMessage]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._pending

    def expect(self, message_id: MessageId) -> asyncio.Future[ServerMessage]:
        if message_id in self._pending:
            raise ValueError(f"a request with id {message_id!r} is already waiting")
        future: asyncio.Future[ServerMessage] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._pending[message_id] = future
        return future

    def resolve(self, message: ServerMessage) -> bool:
        """Settles the request ``message`` answers, if any: with the message, or `ClientError` for an
        ``error``. An ``error`` without ``id`` answers the oldest request (replies come in order)."""
        message_id: MessageId | None = getattr(message, "id", None)
        if message_id is None:
            if not isinstance(message, Error) or not self._pending:
                return False  # unsolicited
            message_id = next(iter(self._pending))
        if message_id not in self._pending:
            return False
        for earlier in list(self._pending):
            if earlier == message_id:
                break
            dropped = local_error("rate_limited", "dropped by the server's rate limiter (no reply came)")
            self._settle(self._pending.pop(earlier), dropped)
        future = self._pending.pop(message_id)
        self._settle(future, ClientError(message) if isinstance(message, Error) else message)
        return True

    def fail(self, message_id: MessageId, error: BaseException) -> None:
        future = self._pending.pop(message_id, None)
        if future is not None:
            self._settle(future, error)

    def fail_all(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            self._settle(future, error)

    @staticmethod
    def _settle(future: asyncio.Future[ServerMessage], outcome: ServerMessage | BaseException) -> None:
        if future.done():  # the caller gave up (cancelled)
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
