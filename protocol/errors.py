"""Error codes, close codes and `ProtocolError` (PROTOCOL.md, "Errors" and "Close codes").

An error code names what went wrong. A condition is reported in one of two ways, and the table
says which (`ErrorInfo.sent_as`): as an ``error`` message, after which the connection goes on
("error"), or by closing the connection with a close code whose reason starts with the error code
("close"). A few codes are sent either way depending on the context ("both"), as described.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from typing import Literal

__all__ = [
    "CLOSE_CODES",
    "ERRORS",
    "CloseCode",
    "CloseInfo",
    "ErrorCode",
    "ErrorInfo",
    "ProtocolError",
    "close_info",
    "close_reason",
    "reconnect_delay_ms",
]


class ErrorCode(StrEnum):
    """Every error code of protocol v1. Clients must also accept codes not listed here (a v1 server
    may add some): an unknown code in an ``error`` message is a failure of the request it refers to."""

    # frames: always fatal, the frame cannot be read safely
    BAD_FRAME = "bad_frame"
    WRONG_FRAME_TYPE = "wrong_frame_type"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"
    # messages
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    # session
    NOT_AUTHENTICATED = "not_authenticated"
    ALREADY_AUTHENTICATED = "already_authenticated"
    AUTH_FAILED = "auth_failed"
    AUTH_TIMEOUT = "auth_timeout"
    TOKEN_EXPIRED = "token_expired"
    FORBIDDEN = "forbidden"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    RATE_LIMITED = "rate_limited"
    SLOW_CONSUMER = "slow_consumer"
    # topics
    FORBIDDEN_TOPIC = "forbidden_topic"
    UNKNOWN_TOPIC = "unknown_topic"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    # server side
    UNSUPPORTED = "unsupported"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (and 1006, which no one sends: it is what a client sees
    when the connection drops without a close frame)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    ABNORMAL = 1006
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    PROTOCOL_VIOLATION = 4000
    AUTH_FAILED = 4001
    TIMEOUT = 4002
    FORBIDDEN = 4003
    TOKEN_EXPIRED = 4004
    SLOW_CONSUMER = 4008
    RATE_LIMITED = 4029


SentAs = Literal["error", "close", "both"]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: ErrorCode
    sent_as: SentAs
    close_code: CloseCode | None
    """The close code when the condition closes the connection ("close" or "both")."""
    meaning: str


def _errors(*rows: tuple[ErrorCode, SentAs, CloseCode | None, str]) -> Mapping[ErrorCode, ErrorInfo]:
    return {code: ErrorInfo(code, sent_as, close, meaning) for code, sent_as, close, meaning in rows}


E, C = ErrorCode, CloseCode
ERRORS: Mapping[ErrorCode, ErrorInfo] = _errors(
    (E.BAD_FRAME, "close", C.PROTOCOL_VIOLATION,
     "The frame is not exactly one valid msgpack (or JSON) value of the protocol's data model, "
     "or that value is not a map."),
    (E.WRONG_FRAME_TYPE, "close", C.UNSUPPORTED_DATA,
     "A text frame on gamif.v1.msgpack, or a binary frame on gamif.v1.json."),
    (E.TOO_LARGE, "close", C.MESSAGE_TOO_BIG,
     "The frame, or a string, array or map in it, is over its limit."),
    (E.TOO_DEEP, "close", C.PROTOCOL_VIOLATION, "Arrays and maps are nested deeper than max_depth."),
    (E.UNKNOWN_TYPE, "error", None,
     "The message's type is not one the receiver accepts. The message is ignored."),
    (E.INVALID_MESSAGE, "error", None,
     "A field is missing, has the wrong type or is out of range (`field` names it). "
     "The message is ignored."),
    (E.NOT_AUTHENTICATED, "close", C.PROTOCOL_VIOLATION, "The first message was not `auth`."),
    (E.ALREADY_AUTHENTICATED, "error", None,
     "`auth` on an authenticated connection (use `refresh` to replace the token)."),
    (E.AUTH_FAILED, "both", C.AUTH_FAILED,
     "The token is not valid (signature, issuer, audience, unknown or disabled user). "
     "On `auth` the connection is closed (4001); on `refresh` it is an error and the session keeps "
     "its current token."),
    (E.AUTH_TIMEOUT, "close", C.TIMEOUT, "No `auth` within auth_timeout_ms of the connection opening."),
    (E.TOKEN_EXPIRED, "both", C.TOKEN_EXPIRED,
     "The token has expired. On `auth`, and when the session's token expires without a `refresh`, "
     "the connection is closed (4004); on `refresh` it is an error."),
    (E.FORBIDDEN, "close", C.FORBIDDEN, "The account may no longer use the hub (disabled or deleted)."),
    (E.HEARTBEAT_TIMEOUT, "close", C.TIMEOUT, "Nothing received from the client for 2 × heartbeat_ms."),
    (E.RATE_LIMITED, "both", C.RATE_LIMITED,
     "A message arrived while the session's token bucket was empty: it is dropped, and the first "
     "dropped message of a run is answered with this error (with retry_after_ms). After rate_burst "
     "dropped messages in a row the connection is closed (4029)."),
    (E.SLOW_CONSUMER, "close", C.SLOW_CONSUMER,
     "The client does not read fast enough: the server's send queue for it overflowed."),
    (E.FORBIDDEN_TOPIC, "error", None, "The user may not subscribe to this topic."),
    (E.UNKNOWN_TOPIC, "error", None,
     "The topic is well formed but does not exist (no such board, team, user or challenge)."),
    (E.TOO_MANY_SUBSCRIPTIONS, "error", None, "The session already holds max_subscriptions topics."),
    (E.UNSUPPORTED, "error", None, "This server does not implement the request (e.g. `ingest`)."),
    (E.UNAVAILABLE, "error", None,
     "A backend the request needs is unavailable for now: try again after retry_after_ms."),
    (E.INTERNAL_ERROR, "both", C.INTERNAL_ERROR,
     "A bug or an unexpected failure. As an error (with ref_id) when one request failed; as a close "
     "(1011) when the session cannot go on."),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CloseInfo:
    code: int
    name: str
    """The close reason of closes not caused by an error code (errors use the error code)."""
    reconnect: bool
    """Reconnect automatically (with backoff)."""
    resume: bool
    """After reconnecting, resubscribe with `since` (keep the mirrors)."""
    new_token: bool
    """Get a new access token (HTTP refresh, or log in again) before reconnecting."""
    min_delay_ms: int
    """The least delay before the reconnection attempt (the backoff may wait longer)."""
    meaning: str


def _closes(*rows: tuple[CloseCode, str, bool, bool, bool, int, str]) -> Mapping[int, CloseInfo]:
    return {int(row[0]): CloseInfo(int(row[0]), *row[1:]) for row in rows}


CLOSE_CODES: Mapping[int, CloseInfo] = _closes(
    (C.NORMAL, "normal", False, False, False, 0, "Closed on purpose (the client's own close, or a server "
     "close that is no error). Do not reconnect."),
    (C.GOING_AWAY, "going_away", True, True, False, 0,
     "The node is shutting down (deploy, scale-in). Reconnect (any node) and resume."),
    (C.UNSUPPORTED_DATA, "unsupported_data", False, False, False, 0,
     "wrong_frame_type: a client bug. Do not reconnect automatically."),
    (C.ABNORMAL, "abnormal", True, True, False, 0,
     "Never sent: the connection dropped without a close frame. Reconnect and resume."),
    (C.POLICY_VIOLATION, "policy_violation", False, False, False, 0,
     "A policy violation no more specific code covers. Do not reconnect automatically."),
    (C.MESSAGE_TOO_BIG, "message_too_big", False, False, False, 0,
     "too_large: a client bug. Do not reconnect automatically."),
    (C.INTERNAL_ERROR, "internal_error", True, True, False, 0,
     "The server failed. Reconnect with backoff and resume."),
    (C.SERVICE_RESTART, "service_restart", True, True, False, 0,
     "The service is restarting. Reconnect with backoff (any node) and resume."),
    (C.TRY_AGAIN_LATER, "try_again_later", True, True, False, 5000,
     "The node is overloaded. Reconnect after at least 5 s (with backoff) and resume."),
    (C.PROTOCOL_VIOLATION, "protocol_violation", False, False, False, 0,
     "bad_frame, too_deep, not_authenticated: a client bug. Do not reconnect automatically."),
    (C.AUTH_FAILED, "auth_failed", True, True, True, 0,
     "auth_failed: get a new token first (refresh, or log in again); if the new token fails too, "
     "stop and ask the user."),
    (C.TIMEOUT, "timeout", True, True, False, 0,
     "auth_timeout or heartbeat_timeout. Reconnect with backoff and resume."),
    (C.FORBIDDEN, "forbidden", False, False, False, 0,
     "forbidden: the account may not use the hub. Do not reconnect."),
    (C.TOKEN_EXPIRED, "token_expired", True, True, True, 0,
     "token_expired: refresh the token over HTTP, reconnect at once and resume."),
    (C.SLOW_CONSUMER, "slow_consumer", True, True, False, 0,
     "slow_consumer: reconnect with backoff and resume."),
    (C.RATE_LIMITED, "rate_limited", True, True, False, 5000,
     "rate_limited: reconnect after at least 5 s (with backoff), resume, and send less."),
)  # fmt: skip

_UNKNOWN_CLOSE = CloseInfo(
    0, "unknown", True, True, False, 1000, "A code not in this table: reconnect with backoff and resume."
)


def close_info(code: int) -> CloseInfo:
    """What a client does on a close code; codes not in the table are handled like 1011, with a 1 s floor."""
    info = CLOSE_CODES.get(code)
    return replace(_UNKNOWN_CLOSE, code=code) if info is None else info


BACKOFF_BASE_MS = 1000
BACKOFF_CAP_MS = 30_000
BACKOFF_RESET_MS = 60_000
"""A connection that has been authenticated this long resets the attempt count to 0."""


def reconnect_delay_ms(code: int, attempt: int, rand: float) -> int | None:
    """How long to wait before reconnection attempt ``attempt`` (0 for the first) after a close with
    ``code`` (1006 when there was no close frame): the code's floor plus full jitter,
    ``rand × min(30 s, 1 s × 2^attempt)``, with ``rand`` uniform in [0, 1). None: do not reconnect."""
    info = close_info(code)
    if not info.reconnect:
        return None
    window = min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** min(attempt, 16))
    return info.min_delay_ms + int(rand * window)


def close_reason(code: ErrorCode | str, detail: str = "") -> str:
    """A close frame's reason: the error code, then ``": "`` and the detail, cut to the 123 bytes
    (UTF-8) a close frame allows, without splitting a character."""
    text = f"{code}: {detail}" if detail else str(code)
    raw = text.encode("utf-8")
    if len(raw) <= 123:
        return text
    return raw[:123].decode("utf-8", errors="ignore")


class ProtocolError(Exception):
    """A frame or message that breaks the protocol, with its error code (and the field, when one is
    to blame, as a dotted path: ``since.offset``, ``ops.2.1.0``).

    ``message_id`` and ``message_type`` are the offending message's ``id`` and ``type`` when they
    could be read, so that a non-fatal error can be answered with the request's ``id``."""

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        field: str | None = None,
        *,
        message_id: int | str | None = None,
        message_type: str | None = None,
    ) -> None:
        self.code = ErrorCode(code)
        self.message = message
        self.field = field
        self.message_id = message_id
        self.message_type = message_type
        super().__init__(f"{self.code}: {message}" + (f" (field {field})" if field is not None else ""))

    @property
    def fatal(self) -> bool:
        """Whether the server closes the connection on this error (it does for every frame-level one)."""
        return ERRORS[self.code].sent_as == "close"

    @property
    def close_code(self) -> CloseCode | None:
        """The close code to close with, when `fatal`."""
        info = ERRORS[self.code]
        return info.close_code if info.sent_as == "close" else None

    def __reduce__(self) -> tuple[object, ...]:  # picklable across processes (workers, load testers)
        return (_rebuild, (self.code, self.message, self.field, self.message_id, self.message_type))


def _rebuild(
    code: ErrorCode, message: str, field: str | None, message_id: int | str | None, message_type: str | None
) -> ProtocolError:
    return ProtocolError(code, message, field, message_id=message_id, message_type=message_type)
