"""The server-side publish API: how services (and, later, workers) change what live screens show.

A `TopicChange` is one change of one topic: the delta ``ops`` that turn its document into the new one
(PROTOCOL.md §11, wire form: ``["set", ["xp"], 3122]``) and the ``events`` that explain it (§13:
``("level_up", {...})``). `Publisher.publish` validates each change, encodes it once (canonical
msgpack) and appends it to the topic's stream, which numbers it and hands it to every hub process
whose sessions watch the topic. A change with no ops and only events (an announcement) still takes an
offset: events ride on deltas, so they reach every node through the same path, in order.

Ordering is the publisher's contract: a topic's changes must reach its stream in the order its state
changed, each once, and only changes that happened. Nobody publishes inside a database transaction
(that would hold its locks across the network, and publish changes that may then roll back); instead:

- Versioned topics (``user:{id}``): the change is encoded here (`encode_change`) but not published by
  this module; the scoring transaction writes it into the live outbox with the version it leads the
  user's document to, and after the commit an outbox relay appends it with `Streams.publish_versions`,
  which takes each version once and only as the next one (`server.services.topics.outbox_relay`).
- Documents kept beside their streams (leaderboards, challenge scoreboards, teams, the activity feed):
  recomputed after the commits that change them and published by compare-and-set on the stream
  position (`server.services.topics.document_push`), so a delta always follows the document it was
  diffed from.
- Events-only changes (announcements, rank notices) carry no ops: they need no order with the state,
  and are published here directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack  # type: ignore[import-untyped]

from protocol import EVENT_DATA, Encoding, check_ops, encode_value, is_topic, parse_op

from .streams import Delta, Streams


@dataclass(frozen=True, slots=True)
class TopicChange:
    """One change of one topic: delta ops (wire form) and the events that go with them."""

    topic: str
    ops: Sequence[Sequence[Any]] = ()
    events: Sequence[tuple[str, Mapping[str, Any]]] = field(default_factory=tuple)


class InvalidChange(ValueError):
    """A change that breaks the protocol: a bug in the caller, refused before anything is published."""


def encode_change(change: TopicChange) -> bytes:
    """The stream payload of a change: canonical msgpack of ``{"events": [...], "ops": [...]}``."""
    if not is_topic(change.topic):
        raise InvalidChange(f"not a topic: {change.topic!r}")
    try:
        check_ops([parse_op(op) for op in change.ops])
    except ValueError as error:  # OpFormatError, and the outside-in and one-key rules
        raise InvalidChange(f"{change.topic}: {error}") from error
    events = []
    for name, data in change.events:
        model = EVENT_DATA.get(name)
        if model is not None:
            model.model_validate(data)  # a pydantic ValidationError names the bad field
        events.append({"name": name, "data": dict(data)})
    body: dict[str, Any] = {"ops": [list(op) for op in change.ops]}
    if events:
        body["events"] = events
    return encode_value(body, Encoding.MSGPACK)


def decode_change(payload: bytes) -> tuple[list[Any], list[dict[str, Any]]]:
    """``(ops, events)`` of a stream payload (trusted: it was written by `encode_change`)."""
    body = msgpack.unpackb(payload, raw=False)
    return body["ops"], body.get("events", [])


class Publisher:
    """Publishes topic changes through the hub's streams (one per process, shared by the services)."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams

    async def publish(self, changes: Iterable[TopicChange]) -> list[Delta]:
        """Validate every change first (nothing is published if one is invalid), then publish them in
        order, in one round trip where the store allows."""
        items = [(change.topic, encode_change(change)) for change in changes]
        return await self.streams.publish_many(items) if items else []


__all__ = ["InvalidChange", "Publisher", "TopicChange", "decode_change", "encode_change"]
