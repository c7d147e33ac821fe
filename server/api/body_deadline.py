"""A deadline on reading HTTP request bodies, and one log line for a client that leaves mid-body.

uvicorn waits for a body as long as the client keeps the connection open: a request that announces
more bytes (``Content-Length``) than it sends holds a connection, and a request slot of the app, for
as long as it likes (slowloris). Here the whole body must arrive within ``seconds`` of the request's
start; otherwise the request is answered 408 with a problem body (the connection then closes: its
unread rest cannot be skipped). Once the body is complete, waiting on ``receive`` (for a disconnect)
is not limited.

A client that disconnects before its body is complete is no server error: it is logged as one line
(not a traceback), and no response is sent (nobody is there to read it).
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import Problem

log = logging.getLogger("gamif.api")


class BodyDeadline:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.seconds
        complete = False
        seconds = self.seconds

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    message = await receive()
            except TimeoutError:
                raise Problem(
                    408,
                    "request-timeout",
                    "Request timeout",
                    f"the request body did not arrive within {seconds:g} s",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        try:
            await self.app(scope, timed_receive, send)
        except ClientDisconnect:
            client = scope.get("client")
            who = f"{client[0]}:{client[1]}" if client else "a client"
            log.warning(
                "%s disconnected before sending its whole body: %s %s", who, scope["method"], scope["path"]
            )


def _loop_time(monotonic_deadline: float) -> float:
    """The event loop's clock for a `time.monotonic()` deadline (they need not be the same clock)."""
    return asyncio.get_running_loop().time() + (monotonic_deadline - time.monotonic())
