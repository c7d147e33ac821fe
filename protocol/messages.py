"""Every message of protocol v1, one frozen pydantic model each (PROTOCOL.md, "Messages").

On the wire a message is a map: ``type`` plus the fields below, in snake_case; an optional field
with no value is left out (never ``null``). Receivers ignore fields they do not know (a v1 peer
may send new optional ones), so the models are ``extra="ignore"``. Scalars are strict: ``"1"`` is
not an integer and ``true`` is not a number.

`to_wire` gives a message's wire map and `from_wire` validates one, raising `ProtocolError`
(``unknown_type``, ``invalid_message`` with the field's dotted path). The codec (`protocol.codec`)
turns wire maps into frames and back.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, NoReturn, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import (
    AUTH_TIMEOUT_MS,
    CLIENT_FRAME_LIMITS,
    MAX_INGEST_EVENTS,
    MAX_SAFE_INTEGER,
    MAX_SUBSCRIPTIONS,
    MAX_TIME_MS,
    MAX_TOPIC_LENGTH,
    RATE_BURST,
    RATE_PER_SECOND,
)
from protocol.ops import MergeOp, MoveOp, Op, OpFormatError, RemoveOp, SetOp, check_ops, parse_op
from protocol.text import unstorable_character
from protocol.topics import is_topic

__all__ = [
    "CLIENT_MESSAGES",
    "EVENT_DATA",
    "MESSAGE_TYPES",
    "SERVER_MESSAGES",
    "Announcement",
    "Auth",
    "BadgeEarned",
    "Batch",
    "ClientMessage",
    "Delta",
    "Error",
    "Event",
    "Ingest",
    "IngestEvent",
    "IngestStatus",
    "Ingested",
    "LevelUp",
    "Limits",
    "Message",
    "MissionCompleted",
    "Ping",
    "Pong",
    "RankChanged",
    "Refresh",
    "Refreshed",
    "Sender",
    "ServerMessage",
    "Since",
    "StreakBroken",
    "StreakExtended",
    "Subscribe",
    "Subscribed",
    "Unsubscribe",
    "Unsubscribed",
    "Welcome",
    "XpAwarded",
    "event_data",
    "from_wire",
    "to_wire",
]

Sender: TypeAlias = Literal["client", "server"]

# ------------------------------------------------------------------------------------ field types

_TOKEN_RE = r"^[A-Za-z0-9_.:-]{1,64}$"
"""Message ids (as strings), epochs, session ids, ref ids: 1 to 64 of A-Z a-z 0-9 _ . : -"""
_TOKEN = re.compile(_TOKEN_RE)


def _fail(field: str, message: str) -> NoReturn:
    """A validation failure at ``field``, relative to where the validator runs."""
    raise PydanticCustomError("protocol", "{message}", {"message": message, "field": field})


def _message_id(value: object) -> int | str:
    if type(value) is int and 0 <= value <= MAX_SAFE_INTEGER:
        return value
    if isinstance(value, str) and _TOKEN.fullmatch(value):
        return value
    raise ValueError("an id is an integer from 0 to 2^53 - 1, or 1 to 64 characters of A-Z a-z 0-9 _ . : -")


def _number(value: object) -> int | float:
    if type(value) is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise ValueError("integers are within ±(2^53 - 1)")
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise ValueError("numbers are finite")
    raise ValueError("Input should be a number")


def _topic(value: str) -> str:
    if not is_topic(value):
        raise ValueError(f"not a topic (see the topic grammar; at most {MAX_TOPIC_LENGTH} characters)")
    return value


def _ops(value: object) -> tuple[Op, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError("ops is an array of ops")
    ops: list[Op] = []
    for i, item in enumerate(value):
        if isinstance(item, SetOp | MergeOp | RemoveOp | MoveOp):
            ops.append(item)
            continue
        try:
            ops.append(parse_op(item))
        except OpFormatError as exc:
            _fail(f"{i}.{exc.field}" if exc.field else str(i), exc.message)
    try:
        check_ops(ops)
    except OpFormatError as exc:
        _fail(exc.field, exc.message)
    return tuple(ops)


MessageId = Annotated[int | str, PlainValidator(_message_id)]
Number = Annotated[int | float, PlainValidator(_number)]
Int = Annotated[StrictInt, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INTEGER)]
Positive = Annotated[StrictInt, Field(ge=1, le=MAX_SAFE_INTEGER)]
TimeMs = Count
"""Milliseconds since the Unix epoch (UTC)."""
Token = Annotated[StrictStr, Field(pattern=_TOKEN_RE)]
TopicName = Annotated[StrictStr, AfterValidator(_topic)]
Code = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Id = Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
"""User ids (lower-case UUIDs today)."""
Handle = Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$")]
Text = Annotated[StrictStr, Field(max_length=4096)]
Ops = Annotated[tuple[Op, ...], PlainValidator(_ops)]


def _no_nul(value: Any) -> Any:
    """Refuses NUL characters anywhere in a string, or in the keys and strings of a map or array."""
    found = unstorable_character(value)
    if found == "\x00":
        raise ValueError("NUL characters (U+0000) are not allowed")
    if found is not None:  # a lone surrogate: msgpack and JSON frames decode none, but say so if one came
        raise ValueError("lone surrogates (U+D800 to U+DFFF) are not text")
    return value


NulFree = AfterValidator(_no_nul)
"""Ingested text is stored (PostgreSQL text and JSONB cannot hold NUL) and shown: NUL is refused."""
IngestTimeMs = Annotated[StrictInt, Field(ge=0, le=MAX_TIME_MS)]
"""A time an event may have happened at: 1970 to the end of the year 9999 (UTC)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class _Message(_Model):
    type: ClassVar[str]
    sender: ClassVar[Sender]


# ------------------------------------------------------------------------------- client → server


class Auth(_Message):
    """Authenticates the connection: the first message, within auth_timeout_ms. Reply: `Welcome`."""

    type: ClassVar[str] = "auth"
    sender: ClassVar[Sender] = "client"
    id: MessageId | None = None
    token: Annotated[StrictStr, Field(min_length=1, max_length=4096)]


class Since(_Model):
    """Where a client's mirror of a topic stands: the state after `offset` in `epoch`."""

    epoch: Token
    offset: Count


class Subscribe(_Message):
    """Starts (or re-synchronises) a subscription. Reply: `Subscribed`."""

    type: ClassVar[str] = "subscribe"
    sender: ClassVar[Sender] = "client"
    id: MessageId | None = None
    topic: TopicName
    since: Since | None = None


class Unsubscribe(_Message):
    """Ends a subscription (also one the session does not hold). Reply: `Unsubscribed`."""

    type: ClassVar[str] = "unsubscribe"
    sender: ClassVar[Sender] = "client"
    id: MessageId | None = None
    topic: TopicName


class Ping(_Message):
    """Keeps the session alive and measures the round trip. Reply: `Pong`."""

    type: ClassVar[str] = "ping"
    sender: ClassVar[Sender] = "client"
    id: MessageId | None = None


class Refresh(_Message):
    """Replaces the session's access token (same user). Reply: `Refreshed`."""

    type: ClassVar[str] = "refresh"
    sender: ClassVar[Sender] = "client"
    id: MessageId | None = None
    token: Annotated[StrictStr, Field(min_length=1, max_length=4096)]


class IngestEvent(_Model):
    """One metric event: the HTTP API's ``MetricEventIn``, with ``occurred_at_ms`` for ``occurred_at``."""

    id: Annotated[StrictStr, Field(min_length=1, max_length=128), NulFree]
    user: Handle | None = None
    metric: Annotated[StrictStr, Field(min_length=1, max_length=64), NulFree]
    value: Number
    occurred_at_ms: IngestTimeMs
    metadata: Annotated[dict[str, Any], Field(max_length=32), NulFree] | None = None


class Ingest(_Message):
    """Reports metric events (reserved for the ingest pipeline). Reply: `Ingested`."""

    type: ClassVar[str] = "ingest"
    sender: ClassVar[Sender] = "client"
    id: MessageId | None = None
    events: Annotated[tuple[IngestEvent, ...], Field(min_length=1, max_length=MAX_INGEST_EVENTS)]


# ------------------------------------------------------------------------------- server → client


class Limits(_Model):
    """What the server enforces on this session (``welcome.limits``)."""

    max_frame_bytes: Positive
    max_depth: Positive
    max_string_bytes: Positive
    max_array_length: Positive
    max_map_length: Positive
    max_subscriptions: Positive
    rate_per_second: Positive
    rate_burst: Positive
    max_ingest_events: Positive
    auth_timeout_ms: Positive

    @classmethod
    def default(cls) -> Limits:
        return cls(
            max_frame_bytes=CLIENT_FRAME_LIMITS.max_frame_bytes,
            max_depth=CLIENT_FRAME_LIMITS.max_depth,
            max_string_bytes=CLIENT_FRAME_LIMITS.max_string_bytes,
            max_array_length=CLIENT_FRAME_LIMITS.max_array_length,
            max_map_length=CLIENT_FRAME_LIMITS.max_map_length,
            max_subscriptions=MAX_SUBSCRIPTIONS,
            rate_per_second=RATE_PER_SECOND,
            rate_burst=RATE_BURST,
            max_ingest_events=MAX_INGEST_EVENTS,
            auth_timeout_ms=AUTH_TIMEOUT_MS,
        )


class Welcome(_Message):
    """The reply to a successful `Auth`."""

    type: ClassVar[str] = "welcome"
    sender: ClassVar[Sender] = "server"
    id: MessageId | None = None
    session_id: Token
    user_id: Id
    heartbeat_ms: Positive
    server_time_ms: TimeMs
    expires_at_ms: TimeMs
    limits: Limits


class Delta(_Message):
    """One step of a topic's stream: `ops` turn the state at ``offset - 1`` into the state at `offset`.
    A message of its own, and the element of ``batch.deltas`` and ``subscribed.deltas`` (there without
    ``type``)."""

    type: ClassVar[str] = "delta"
    sender: ClassVar[Sender] = "server"
    topic: TopicName
    epoch: Token
    offset: Positive
    ops: Ops
    at_ms: TimeMs


class Subscribed(_Message):
    """The state of a topic: the reply to `Subscribe`, or unsolicited (no ``id``) when the server resets
    the topic's stream. ``recovered`` true: `deltas` are exactly the deltas after the client's ``since``,
    up to `offset`; false: `snapshot` is the whole state at `offset`."""

    type: ClassVar[str] = "subscribed"
    sender: ClassVar[Sender] = "server"
    id: MessageId | None = None
    topic: TopicName
    epoch: Token
    offset: Count
    recovered: StrictBool
    snapshot: dict[str, Any] | None = None
    deltas: tuple[Delta, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Subscribed:
        if not self.recovered:
            if self.deltas is not None:
                _fail("deltas", "only a recovered subscription carries deltas")
            if self.snapshot is None:
                _fail("snapshot", "required when recovered is false")
            return self
        if self.snapshot is not None:
            _fail("snapshot", "a recovered subscription carries deltas, not a snapshot")
        if self.deltas is None:
            _fail("deltas", "required when recovered is true")
        previous: int | None = None
        for i, delta in enumerate(self.deltas):
            if delta.topic != self.topic:
                _fail(f"deltas.{i}.topic", "must be the subscription's topic")
            if delta.epoch != self.epoch:
                _fail(f"deltas.{i}.epoch", "must be the subscription's epoch")
            if previous is not None and delta.offset != previous + 1:
                _fail(f"deltas.{i}.offset", "must follow the previous delta's offset")
            previous = delta.offset
        if previous is not None and previous != self.offset:
            _fail("offset", "must be the last delta's offset")
        return self


class Batch(_Message):
    """Several deltas in one frame; each topic's deltas in increasing offset order."""

    type: ClassVar[str] = "batch"
    sender: ClassVar[Sender] = "server"
    deltas: Annotated[tuple[Delta, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Batch:
        last: dict[str, int] = {}
        for i, delta in enumerate(self.deltas):
            if delta.offset <= last.get(delta.topic, 0):
                _fail(f"deltas.{i}.offset", "a topic's deltas come in increasing offset order")
            last[delta.topic] = delta.offset
        return self


class Event(_Message):
    """A one-off notification that is not state (a level up, a badge, an announcement)."""

    type: ClassVar[str] = "event"
    sender: ClassVar[Sender] = "server"
    topic: TopicName
    name: Code
    data: dict[str, Any]
    at_ms: TimeMs
    offset: Positive | None = None
    """The topic offset whose state shows this event's effect, when it has one."""

    @model_validator(mode="after")
    def _known_data(self) -> Event:
        model = EVENT_DATA.get(self.name)
        if model is not None:
            try:
                model.model_validate(self.data)
            except ValidationError as exc:
                error = exc.errors()[0]
                field = ".".join(("data", *(str(part) for part in error["loc"])))
                _fail(field, error["msg"].removeprefix("Value error, "))
        return self


class Unsubscribed(_Message):
    """The reply to `Unsubscribe`, or unsolicited (with a `reason`) when the server ends a subscription."""

    type: ClassVar[str] = "unsubscribed"
    sender: ClassVar[Sender] = "server"
    id: MessageId | None = None
    topic: TopicName
    reason: Code | None = None


class Pong(_Message):
    type: ClassVar[str] = "pong"
    sender: ClassVar[Sender] = "server"
    id: MessageId | None = None
    server_time_ms: TimeMs


class Refreshed(_Message):
    type: ClassVar[str] = "refreshed"
    sender: ClassVar[Sender] = "server"
    id: MessageId | None = None
    expires_at_ms: TimeMs


class IngestStatus(_Model):
    """One event's fate: ``accepted`` (queued), ``duplicate`` or ``rejected`` (not queued; see `code`)."""

    id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    status: Literal["accepted", "duplicate", "rejected"]
    code: Code | None = None
    """Why, when not accepted (e.g. ``already_scored``, ``not_yours``, ``unknown_metric``): a code this
    client may not know."""
    reason: Annotated[StrictStr, Field(max_length=1024)] | None = None
    field: Annotated[StrictStr, Field(max_length=256)] | None = None
    """The event's field it is about (``occurred_at_ms``, ``metric``, ``value``, ...)."""


class Ingested(_Message):
    """The reply to `Ingest`: like the HTTP API's ``MetricsOut``, a status per event, in order."""

    type: ClassVar[str] = "ingested"
    sender: ClassVar[Sender] = "server"
    id: MessageId | None = None
    accepted: Count
    duplicates: Count
    rejected: Count
    rule_version: Count
    events: tuple[IngestStatus, ...]


class Error(_Message):
    """A request failed; the connection goes on. `code` may be one this client does not know."""

    type: ClassVar[str] = "error"
    sender: ClassVar[Sender] = "server"
    id: MessageId | None = None
    code: Code
    message: Annotated[StrictStr, Field(max_length=1024)]
    field: Annotated[StrictStr, Field(max_length=256)] | None = None
    topic: TopicName | None = None
    retry_after_ms: Count | None = None
    ref_id: Token | None = None

    @property
    def error_code(self) -> ErrorCode | None:
        """The code as an `ErrorCode`, or None when this client does not know it."""
        try:
            return ErrorCode(self.code)
        except ValueError:
            return None


# --------------------------------------------------------------------------------- event payloads


class _Explained(_Model):
    rule_id: StrictStr
    rule_version: Count
    explanation: Text
    """The rule's arithmetic, in words."""
    summary: Text | None = None
    """The award in a person's words ("Merged a pull request"; no date, no XP amount); absent from
    servers before summaries, and from events kept before them."""


class XpAwarded(_Explained):
    amount: Int
    xp: Count
    """The user's XP after the award."""


class LevelUp(_Explained):
    level: Positive
    previous_level: Positive
    xp: Count


class BadgeEarned(_Explained):
    key: StrictStr
    """The badge's key in the user snapshot's ``badges``."""
    badge_id: StrictStr
    name: StrictStr
    tier: StrictStr | None = None
    period: StrictStr | None = None
    xp: Count = 0


class MissionCompleted(_Explained):
    key: StrictStr
    """The mission's key in the user snapshot's ``missions``."""
    mission_id: StrictStr
    name: StrictStr
    period: StrictStr
    reward_xp: Count


class StreakExtended(_Explained):
    streak_id: StrictStr
    name: StrictStr
    current: Positive
    best: Positive


class StreakBroken(_Explained):
    streak_id: StrictStr
    name: StrictStr
    previous: Positive
    """The length of the streak that lapsed."""


class RankChanged(_Model):
    board: StrictStr
    period: Literal["daily", "weekly", "monthly", "all_time"]
    rank: Positive
    """The competition rank now."""
    previous_rank: Positive | None = None
    """Absent when the player was not on the board before."""
    score: Number
    top: Positive
    """The bracket entered: 10, 3 or 1."""


class Announcement(_Model):
    title: Annotated[StrictStr, Field(max_length=200)]
    text: Text
    severity: Literal["info", "warning", "critical"]
    url: Annotated[StrictStr, Field(max_length=2048)] | None = None


EVENT_DATA: Mapping[str, type[_Model]] = {
    "xp_awarded": XpAwarded,
    "level_up": LevelUp,
    "badge_earned": BadgeEarned,
    "mission_completed": MissionCompleted,
    "streak_extended": StreakExtended,
    "streak_broken": StreakBroken,
    "rank_changed": RankChanged,
    "announcement": Announcement,
}
"""The data of each event name of v1. Clients ignore events whose name they do not know."""


def event_data(event: Event) -> BaseModel | None:
    """The typed data of a known event (already validated on decode), or None for an unknown name."""
    model = EVENT_DATA.get(event.name)
    return None if model is None else model.model_validate(event.data)


# ------------------------------------------------------------------------------------- registries

ClientMessage: TypeAlias = Auth | Subscribe | Unsubscribe | Ping | Refresh | Ingest
ServerMessage: TypeAlias = (
    Welcome | Subscribed | Delta | Batch | Event | Unsubscribed | Pong | Refreshed | Ingested | Error
)
Message: TypeAlias = ClientMessage | ServerMessage

CLIENT_MESSAGES: tuple[type[ClientMessage], ...] = (Auth, Subscribe, Unsubscribe, Ping, Refresh, Ingest)
SERVER_MESSAGES: tuple[type[ServerMessage], ...] = (
    Welcome,
    Subscribed,
    Delta,
    Batch,
    Event,
    Unsubscribed,
    Pong,
    Refreshed,
    Ingested,
    Error,
)
MESSAGE_TYPES: Mapping[str, type[Message]] = {cls.type: cls for cls in (*CLIENT_MESSAGES, *SERVER_MESSAGES)}


# ------------------------------------------------------------------------------------- wire form


def _wire_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _wire_fields(value)
    if isinstance(value, tuple):
        return [_wire_value(item) for item in value]
    if isinstance(value, SetOp | MergeOp | RemoveOp | MoveOp):
        return value.to_wire()
    return value


def _wire_fields(model: BaseModel) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is not None:  # an optional field without a value is left out
            wire[name] = _wire_value(value)
    return wire


def to_wire(message: Message) -> dict[str, Any]:
    """The message as its wire map (not yet canonical: the codec sorts keys and checks values)."""
    return {"type": message.type, **_wire_fields(message)}


def _field(loc: tuple[int | str, ...], ctx: Mapping[str, Any] | None) -> str | None:
    parts = [str(part) for part in loc]
    if ctx and ctx.get("field"):
        parts.append(str(ctx["field"]))
    return ".".join(parts) or None


def from_wire(data: Mapping[str, Any], *, sender: Sender | None = None) -> Message:
    """Validates a wire map. ``sender``: who sent it (a server accepts only client messages, and the
    other way round); None accepts any type. Raises `ProtocolError`."""
    message_id: int | str | None = None
    if "id" in data:
        with contextlib.suppress(ValueError):
            message_id = _message_id(data["id"])
    kind = data.get("type")
    if not isinstance(kind, str):
        problem = "missing" if kind is None else "must be a string"
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"type: {problem}", "type", message_id=message_id)
    cls = MESSAGE_TYPES.get(kind)
    if cls is None or (sender is not None and cls.sender != sender):
        shown = kind if len(kind) <= 64 else kind[:64] + "…"
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {shown!r}", message_id=message_id)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = _field(error["loc"], error.get("ctx"))
        text = error["msg"].removeprefix("Value error, ")
        message = text if field is None else f"{field}: {text}"
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, message, field, message_id=message_id, message_type=kind
        ) from None
