"""Frames: canonical encoding, round trips of every message type, and decoding untrusted input safely."""

from __future__ import annotations

import contextlib
import json
import pickle
import struct
import sys
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    CLIENT_FRAME_LIMITS,
    CLOSE_CODES,
    ERRORS,
    MAX_SAFE_INTEGER,
    SERVER_FRAME_LIMITS,
    SUBPROTOCOLS,
    CloseCode,
    Delta,
    Encoding,
    ErrorCode,
    FrameLimits,
    Message,
    Ping,
    ProtocolError,
    SetOp,
    Subscribed,
    canonical,
    close_info,
    close_reason,
    decode,
    decode_value,
    encode,
    encode_value,
    reconnect_delay_ms,
)
from tests.protocol.strategies import MESSAGES, json_values

BIG = FrameLimits(
    max_frame_bytes=8 * 1024 * 1024,
    max_depth=32,
    max_string_bytes=1 << 20,
    max_array_length=10**6,
    max_map_length=10**6,
)


def _code(data: bytes | str, encoding: Encoding, **kwargs: Any) -> ErrorCode:
    with pytest.raises(ProtocolError) as caught:
        decode(data, encoding, **kwargs)
    return caught.value.code


# ------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_round_trip_of_every_message_type(kind: str) -> None:
    @settings(max_examples=200, deadline=None)
    @given(MESSAGES[kind])
    def round_trip(message: Message) -> None:
        assert message.type == kind
        for encoding in Encoding:
            frame = encode(message, encoding)
            assert isinstance(frame, bytes if encoding is Encoding.MSGPACK else str)
            decoded = decode(frame, encoding, sender=message.sender)
            assert decoded == message
            assert encode(decoded, encoding) == frame  # canonical: the same bytes again

    round_trip()


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_canonical_values_survive_both_encodings(value: Any) -> None:
    wire = {"type": "ping", "x": value}
    for encoding in Encoding:
        assert decode_value(encode_value(wire, encoding), encoding, SERVER_FRAME_LIMITS) == canonical(wire)


def test_canonical_form() -> None:
    assert canonical({"b": 1, "a": [2.0, -0.0, 0.5, (1, 2)], "é": True, "Z": None}) == {
        "Z": None,
        "a": [2, 0, 0.5, [1, 2]],
        "b": 1,
        "é": True,
    }
    assert list(canonical({"😀": 1, "｡": 2})) == ["｡", "😀"]  # code points, not UTF-16 units
    assert type(canonical(ErrorCode.RATE_LIMITED)) is str
    assert type(canonical(CloseCode.NORMAL)) is int
    assert type(canonical(2.0**60)) is float  # beyond 2^53: stays a float


def test_msgpack_integer_and_string_forms() -> None:
    def packed(value: Any) -> str:
        return encode_value({"v": value}, Encoding.MSGPACK)[3:].hex()

    assert packed(127) == "7f"
    assert packed(128) == "cc80"
    assert packed(-32) == "e0"
    assert packed(-33) == "d0df"
    assert packed(65536) == "ce00010000"
    assert packed(MAX_SAFE_INTEGER) == "cf001fffffffffffff"
    assert packed(-MAX_SAFE_INTEGER) == "d3ffe0000000000001"
    assert packed(0.5) == "cb3fe0000000000000"
    assert packed(3.0) == "03"
    assert packed("a" * 31)[:2] == "bf"
    assert packed("a" * 32)[:4] == "d920"


@pytest.mark.parametrize(
    ("value", "code", "field"),
    [
        (float("nan"), "invalid_message", "x"),
        (float("inf"), "invalid_message", "x"),
        (2**53, "invalid_message", "x"),
        ({1: "a"}, "invalid_message", "x"),
        ({"k": [1, {"z": object()}]}, "invalid_message", "x.k.1.z"),
        (b"bytes", "invalid_message", "x"),
        ("\ud800", "invalid_message", None),
        ("a" * (CLIENT_FRAME_LIMITS.max_string_bytes + 1), "too_large", "x"),
        (list(range(CLIENT_FRAME_LIMITS.max_array_length + 1)), "too_large", "x"),
        (json.loads("[" * 32 + "]" * 32), "too_deep", "x" + ".0" * 31),  # the innermost is depth 33
        (json.loads('{"a":' * 32 + "{}" + "}" * 32), "too_deep", "x" + ".a" * 31),
        ({f"k{i}": i for i in range(CLIENT_FRAME_LIMITS.max_map_length + 1)}, "too_large", "x"),
    ],
)
def test_encode_refuses_what_a_peer_would_refuse(value: Any, code: str, field: str | None) -> None:
    for encoding in Encoding:
        with pytest.raises(ProtocolError) as caught:
            encode_value({"type": "ping", "x": value}, encoding, CLIENT_FRAME_LIMITS)
        assert caught.value.code == code
        if field is not None:
            assert caught.value.field == field


def test_encode_keeps_a_frame_within_the_receivers_limits() -> None:
    big = Subscribed(
        topic="team:platform",
        epoch="t1",
        offset=1,
        recovered=False,
        snapshot={f"k{i}": "x" * 60_000 for i in range(20)},
    )
    for encoding in Encoding:
        with pytest.raises(ProtocolError, match="over 1048576") as caught:
            encode(big, encoding)
        assert caught.value.code == "too_large"
    # a client message is held to the (smaller) client limits
    with pytest.raises(ProtocolError) as caught:
        encode_value({"type": "ping", "x": ["y" * 4000] * 17}, Encoding.MSGPACK, CLIENT_FRAME_LIMITS)
    assert caught.value.code == "too_large"


def test_subprotocols() -> None:
    assert SUBPROTOCOLS == ("gamif.v1.msgpack", "gamif.v1.json")
    assert Encoding("gamif.v1.json") is Encoding.JSON
    assert decode('{"type":"ping"}', "gamif.v1.json") == Ping()


# --------------------------------------------------------------------------------- hostile input


def test_a_100_mb_header_allocates_nothing() -> None:
    frames = [
        b"\x82\xa4type\xa4ping\xa1x\xdb" + struct.pack(">I", 100_000_000) + b"abc",  # str 32
        b"\x82\xa4type\xa4ping\xa1x\xdd" + struct.pack(">I", 100_000_000),  # array 32
        b"\x82\xa4type\xa4ping\xa1x\xdf" + struct.pack(">I", 100_000_000),  # map 32
        b"\x82\xa4type\xa4ping\xa1x\xc6" + struct.pack(">I", 100_000_000),  # bin 32
    ]
    for limits in (CLIENT_FRAME_LIMITS, SERVER_FRAME_LIMITS, BIG):
        for frame in frames:
            tracemalloc.start()
            try:
                with pytest.raises(ProtocolError) as caught:
                    decode(frame, Encoding.MSGPACK, limits=limits)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert caught.value.code in ("too_large", "bad_frame")
            assert peak < 1_000_000, f"{frame[:12].hex()}: {peak} bytes"


@pytest.mark.parametrize("depth", [33, 1000, 100_000, 1_000_000])
def test_deep_nesting_is_refused_without_recursion(depth: int) -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # a recursive decoder would fail here even on modest depths
    try:
        assert _code(b"\x81\xa1x" + b"\x91" * depth + b"\x90", Encoding.MSGPACK, limits=BIG) == "too_deep"
        assert _code('{"x":' + "[" * depth + "]" * depth + "}", Encoding.JSON, limits=BIG) == "too_deep"
    finally:
        sys.setrecursionlimit(limit)


def test_depth_counts_the_frame_map_as_one() -> None:
    ok = {"type": "ping", "x": json.loads("[" * 31 + "]" * 31)}
    too_deep = {"type": "ping", "x": json.loads("[" * 32 + "]" * 32)}
    for encoding in Encoding:
        assert decode(encode_value(ok, encoding, BIG), encoding) == Ping()
        with pytest.raises(ProtocolError):
            encode_value(too_deep, encoding, BIG)
    raw = b"\x82\xa4type\xa4ping\xa1x" + b"\x91" * 31 + b"\x90"
    assert _code(raw, Encoding.MSGPACK) == "too_deep"
    assert decode(raw[:-2] + b"\x90", Encoding.MSGPACK) == Ping()


def test_json_depth_scan_is_not_fooled_by_brackets_in_strings() -> None:
    text = '{"type":"auth","token":"' + "]" * 100 + '\\"' + "[" * 40 + '"}'
    assert decode(text, Encoding.JSON).type == "auth"  # type: ignore[union-attr]
    escaped = '{"type":"ping","x":"\\\\",' + '"y":' + "[" * 33 + "]" * 33 + "}"
    assert _code(escaped, Encoding.JSON) == "too_deep"


def test_frame_size_is_checked_before_parsing() -> None:
    over = CLIENT_FRAME_LIMITS.max_frame_bytes + 1
    assert _code(b"\xc1" * over, Encoding.MSGPACK) == "too_large"
    assert _code("x" * over, Encoding.JSON) == "too_large"
    assert _code("é" * (over // 2 + 1), Encoding.JSON) == "too_large"  # counted in UTF-8 bytes
    assert _code(bytearray(b"\xc1" * over), Encoding.MSGPACK) == "too_large"
    # the server's own frames may be larger
    big = encode(
        Subscribed(topic="team:a1", epoch="e", offset=0, recovered=False, snapshot={"x": "y" * 60_000}),
        Encoding.MSGPACK,
    )
    assert decode(memoryview(big), Encoding.MSGPACK, sender="server").type == "subscribed"
    assert _code(big, Encoding.MSGPACK) == "too_large"


def test_the_frame_type_must_match_the_subprotocol() -> None:
    assert _code('{"type":"ping"}', Encoding.MSGPACK) == "wrong_frame_type"
    assert _code(b'{"type":"ping"}', Encoding.JSON) == "wrong_frame_type"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '{"type":"ping"}x',
        '{"type":"ping","x":Infinity}',
        '{"type":"ping","x":-Infinity}',
        '{"type":"ping","x":' + "9" * 5000 + "}",
        '{"type":"ping","x":"\\udc00"}',
        "\ud800",
        "42",
    ],
)
def test_bad_json_frames(text: str) -> None:
    assert _code(text, Encoding.JSON) == "bad_frame"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x81",
        b"\x81\xa4type",
        b"\x81\xa4type\xcb\x00",  # float cut short
        b"\x81\xa4type\xcd\x00",  # integer cut short
        b"\x81\xa4type\xd9",  # header cut short
        b"\x81\xa4type\xdc\x00\x05\xc0",  # fewer items than announced
        b"\x81\xa4type\xca\x7f\xc0\x00\x00",  # float32 NaN
        b"\x81\xa4type\xd3\x80\x00\x00\x00\x00\x00\x00\x00",  # int64 min
        b"\x81\xa4type\xc7\x01\x05\x00",  # ext 8
        b"\x81\xa4type\xc0\xc0",
        b"\x81\xc0\xc0",  # nil key
        b"\x81\x91\xa1a\xc0",  # array key
        b"\x93\xa1a\xa1b\xa1c",  # not a map
    ],
)
def test_bad_msgpack_frames(raw: bytes) -> None:
    assert _code(raw, Encoding.MSGPACK) == "bad_frame"


def test_map_key_check_tracks_keys_and_values() -> None:
    # values may be any type; only keys must be strings, also in nested and empty maps
    frame = encode_value({"type": "ping", "x": {"a": [1, {}], "b": {"c": None}}}, Encoding.MSGPACK)
    assert decode(frame, Encoding.MSGPACK) == Ping()
    assert _code(b"\x82\xa4type\xa4ping\xa1x\x82\xa1a\x80\x01\xc0", Encoding.MSGPACK) == "bad_frame"


def test_integral_floats_read_as_integers_everywhere() -> None:
    raw = (
        b"\x83\xa4type\xa4ping\xa2id\xcb"
        + struct.pack(">d", 7.0)
        + b"\xa1x\x91\x81\xa1y\xcb"
        + struct.pack(">d", 2.0)
    )
    assert decode_value(raw, Encoding.MSGPACK, CLIENT_FRAME_LIMITS) == {
        "type": "ping",
        "id": 7,
        "x": [{"y": 2}],
    }
    assert type(decode_value(raw, Encoding.MSGPACK, CLIENT_FRAME_LIMITS)["id"]) is int


def test_decode_reports_the_request_id_for_a_non_fatal_error() -> None:
    frame = encode_value({"type": "subscribe", "id": "r-1", "topic": "nope"}, Encoding.JSON)
    with pytest.raises(ProtocolError) as caught:
        decode(frame, Encoding.JSON, sender="client")
    error = caught.value
    assert (error.code, error.field, error.message_id, error.message_type) == (
        "invalid_message",
        "topic",
        "r-1",
        "subscribe",
    )
    assert not error.fatal
    assert error.close_code is None
    with pytest.raises(ProtocolError) as caught:
        decode('{"type":"warp","id":9}', Encoding.JSON)
    assert (caught.value.code, caught.value.message_id) == ("unknown_type", 9)


def test_sender_restricts_the_types() -> None:
    delta = encode(
        Delta(topic="team:ab", epoch="e", offset=1, ops=(SetOp(("a",), 1),), at_ms=0), Encoding.MSGPACK
    )
    assert decode(delta, Encoding.MSGPACK, sender="server").type == "delta"
    assert decode(delta, Encoding.MSGPACK).type == "delta"
    assert _code(delta, Encoding.MSGPACK, sender="client") == "unknown_type"
    assert _code(encode(Ping(), Encoding.MSGPACK), Encoding.MSGPACK, sender="server") == "unknown_type"


# ----------------------------------------------------------------------------------- error tables


def test_error_and_close_tables() -> None:
    assert set(ERRORS) == set(ErrorCode)
    for info in ERRORS.values():
        assert (info.close_code is None) == (info.sent_as == "error"), info
    assert {int(code) for code in CloseCode} == set(CLOSE_CODES)
    assert close_info(4004).new_token
    assert not close_info(4000).reconnect
    assert close_info(4029).min_delay_ms >= 5000
    unknown = close_info(4999)
    assert (unknown.code, unknown.reconnect, unknown.resume) == (4999, True, True)


def test_protocol_error() -> None:
    error = ProtocolError("too_deep", "deep", "x.y", message_id=3, message_type="ping")
    assert error.code is ErrorCode.TOO_DEEP
    assert error.fatal
    assert error.close_code == CloseCode.PROTOCOL_VIOLATION
    assert str(error) == "too_deep: deep (field x.y)"
    again = pickle.loads(pickle.dumps(error))
    assert (again.code, again.message, again.field, again.message_id, again.message_type) == (
        "too_deep",
        "deep",
        "x.y",
        3,
        "ping",
    )
    with pytest.raises(ValueError, match="no_such_code"):
        ProtocolError("no_such_code", "x")


def test_close_reason_fits_a_close_frame() -> None:
    assert close_reason(ErrorCode.RATE_LIMITED) == "rate_limited"
    assert close_reason("auth_failed", "bad signature") == "auth_failed: bad signature"
    long = close_reason("bad_frame", "é" * 200)
    assert len(long.encode()) <= 123
    assert long.startswith("bad_frame: é")


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_crash_the_decoder(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(raw, Encoding.MSGPACK)


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_never_crashes_the_decoder(text: str) -> None:
    with contextlib.suppress(ProtocolError):
        decode(text, Encoding.JSON)


def test_reconnect_delay() -> None:
    assert reconnect_delay_ms(4000, 0, 0.5) is None
    assert reconnect_delay_ms(1000, 0, 0.5) is None
    assert reconnect_delay_ms(1006, 0, 0.5) == 500
    assert reconnect_delay_ms(1006, 3, 0.5) == 4000
    assert reconnect_delay_ms(1006, 40, 0.999) == 29_970  # capped at 30 s
    assert reconnect_delay_ms(4029, 0, 0.0) == 5000  # the code's floor
    assert reconnect_delay_ms(4321, 0, 0.0) == 1000  # unknown codes: 1 s floor


def test_json_lengths_are_checked_after_parsing() -> None:
    array = '{"type":"ping","x":[' + ",".join(["0"] * (CLIENT_FRAME_LIMITS.max_array_length + 1)) + "]}"
    assert _code(array, Encoding.JSON) == "too_large"
    entries = ",".join(f'"k{i}":0' for i in range(CLIENT_FRAME_LIMITS.max_map_length))
    assert _code('{"type":"ping",' + entries + "}", Encoding.JSON) == "too_large"
    key = '{"type":"ping","' + "k" * (CLIENT_FRAME_LIMITS.max_string_bytes + 1) + '":0}'
    assert _code(key, Encoding.JSON) == "too_large"
