"""The application's view of the updates: one queue per reader."""

from __future__ import annotations

import asyncio

from protocol.client._errors import ClientClosed
from protocol.client._sync import Update

__all__ = ["Updates"]


class Updates:
    """The updates from the moment `Client.updates` was called, in order. The iteration ends when the
    application closes the client, and raises `ClientClosed` when the client ends on its own."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Update | None] = asyncio.Queue()
        self._error: ClientClosed | None = None

    def __aiter__(self) -> Updates:
        return self

    async def __anext__(self) -> Update:
        update = await self._queue.get()
        if update is None:
            self._queue.put_nowait(None)  # stays ended for the next call
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return update

    def _push(self, update: Update) -> None:
        self._queue.put_nowait(update)

    def _end(self, error: ClientClosed | None) -> None:
        self._error = error
        self._queue.put_nowait(None)
