"""What the load client knows of the gamif protocol (PROTOCOL.md): its hello frames, and how to count
the deltas of a frame without decoding it.

The hub encodes canonically (§3.2: keys sorted, shortest forms), so a ``delta`` frame is a 6-entry map
whose last entry is ``"type": "delta"``, and a ``batch`` frame is ``{"deltas": [...], "type": "batch"}``
whose array header follows the first key. Recognising those bytes costs a few comparisons; anything else
(``welcome``, ``subscribed``, ``pong``, ``error``, or a delta with fields added within v1) is decoded
in full, so the fast path is an optimisation, never a guess.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack  # type: ignore[import-untyped]

from protocol import Auth, Delta, Encoding, Ping, Subscribe, encode

SUBPROTOCOL = Encoding.MSGPACK.value
AUTH_ID = 1
SUBSCRIBE_ID = 2

_DELTA_HEAD = 0x86  # a map of 6 entries: at_ms, epoch, offset, ops, topic, type
_DELTA_TAIL = b"\xa4type\xa5delta"
_BATCH_HEAD = b"\x82\xa6deltas"  # a map of 2 entries, the first "deltas"
_BATCH_TAIL = b"\xa4type\xa5batch"
_BATCH_ARRAY_AT = len(_BATCH_HEAD)


def hello_frames(token: str, topic: str) -> tuple[bytes, bytes]:
    """``auth`` then ``subscribe``, pipelined (§5): the replies are ``welcome`` then ``subscribed``."""
    return (
        encode(Auth(id=AUTH_ID, token=token), Encoding.MSGPACK),
        encode(Subscribe(id=SUBSCRIBE_ID, topic=topic), Encoding.MSGPACK),
    )


PING_FRAME: bytes = encode(Ping(), Encoding.MSGPACK)


def delta_frame_size(topic: str, offset: int, value: int) -> int:
    """The size of the hub's ``delta`` frame for the bench change ``["set", ["n"], value]``: the payload
    size the baselines send, so that every target moves the same bytes."""
    wire = {"topic": topic, "epoch": "e" * 12, "offset": offset, "ops": [["set", ["n"], value]]}
    delta = Delta.model_validate({**wire, "at_ms": int(time.time() * 1000)})
    return len(encode(delta, Encoding.MSGPACK))


def fast_delta_count(data: bytes, start: int, end: int) -> int:
    """How many deltas the canonical frame ``data[start:end]`` carries, or -1 if it is not a canonical
    ``delta`` or ``batch`` (then decode it)."""
    if data[start] == _DELTA_HEAD and data.endswith(_DELTA_TAIL, start, end):
        return 1
    if data.startswith(_BATCH_HEAD, start) and data.endswith(_BATCH_TAIL, start, end):
        at = start + _BATCH_ARRAY_AT
        head = data[at]
        if 0x90 <= head <= 0x9F:  # fixarray
            return head & 0x0F
        if head == 0xDC:  # array 16
            return int.from_bytes(data[at + 1 : at + 3], "big")
        if head == 0xDD:  # array 32
            return int.from_bytes(data[at + 1 : at + 5], "big")
    return -1


def decode(frame: bytes) -> Any:
    return msgpack.unpackb(frame, raw=False)


def deltas_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The deltas a decoded ``delta`` or ``batch`` message carries (none for other types)."""
    kind = message.get("type")
    if kind == "delta":
        return [message]
    if kind == "batch":
        return list(message.get("deltas", ()))
    return []
