"""Server frames, encoded once per delta and fanned out as bytes.

A delta from the bus is decoded once per process (`LiveDelta.from_stream`); its body (the delta map
without ``type``, PROTOCOL.md §7) is encoded once per encoding in use, and every frame that carries it
is assembled from that body by concatenation: a ``delta`` frame is the body plus ``"type": "delta"``
(the last key in canonical order), a ``batch`` frame is a prefix, the bodies, and a suffix. Sending a
delta to 5,000 sessions costs one encoding, not 5,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack  # type: ignore[import-untyped]

from protocol import Encoding, Message, encode, encode_value

from .link import wire_frame
from .publish import decode_change
from .streams import Delta

Frame = bytes | str
"""A whole WebSocket message: bytes on gamif.v1.msgpack, text on gamif.v1.json."""

_PACK = msgpack.Packer(use_bin_type=True)
_DELTA_TAIL = _PACK.pack("type") + _PACK.pack("delta")
_BATCH_HEAD = b"\x82" + _PACK.pack("deltas")  # fixmap 2: "deltas", then "type"
_BATCH_TAIL = _PACK.pack("type") + _PACK.pack("batch")


def frame_size(frame: Frame) -> int:
    return len(frame)  # characters for text: close enough for buffer accounting


@dataclass(slots=True)
class LiveDelta:
    """One delta of a topic as this process fans it out: ops and events, with encodings cached."""

    topic: str
    epoch: str
    offset: int
    at_ms: int
    ops: list[Any]
    events: list[dict[str, Any]]
    _bodies: dict[Encoding, Frame] = field(default_factory=dict)
    _frames: dict[Encoding, Frame] = field(default_factory=dict)
    _event_frames: dict[Encoding, list[Frame]] = field(default_factory=dict)
    _ws_frames: dict[Encoding, bytes] = field(default_factory=dict)

    @classmethod
    def from_stream(cls, delta: Delta) -> LiveDelta:
        ops, events = decode_change(delta.payload)
        return cls(delta.topic, delta.epoch, delta.offset, delta.at_ms, ops, events)

    def wire(self) -> dict[str, Any]:
        """The body as a value (for ``subscribed.deltas``)."""
        return {
            "topic": self.topic,
            "epoch": self.epoch,
            "offset": self.offset,
            "ops": self.ops,
            "at_ms": self.at_ms,
        }

    def body(self, encoding: Encoding) -> Frame:
        body = self._bodies.get(encoding)
        if body is None:
            body = self._bodies[encoding] = encode_value(self.wire(), encoding)
        return body

    def frame(self, encoding: Encoding) -> Frame:
        frame = self._frames.get(encoding)
        if frame is None:
            body = self.body(encoding)
            if isinstance(body, bytes):
                # A fixmap of 5 entries (0x85) becomes one of 6 with "type" appended.
                frame = b"\x86" + body[1:] + _DELTA_TAIL
            else:
                frame = body[:-1] + ',"type":"delta"}'
            self._frames[encoding] = frame
        return frame

    def ws_frame(self, encoding: Encoding) -> bytes:
        """The `frame` as the bytes of a WebSocket frame, the same for every connection."""
        framed = self._ws_frames.get(encoding)
        if framed is None:
            framed = self._ws_frames[encoding] = wire_frame(self.frame(encoding))
        return framed

    def event_frames(self, encoding: Encoding) -> list[Frame]:
        frames = self._event_frames.get(encoding)
        if frames is None:
            frames = self._event_frames[encoding] = [
                encode_value(
                    {
                        "type": "event",
                        "topic": self.topic,
                        "name": event["name"],
                        "data": event["data"],
                        "at_ms": self.at_ms,
                        "offset": self.offset,
                    },
                    encoding,
                )
                for event in self.events
            ]
        return frames


def batch_frame(deltas: list[LiveDelta], encoding: Encoding) -> Frame:
    """One ``batch`` frame holding `deltas` in order, from their cached bodies."""
    if encoding is Encoding.MSGPACK:
        parts: list[bytes] = [_BATCH_HEAD, _PACK.pack_array_header(len(deltas))]
        parts.extend(delta.body(encoding) for delta in deltas)  # type: ignore[misc]
        parts.append(_BATCH_TAIL)
        return b"".join(parts)
    return '{"deltas":[' + ",".join(delta.body(encoding) for delta in deltas) + '],"type":"batch"}'  # type: ignore[misc]


def message_frame(message: Message, encoding: Encoding) -> Frame:
    return encode(message, encoding)


class DeltaRun:
    """Consecutive deltas of one topic that reached this process together (one read of the bus): the
    sessions that follow the topic in step all get the same ``batch`` frame, framed once."""

    __slots__ = ("_frames", "deltas")

    def __init__(self, deltas: list[LiveDelta]) -> None:
        self.deltas = deltas
        self._frames: dict[Encoding, bytes] = {}

    def ws_frame(self, encoding: Encoding) -> bytes:
        framed = self._frames.get(encoding)
        if framed is None:
            framed = self._frames[encoding] = wire_frame(batch_frame(self.deltas, encoding))
        return framed
