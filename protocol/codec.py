"""Frames (PROTOCOL.md, "Framing" and "Canonical encoding").

`encode` turns a message into one frame, once, so that the hub can send the same bytes (or text) to
every subscriber; its output is canonical (map keys sorted, integral numbers as integers, the
shortest msgpack forms), so two implementations produce the same bytes. `decode` reads one frame
from an untrusted peer: the frame type and size are checked first, then the whole value is walked
iteratively (depth, string and container sizes, value types) *before* anything is allocated for it,
and only then parsed and validated. Every failure is a `ProtocolError` with a code of the table.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, NoReturn, overload

import msgpack  # type: ignore[import-untyped]

from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import CLIENT_FRAME_LIMITS, MAX_SAFE_INTEGER, SERVER_FRAME_LIMITS, FrameLimits
from protocol.messages import Message, Sender, from_wire, to_wire

__all__ = ["SUBPROTOCOLS", "Encoding", "canonical", "decode", "decode_value", "encode", "encode_value"]


class Encoding(StrEnum):
    """The two subprotocols; the value is the name negotiated in the WebSocket handshake."""

    MSGPACK = "gamif.v1.msgpack"
    """Binary frames, msgpack."""
    JSON = "gamif.v1.json"
    """Text frames, JSON: the same maps, for debugging with generic tools."""


SUBPROTOCOLS: tuple[str, ...] = (Encoding.MSGPACK.value, Encoding.JSON.value)
"""In order of preference."""


def _limits(sender: Sender | None) -> FrameLimits:
    return SERVER_FRAME_LIMITS if sender == "server" else CLIENT_FRAME_LIMITS


# ------------------------------------------------------------------------------------- canonical


def _invalid(message: str, field: str | None = None) -> NoReturn:
    raise ProtocolError(ErrorCode.INVALID_MESSAGE, message, field)


def _at(key: object, exc: ProtocolError) -> ProtocolError:
    field = str(key) if exc.field is None else f"{key}.{exc.field}"
    return ProtocolError(exc.code, exc.message, field)


def _utf8_length(text: str, limit: int) -> int:
    """The UTF-8 length, computed only when it may exceed ``limit`` (a character takes 1 to 4 bytes)."""
    if len(text) * 4 <= limit:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _canon(value: Any, depth: int, limits: FrameLimits) -> Any:
    # Fast paths for the exact builtin types (most of every document); subclasses, other mappings and
    # the checks' failures go the general way below.
    kind = type(value)
    if kind is str and len(value) * 4 <= limits.max_string_bytes:
        return value
    if kind is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    if kind is dict and depth < limits.max_depth and len(value) <= limits.max_map_length:
        out: dict[str, Any] = {}
        try:
            keys = sorted(value)
        except TypeError:
            keys = sorted(value, key=_key_order)  # raises the protocol error for the odd key
        for key in keys:
            name = key if type(key) is str else str.__str__(_key_order(key))
            try:
                out[name] = _canon(value[key], depth + 1, limits)
            except ProtocolError as exc:
                raise _at(key, exc) from None
        return out
    if kind is list and depth < limits.max_depth and len(value) <= limits.max_array_length:
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_canon(item, depth + 1, limits))
            except ProtocolError as exc:
                raise _at(index, exc) from None
        return items
    return _canon_general(value, depth, limits)


def _canon_general(value: Any, depth: int, limits: FrameLimits) -> Any:
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        if _utf8_length(value, limits.max_string_bytes) > limits.max_string_bytes:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"a string is over {limits.max_string_bytes} bytes")
        return value if type(value) is str else str.__str__(value)
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            _invalid("integers are within ±(2^53 - 1)")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            _invalid("numbers are finite (no NaN or infinity)")
        if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
            return int(value)
        return float(value)
    if isinstance(value, Mapping):
        if depth >= limits.max_depth:
            raise ProtocolError(ErrorCode.TOO_DEEP, f"nested deeper than {limits.max_depth}")
        if len(value) > limits.max_map_length:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"a map has over {limits.max_map_length} entries")
        mapped: dict[str, Any] = {}
        for key in sorted(value, key=_key_order):
            try:
                mapped[str.__str__(key)] = _canon(value[key], depth + 1, limits)
            except ProtocolError as exc:
                raise _at(key, exc) from None
        return mapped
    if isinstance(value, list | tuple):
        if depth >= limits.max_depth:
            raise ProtocolError(ErrorCode.TOO_DEEP, f"nested deeper than {limits.max_depth}")
        if len(value) > limits.max_array_length:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"an array has over {limits.max_array_length} items")
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_canon(item, depth + 1, limits))
            except ProtocolError as exc:
                raise _at(index, exc) from None
        return items
    _invalid(f"a {type(value).__name__} is not a protocol value")


def _key_order(key: object) -> str:
    if not isinstance(key, str):
        _invalid(f"map keys are strings, not {type(key).__name__}")
    return key  # code point order, which is also UTF-8 byte order


def canonical(value: Any, limits: FrameLimits = SERVER_FRAME_LIMITS) -> Any:
    """``value`` in canonical form: maps with string keys in code point order, integral numbers within
    ±(2^53 - 1) as integers, tuples as lists. ProtocolError if it is outside the protocol's data model
    (``invalid_message``, with the path to the value) or over ``limits`` (``too_large``, ``too_deep``)."""
    return _canon(value, 0, limits)


# ---------------------------------------------------------------------------------------- encode


@overload
def encode_value(value: Any, encoding: Literal[Encoding.MSGPACK], limits: FrameLimits = ...) -> bytes: ...
@overload
def encode_value(value: Any, encoding: Literal[Encoding.JSON], limits: FrameLimits = ...) -> str: ...
@overload
def encode_value(value: Any, encoding: Encoding, limits: FrameLimits = ...) -> bytes | str: ...
def encode_value(value: Any, encoding: Encoding, limits: FrameLimits = SERVER_FRAME_LIMITS) -> bytes | str:
    """One frame holding ``value`` (any map, canonicalised here), within ``limits``."""
    value = canonical(value, limits)
    try:
        if encoding is Encoding.MSGPACK:
            frame: bytes | str = msgpack.packb(value, use_bin_type=True)
            size = len(frame)
        else:
            frame = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            size = len(frame.encode("utf-8"))
    except UnicodeEncodeError:
        _invalid("strings are valid Unicode (no lone surrogates)")
    if size > limits.max_frame_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"the frame is {size} bytes, over {limits.max_frame_bytes}")
    return frame


@overload
def encode(message: Message, encoding: Literal[Encoding.MSGPACK]) -> bytes: ...
@overload
def encode(message: Message, encoding: Literal[Encoding.JSON]) -> str: ...
@overload
def encode(message: Message, encoding: Encoding) -> bytes | str: ...
def encode(message: Message, encoding: Encoding) -> bytes | str:
    """The frame of ``message``: bytes for msgpack (a binary frame), text for JSON (a text frame).
    Canonical, and within the limits the receiver applies to its sender (a server message within
    `SERVER_FRAME_LIMITS`, a client message within `CLIENT_FRAME_LIMITS`)."""
    return encode_value(to_wire(message), encoding, _limits(message.sender))


# ---------------------------------------------------------------------------------------- decode


def _bad(message: str) -> NoReturn:
    raise ProtocolError(ErrorCode.BAD_FRAME, message)


def _too_large(message: str) -> NoReturn:
    raise ProtocolError(ErrorCode.TOO_LARGE, message)


def _too_deep(limits: FrameLimits) -> NoReturn:
    raise ProtocolError(ErrorCode.TOO_DEEP, f"arrays and maps nested deeper than {limits.max_depth}")


_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")


def _scan_msgpack(data: bytes, limits: FrameLimits) -> bool:
    """Walks the msgpack headers without building anything: one value, nothing after it, only the
    protocol's types (no bin, no ext), string keys, integers within ±(2^53 - 1), finite floats, and
    depth, lengths and declared sizes within ``limits`` and the frame. Iterative: a deep frame cannot
    exhaust the stack. Returns whether the frame holds a float."""
    n = len(data)
    pos = 0
    left: list[int] = []  # items still to read in each open container (a map's keys and values)
    maps: list[bool] = []
    has_float = False
    while True:
        if pos >= n:
            _bad("the frame ends in the middle of a value")
        is_key = bool(maps) and maps[-1] and left[-1] % 2 == 0
        b = data[pos]
        pos += 1
        size = -1  # a string's length
        count = -1  # a container's length
        is_map = False
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):  # fixint, nil, false, true
            pass
        elif b <= 0x8F:
            count, is_map = b & 0x0F, True
        elif b <= 0x9F:
            count = b & 0x0F
        elif b <= 0xBF:
            size = b & 0x1F
        elif b in (0xCA, 0xCB):
            width = 4 if b == 0xCA else 8
            if pos + width > n:
                _bad("the frame ends in the middle of a float")
            number = (_F32 if b == 0xCA else _F64).unpack_from(data, pos)[0]
            pos += width
            if not math.isfinite(number):
                _bad("numbers are finite (no NaN or infinity)")
            has_float = True
        elif 0xCC <= b <= 0xD3:  # uint 8/16/32/64, int 8/16/32/64
            signed = b >= 0xD0
            width = 1 << (b - (0xD0 if signed else 0xCC))
            if pos + width > n:
                _bad("the frame ends in the middle of an integer")
            number = int.from_bytes(data[pos : pos + width], "big", signed=signed)
            pos += width
            if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
                _bad("integers are within ±(2^53 - 1)")
        elif 0xD9 <= b <= 0xDF:  # str 8/16/32, array 16/32, map 16/32
            width = (1, 2, 4, 2, 4, 2, 4)[b - 0xD9]
            if pos + width > n:
                _bad("the frame ends in the middle of a header")
            length = int.from_bytes(data[pos : pos + width], "big")
            pos += width
            if b <= 0xDB:
                size = length
            else:
                count, is_map = length, b >= 0xDE
        elif b in (0xC4, 0xC5, 0xC6):
            _bad("binary values (bin 8/16/32) are not part of the protocol")
        elif b == 0xC1:
            _bad("0xc1 is not a msgpack type")
        else:  # 0xc7-0xc9, 0xd4-0xd8
            _bad("extension types (ext, fixext, timestamps) are not part of the protocol")
        if is_key and size < 0:
            _bad("map keys are strings")
        if size >= 0:
            if size > limits.max_string_bytes:
                _too_large(f"a string of {size} bytes is over {limits.max_string_bytes}")
            if pos + size > n:
                _bad("the frame ends in the middle of a string")
            pos += size
        elif count >= 0:
            if len(left) + 1 > limits.max_depth:
                _too_deep(limits)
            if count > (limits.max_map_length if is_map else limits.max_array_length):
                if is_map:
                    _too_large(f"a map of {count} entries is over {limits.max_map_length}")
                _too_large(f"an array of {count} items is over {limits.max_array_length}")
            items = 2 * count if is_map else count
            if items:
                if pos + items > n:  # every item takes at least one byte
                    _bad("the frame ends before the items its headers announce")
                left.append(items)
                maps.append(is_map)
                continue
        # a value is complete: close the containers it completes
        while left:
            left[-1] -= 1
            if left[-1]:
                break
            left.pop()
            maps.pop()
        if not left:
            break
    if pos != n:
        _bad("extra bytes after the message")
    return has_float


class _DuplicateKey(Exception):
    pass


def _map(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _DuplicateKey
    return mapping


def _integral_floats_to_ints(value: Any) -> Any:
    """Numbers are numbers: 3.0 reads as 3 (a JSON or JavaScript peer may not tell them apart)."""
    stack = [value]
    while stack:
        node = stack.pop()
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in list(pairs):
            if type(item) is float and item.is_integer() and abs(item) <= MAX_SAFE_INTEGER:
                node[key] = int(item)
            elif isinstance(item, dict | list):
                stack.append(item)
    return value


def _decode_msgpack(data: bytes, limits: FrameLimits) -> Any:
    has_float = _scan_msgpack(data, limits)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            object_pairs_hook=_map,
            max_str_len=limits.max_string_bytes,
            max_bin_len=0,
            max_ext_len=0,
            max_array_len=limits.max_array_length,
            max_map_len=limits.max_map_length,
        )
    except _DuplicateKey:
        _bad("a map has the same key twice")
    except UnicodeDecodeError:
        _bad("a string is not valid UTF-8")
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # pragma: no cover - scanned before
        _bad(f"not msgpack: {exc}")
    if has_float and isinstance(value, dict | list):
        _integral_floats_to_ints(value)
    return value


_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
"""Strings (skipped whole, escapes included) and brackets: enough to know the nesting depth."""
_MAX_INT_DIGITS = len(str(MAX_SAFE_INTEGER)) + 1  # with a sign


def _json_depth_ok(text: str, max_depth: int) -> bool:
    if text.count("[") + text.count("{") <= max_depth:
        return True
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif token in "]}":
            depth -= 1
    return True


def _json_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS or not -MAX_SAFE_INTEGER <= (number := int(text)) <= MAX_SAFE_INTEGER:
        _bad("integers are within ±(2^53 - 1)")
    return number


def _json_float(text: str) -> int | float:
    number = float(text)
    if not math.isfinite(number):
        _bad("numbers are finite (no NaN or infinity)")
    if number.is_integer() and abs(number) <= MAX_SAFE_INTEGER:
        return int(number)
    return number


def _json_constant(text: str) -> NoReturn:
    _bad(f"{text} is not JSON")


def _check_json_value(value: Any, limits: FrameLimits) -> None:
    """Lengths and strings of a parsed JSON value (its depth was checked before parsing)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                size = len(node.encode("utf-8"))
            except UnicodeEncodeError:
                _bad("strings are valid Unicode (no lone surrogates)")
            if size > limits.max_string_bytes:
                _too_large(f"a string of {size} bytes is over {limits.max_string_bytes}")
        elif isinstance(node, dict):
            if len(node) > limits.max_map_length:
                _too_large(f"a map of {len(node)} entries is over {limits.max_map_length}")
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            if len(node) > limits.max_array_length:
                _too_large(f"an array of {len(node)} items is over {limits.max_array_length}")
            stack.extend(node)


def _decode_json(text: str, limits: FrameLimits) -> Any:
    if not _json_depth_ok(text, limits.max_depth):
        _too_deep(limits)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_map,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
        )
    except _DuplicateKey:
        _bad("a map has the same key twice")
    except ValueError as exc:
        _bad(f"not JSON: {exc}")
    _check_json_value(value, limits)
    return value


def decode_value(
    data: bytes | bytearray | memoryview | str, encoding: Encoding | str, limits: FrameLimits
) -> Any:
    """The value one frame holds, checked against the data model and ``limits`` (not yet a message)."""
    encoding = Encoding(encoding)
    if encoding is Encoding.MSGPACK:
        if isinstance(data, str):
            raise ProtocolError(ErrorCode.WRONG_FRAME_TYPE, "a text frame on gamif.v1.msgpack")
        if len(data) > limits.max_frame_bytes:
            _too_large(f"the frame is {len(data)} bytes, over {limits.max_frame_bytes}")
        return _decode_msgpack(bytes(data), limits)
    if not isinstance(data, str):
        raise ProtocolError(ErrorCode.WRONG_FRAME_TYPE, "a binary frame on gamif.v1.json")
    if len(data) > limits.max_frame_bytes:
        _too_large(f"the frame is over {limits.max_frame_bytes} bytes")
    try:
        size = len(data.encode("utf-8"))
    except UnicodeEncodeError:
        _bad("a text frame is valid UTF-8 (no lone surrogates)")
    if size > limits.max_frame_bytes:
        _too_large(f"the frame is {size} bytes, over {limits.max_frame_bytes}")
    return _decode_json(data, limits)


def decode(
    data: bytes | bytearray | memoryview | str,
    encoding: Encoding | str,
    *,
    sender: Sender | None = None,
    limits: FrameLimits | None = None,
) -> Message:
    """The message in one frame received from ``sender``.

    The hub decodes with ``sender="client"`` (only client messages, `CLIENT_FRAME_LIMITS`); a client
    with ``sender="server"`` (only server messages, `SERVER_FRAME_LIMITS`). Without ``sender`` any
    type is accepted, within `CLIENT_FRAME_LIMITS` unless ``limits`` says otherwise. Raises
    `ProtocolError`: ``wrong_frame_type``, ``too_large``, ``too_deep`` and ``bad_frame`` (fatal), or
    ``unknown_type`` and ``invalid_message`` (the message is ignored)."""
    value = decode_value(data, encoding, _limits(sender) if limits is None else limits)
    if not isinstance(value, dict):
        _bad("a frame holds one map")
    return from_wire(value, sender=sender)
