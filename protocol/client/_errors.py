"""What the SDK raises: a failed request, a lost connection, and the end of the client."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.messages import Error

__all__ = ["ClientClosed", "ClientError", "CloseStatus", "ConnectionLost", "local_error"]


@dataclass(frozen=True, slots=True)
class CloseStatus:
    """How a connection ended: the close code the decision is made on (1006 when there was no close frame,
    1002 when this side found the server broken) and the reason text (for people, not for matching)."""

    code: int
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", int(self.code))  # a plain int, also when given a CloseCode


class ClientError(Exception):
    """The server answered a request with ``error`` (PROTOCOL.md §16). The connection goes on.

    `code` may be one this SDK does not know (a v1 server may add codes): the request failed."""

    def __init__(self, error: Error) -> None:
        self.error = error
        self.code = error.code
        self.message = error.message
        self.field = error.field
        self.topic = error.topic
        self.retry_after_ms = error.retry_after_ms
        self.ref_id = error.ref_id
        field = f" (field {error.field})" if error.field else ""
        super().__init__(f"{error.code}: {error.message}{field}")


def local_error(code: str, message: str, topic: str | None = None) -> ClientError:
    """An error the SDK infers itself, shaped like the server's (a request the rate limiter dropped
    without a reply, a subscription ended before its first snapshot)."""
    return ClientError(Error(code=code, message=message, topic=topic))


class ConnectionLost(Exception):
    """The connection dropped before the request's reply arrived: the server may or may not have processed
    it. The client reconnects by itself; send the request again if it is safe to."""


class ClientClosed(Exception):
    """The client has ended, and will not reconnect: closed by the application (code 1000), or closed by
    the server with a code that says not to reconnect (PROTOCOL.md §17: 4003 forbidden, 4000 protocol
    violation, 1000, ..., or 4001 again with a fresh token). Raised to every waiter.

    ``code`` is None when no close code applies: the upgrade was refused (``http_status``), or the token
    provider failed (the exception is the ``__cause__``)."""

    def __init__(self, code: int | None, reason: str, *, http_status: int | None = None) -> None:
        self.code = code
        self.reason = reason
        self.http_status = http_status
        super().__init__(f"{code}: {reason}" if code is not None else reason)
