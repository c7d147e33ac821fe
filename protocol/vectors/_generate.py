"""Generates valid.json and invalid.json from the message definitions.

    python -m protocol.vectors._generate          # rewrite the files
    python -m protocol.vectors._generate --check  # exit 1 if they are not current

The valid cases are built as messages and encoded by `protocol.codec.encode`; the tolerated and
invalid frames are written out byte by byte (or built with msgpack in non-canonical ways), each with
one defect, so that every implementation agrees on the error code.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import msgpack  # type: ignore[import-untyped]

from protocol.codec import Encoding, canonical, encode
from protocol.limits import CLIENT_FRAME_LIMITS, MAX_INGEST_EVENTS, MAX_SAFE_INTEGER, SERVER_FRAME_LIMITS
from protocol.messages import (
    Auth,
    Batch,
    Delta,
    Error,
    Event,
    Ingest,
    Ingested,
    IngestEvent,
    IngestStatus,
    Limits,
    Message,
    Ping,
    Pong,
    Refresh,
    Refreshed,
    Since,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    to_wire,
)
from protocol.ops import MergeOp, MoveOp, RemoveOp, Selector, SetOp
from protocol.vectors import VECTORS_DIR

# ------------------------------------------------------------------------------- sample data

ANA = "5b0c2a3e-8f1d-4c6b-9a7e-2d4f6b8c0a1e"
BEN = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"
CHLOE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
DAN = "f0e1d2c3-b4a5-4968-8776-655443322110"
NOW = 1795167000000  # 2026-11-20T09:30:00Z
WEEK_START = 1794787200000  # Monday 2026-11-16T00:00:00Z
WEEK_END = 1795392000000
TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1YjBjMmEzZS04ZjFkLTRjNmItOWE3ZS0yZDRmNmI4YzBhMWUiLCJleHAiOjE3"
    "OTUxNjc5MDB9.c2lnbmF0dXJlLW5vdC1yZWFs"
)
USER_TOPIC = f"user:{ANA}"
BOARD_TOPIC = "leaderboard:xp:weekly"

USER_SNAPSHOT: dict[str, Any] = {
    "user_id": ANA,
    "handle": "ana",
    "display_name": "Ana",
    "xp": 3092,
    "level": 10,
    "level_xp": 2850,
    "next_level_xp": 3160,
    "progress": 0.78,
    "rule_version": 3,
    "badges": {
        "hello-world": {
            "badge_id": "hello-world",
            "name": "Hello, world",
            "tier": None,
            "period": None,
            "secret": False,
            "earned_at_ms": 1794906000000,
            "explanation": "commits events 5 ≥ 1",
        },
        "reviewer:silver": {
            "badge_id": "reviewer",
            "name": "Reviewer",
            "tier": "silver",
            "period": None,
            "secret": False,
            "earned_at_ms": 1795080600000,
            "explanation": "reviews_done total 52 ≥ 50",
        },
    },
    "streaks": {
        "reviewing": {"name": "Reviewing streak", "current": 4, "best": 7, "freezes": 2},
        "shipping": {"name": "Shipping streak", "current": 3, "best": 14, "freezes": 2},
    },
    "missions": {
        "daily-reviews@2026-11-20": {
            "mission_id": "daily-reviews",
            "name": "Review three pull requests today",
            "period": "2026-11-20",
            "progress": 2,
            "goal": 3,
            "completed": False,
            "reward_xp": 20,
        }
    },
}

LEADERBOARD_SNAPSHOT: dict[str, Any] = {
    "board": "xp",
    "period": "weekly",
    "period_start_ms": WEEK_START,
    "period_end_ms": WEEK_END,
    "size": 100,
    "ranked": 3,
    "rows": [
        {"member": ANA, "display_name": "Ana", "score": 640, "rank": 1},
        {"member": BEN, "display_name": "Ben", "score": 560, "rank": 2},
        {"member": CHLOE, "display_name": "Chloé", "score": 560, "rank": 2},
    ],
}

TEAM_SNAPSHOT: dict[str, Any] = {
    "slug": "platform",
    "name": "Platform",
    "description": "Builds and runs the platform.",
    "archived": False,
    "members": {
        ANA: {
            "handle": "ana",
            "display_name": "Ana",
            "level": 10,
            "xp": 3092,
            "weekly_xp": 640,
            "joined_at_ms": 1792000000000,
        },
        BEN: {
            "handle": "ben",
            "display_name": "Ben",
            "level": 8,
            "xp": 2210,
            "weekly_xp": 560,
            "joined_at_ms": 1792100000000,
        },
    },
    "totals": {"members": 2, "xp": 5302, "weekly_xp": 1200},
}

PRESENCE_SNAPSHOT: dict[str, Any] = {
    "scope": "team:platform",
    "count": 2,
    "truncated": False,
    "people": {
        ANA: {"handle": "ana", "display_name": "Ana", "since_ms": NOW - 600_000},
        BEN: {"handle": "ben", "display_name": "Ben", "since_ms": NOW - 60_000},
    },
}

USER_DELTA = Delta(
    topic=USER_TOPIC,
    epoch="u7Kq2",
    offset=42,
    ops=(
        SetOp(("xp",), 3122),
        SetOp(("progress",), 0.87),
        MergeOp(("missions", "daily-reviews@2026-11-20"), {"progress": 3, "completed": True}),
        MergeOp(("streaks", "reviewing"), {"current": 5}),
    ),
    at_ms=NOW,
)
BOARD_DELTA = Delta(
    topic=BOARD_TOPIC,
    epoch="2026-W47.1",
    offset=1187,
    ops=(
        MergeOp(("rows", Selector("member", CHLOE)), {"score": 660, "rank": 1}),
        MergeOp(("rows", Selector("member", ANA)), {"rank": 2}),
        MergeOp(("rows", Selector("member", BEN)), {"rank": 3}),
        MoveOp(("rows",), Selector("member", CHLOE), 0),
    ),
    at_ms=NOW + 250,
)


def _nested_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def valid_messages() -> list[tuple[str, Message]]:
    """(name, message): every message type, and the encodings every implementation must get right."""
    new_row: dict[str, Any] = {
        "member": DAN,
        "display_name": "Dan",
        "score": 600,
        "rank": 2,
    }
    return [
        ("auth", Auth(id=1, token=TOKEN)),
        ("auth_without_id", Auth(token=TOKEN)),
        ("subscribe_user", Subscribe(id="sub-1", topic=USER_TOPIC)),
        ("subscribe_since", Subscribe(id=2, topic=BOARD_TOPIC, since=Since(epoch="2026-W47.1", offset=1186))),
        ("subscribe_presence_team", Subscribe(id=3, topic="presence:team:platform")),
        ("unsubscribe", Unsubscribe(id=4, topic="team:platform")),
        ("ping", Ping(id=5)),
        ("ping_bare", Ping()),
        ("refresh", Refresh(id=6, token=TOKEN)),
        (
            "ingest",
            Ingest(
                id=7,
                events=(
                    IngestEvent(
                        id="ide-42", metric="focus_minutes", value=42.5, occurred_at_ms=NOW - 3_600_000
                    ),
                    IngestEvent(
                        id="ci-9001",
                        user="ana",
                        metric="commits",
                        value=3,
                        occurred_at_ms=NOW,
                        metadata={"repo": "gamif", "branch": "main"},
                    ),
                ),
            ),
        ),
        (
            "welcome",
            Welcome(
                id=1,
                session_id="s-01JD7X4Q9T",
                user_id=ANA,
                heartbeat_ms=25_000,
                server_time_ms=NOW,
                expires_at_ms=NOW + 900_000,
                limits=Limits.default(),
            ),
        ),
        (
            "subscribed_user_snapshot",
            Subscribed(
                id="sub-1",
                topic=USER_TOPIC,
                epoch="u7Kq2",
                offset=41,
                recovered=False,
                snapshot=USER_SNAPSHOT,
            ),
        ),
        (
            "subscribed_leaderboard_snapshot",
            Subscribed(
                id=2,
                topic=BOARD_TOPIC,
                epoch="2026-W47.1",
                offset=1186,
                recovered=False,
                snapshot=LEADERBOARD_SNAPSHOT,
            ),
        ),
        (
            "subscribed_team_snapshot",
            Subscribed(topic="team:platform", epoch="t1", offset=0, recovered=False, snapshot=TEAM_SNAPSHOT),
        ),
        (
            "subscribed_presence_snapshot",
            Subscribed(
                id=3,
                topic="presence:team:platform",
                epoch="p9",
                offset=310,
                recovered=False,
                snapshot=PRESENCE_SNAPSHOT,
            ),
        ),
        (
            "subscribed_recovered",
            Subscribed(
                id=2,
                topic=BOARD_TOPIC,
                epoch="2026-W47.1",
                offset=1188,
                recovered=True,
                deltas=(
                    BOARD_DELTA,
                    Delta(
                        topic=BOARD_TOPIC,
                        epoch="2026-W47.1",
                        offset=1188,
                        ops=(
                            SetOp(("ranked",), 4),
                            SetOp(("rows", Selector("member", new_row["member"])), new_row),
                        ),
                        at_ms=NOW + 900,
                    ),
                ),
            ),
        ),
        (
            "subscribed_recovered_nothing_missed",
            Subscribed(id=9, topic=USER_TOPIC, epoch="u7Kq2", offset=41, recovered=True, deltas=()),
        ),
        ("delta_user", USER_DELTA),
        ("delta_leaderboard_move", BOARD_DELTA),
        (
            "delta_insert_and_remove_rows",
            Delta(
                topic=BOARD_TOPIC,
                epoch="2026-W47.1",
                offset=1189,
                ops=(
                    RemoveOp(("rows", Selector("member", BEN))),
                    SetOp(("rows", Selector("member", new_row["member"])), new_row),
                    MoveOp(("rows",), Selector("member", new_row["member"]), 1),
                    SetOp(("ranked",), 4),
                ),
                at_ms=NOW + 1000,
            ),
        ),
        (
            "delta_presence_remove",
            Delta(
                topic="presence:global",
                epoch="p1",
                offset=77,
                ops=(RemoveOp(("people", BEN)), SetOp(("count",), 1)),
                at_ms=NOW,
            ),
        ),
        ("delta_no_ops", Delta(topic="team:platform", epoch="t1", offset=1, ops=(), at_ms=NOW)),
        (
            "delta_replace_document",
            Delta(topic="team:platform", epoch="t1", offset=2, ops=(SetOp((), TEAM_SNAPSHOT),), at_ms=NOW),
        ),
        ("batch", Batch(deltas=(USER_DELTA, BOARD_DELTA))),
        (
            "event_level_up",
            Event(
                topic=USER_TOPIC,
                name="level_up",
                data={
                    "level": 11,
                    "previous_level": 10,
                    "xp": 3170,
                    "rule_id": "levels",
                    "rule_version": 3,
                    "explanation": "3,170 XP reaches level 11 (needs 3,160 XP); level 12 needs 3,490 XP",
                },
                at_ms=NOW,
                offset=43,
            ),
        ),
        (
            "event_badge_earned",
            Event(
                topic=USER_TOPIC,
                name="badge_earned",
                data={
                    "key": "reviewer:gold",
                    "badge_id": "reviewer",
                    "name": "Reviewer",
                    "tier": "gold",
                    "xp": 100,
                    "rule_id": "badges.reviewer",
                    "rule_version": 3,
                    "explanation": "reviews_done total 200 ≥ 200",
                    "summary": "Badge: Reviewer (gold)",
                },
                at_ms=NOW,
                offset=44,
            ),
        ),
        (
            "event_xp_awarded",
            Event(
                topic=USER_TOPIC,
                name="xp_awarded",
                data={
                    "amount": 30,
                    "xp": 3122,
                    "rule_id": "metrics.reviews_done",
                    "rule_version": 3,
                    "explanation": "Code reviews on 2026-11-20 (Europe/Paris): 3 reviews × 10 XP = 30 XP",
                    "summary": "Did 3 code reviews",
                },
                at_ms=NOW,
                offset=42,
            ),
        ),
        (
            "event_announcement",
            Event(
                topic="team:platform",
                name="announcement",
                data={
                    "title": "Docs week",
                    "text": "Documentation earns double XP until Sunday.",
                    "severity": "info",
                },
                at_ms=NOW,
            ),
        ),
        (
            "event_unknown_name",  # a name this version does not define: valid, and ignored by clients
            Event(topic=USER_TOPIC, name="confetti", data={"colour": "gold"}, at_ms=NOW),
        ),
        ("unsubscribed", Unsubscribed(id=4, topic="team:platform")),
        ("unsubscribed_by_server", Unsubscribed(topic="team:archived-team", reason="unknown_topic")),
        ("pong", Pong(id=5, server_time_ms=NOW)),
        ("refreshed", Refreshed(id=6, expires_at_ms=NOW + 900_000)),
        (
            "ingested",
            Ingested(
                id=7,
                accepted=1,
                duplicates=1,
                rejected=1,
                rule_version=3,
                events=(
                    IngestStatus(id="ide-42", status="accepted"),
                    IngestStatus(
                        id="ci-9001",
                        status="duplicate",
                        code="already_scored",
                        reason="already scored",
                        field="id",
                    ),
                    IngestStatus(
                        id="ide-43",
                        status="rejected",
                        code="in_the_future",
                        reason="is 3600 s ahead; at most 300 s allowed",
                        field="occurred_at_ms",
                    ),
                ),
            ),
        ),
        (
            "error_rate_limited",
            Error(
                id=12, code="rate_limited", message="20 messages a second, bursts of 40", retry_after_ms=50
            ),
        ),
        (
            "error_invalid_message",
            Error(
                id=13,
                code="invalid_message",
                message="since.offset: Input should be a valid integer",
                field="since.offset",
            ),
        ),
        (
            "error_forbidden_topic",
            Error(id="sub-9", code="forbidden_topic", message="user topics are private", topic=f"user:{BEN}"),
        ),
        ("error_internal", Error(code="internal_error", message="internal error", ref_id="e-7f3a9c")),
        (
            "numbers",  # every integer width at its edges, floats, and integral floats written as integers
            Delta(
                topic="team:platform",
                epoch="t1",
                offset=3,
                ops=(
                    SetOp(
                        ("unsigned",),
                        [0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, MAX_SAFE_INTEGER],
                    ),
                    SetOp(
                        ("signed",),
                        [
                            -1,
                            -32,
                            -33,
                            -128,
                            -129,
                            -32768,
                            -32769,
                            -2147483648,
                            -2147483649,
                            -MAX_SAFE_INTEGER,
                        ],
                    ),
                    SetOp(("floats",), [0.5, -2.25, 0.1, 1.5e300, 3.0, -0.0]),
                ),
                at_ms=NOW,
            ),
        ),
        (
            "strings_and_key_order",  # keys in code point order, not UTF-16 order: U+FF61 before U+1F600
            Delta(
                topic="team:platform",
                epoch="t1",
                offset=4,
                ops=(
                    SetOp(
                        ("labels",),
                        {
                            "😀": "emoji",
                            "｡": "halfwidth",
                            "é": "e-acute",
                            "a": "",
                            "Z": "x" * 31,
                            "_": "y" * 32,
                            "long": "z" * 256,
                            "日本": "チーム",
                        },
                    ),
                ),
                at_ms=NOW,
            ),
        ),
        (
            "containers_and_scalars",  # fixarray/array16 and fixmap/map16 boundaries, null and booleans
            Delta(
                topic="team:platform",
                epoch="t1",
                offset=5,
                ops=(
                    SetOp(("fifteen",), list(range(15))),
                    SetOp(("sixteen",), list(range(16))),
                    SetOp(("map16",), {f"k{i:02d}": i for i in range(16)}),
                    SetOp(("flags",), [None, True, False, {}, []]),
                ),
                at_ms=NOW,
            ),
        ),
        (
            "max_depth",  # exactly 32 levels: the message, ops, the op, then 29 nested arrays
            Delta(
                topic="team:platform",
                epoch="t1",
                offset=6,
                ops=(SetOp(("deep",), _nested_list(29)),),
                at_ms=NOW,
            ),
        ),
    ]


# ------------------------------------------------------------------------------- raw frames


def _hex(data: bytes) -> list[dict[str, Any]]:
    return [{"hex": data.hex()}]


def _text(text: str) -> list[dict[str, Any]]:
    return [{"text": text}]


def _mp(value: Any) -> bytes:
    """msgpack of ``value`` as given (keys in insertion order): for frames that are not canonical."""
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def _fixstr(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 32
    return bytes([0xA0 | len(raw)]) + raw


def _map_header(count: int) -> bytes:
    assert count < 16
    return bytes([0x80 | count])


PING = _map_header(1) + _fixstr("type") + _fixstr("ping")


def tolerated() -> list[dict[str, Any]]:
    """Frames a decoder must accept although an encoder must not write them."""
    cases: list[tuple[str, str, str, list[dict[str, Any]], Message]] = [
        (
            "unknown_fields_ignored",
            "client",
            "msgpack",
            _hex(
                _mp(
                    {
                        "type": "subscribe",
                        "topic": "team:platform",
                        "priority": 3,
                        "since": {"epoch": "t1", "offset": 0, "x": []},
                    }
                )
            ),
            Subscribe(topic="team:platform", since=Since(epoch="t1", offset=0)),
        ),
        (
            "keys_in_any_order",
            "client",
            "msgpack",
            _hex(_mp({"topic": "team:platform", "id": 4, "type": "unsubscribe"})),
            Unsubscribe(id=4, topic="team:platform"),
        ),
        (
            "wider_integer_forms",  # 5 as uint32, 1 as int64
            "client",
            "msgpack",
            _hex(
                _map_header(3)
                + _fixstr("type")
                + _fixstr("ping")
                + _fixstr("id")
                + b"\xce"
                + struct.pack(">I", 5)
                + _fixstr("x")
                + b"\xd3"
                + struct.pack(">q", 1)
            ),
            Ping(id=5),
        ),
        (
            "wider_string_and_map_forms",  # str16 for a short string, map16 for a small map
            "client",
            "msgpack",
            _hex(b"\xde\x00\x01" + _fixstr("type") + b"\xda\x00\x04ping"),
            Ping(),
        ),
        (
            "integral_float_for_integer",  # 1186.0 as float64 where an integer is required
            "client",
            "msgpack",
            _hex(
                _map_header(3)
                + _fixstr("type")
                + _fixstr("subscribe")
                + _fixstr("topic")
                + _fixstr(BOARD_TOPIC)
                + _fixstr("since")
                + _map_header(2)
                + _fixstr("epoch")
                + _fixstr("2026-W47.1")
                + _fixstr("offset")
                + b"\xcb"
                + struct.pack(">d", 1186.0)
            ),
            Subscribe(topic=BOARD_TOPIC, since=Since(epoch="2026-W47.1", offset=1186)),
        ),
        (
            "float32",
            "client",
            "msgpack",
            _hex(
                _map_header(2)
                + _fixstr("type")
                + _fixstr("ingest")
                + _fixstr("events")
                + b"\x91"
                + _map_header(4)
                + _fixstr("id")
                + _fixstr("e1")
                + _fixstr("metric")
                + _fixstr("focus_minutes")
                + _fixstr("value")
                + b"\xca"
                + struct.pack(">f", 2.5)
                + _fixstr("occurred_at_ms")
                + b"\xcf"
                + struct.pack(">Q", NOW)
            ),
            Ingest(events=(IngestEvent(id="e1", metric="focus_minutes", value=2.5, occurred_at_ms=NOW),)),
        ),
        (
            "null_for_absent_optional_field",
            "client",
            "msgpack",
            _hex(_mp({"type": "subscribe", "id": None, "topic": "team:platform", "since": None})),
            Subscribe(topic="team:platform"),
        ),
        (
            "json_whitespace_and_order",
            "client",
            "json",
            _text('{ "topic" : "team:platform",\n  "type" : "subscribe",\n  "id" : 8 }'),
            Subscribe(id=8, topic="team:platform"),
        ),
        (
            "json_float_notation_for_integer",
            "client",
            "json",
            _text('{"type":"subscribe","topic":"team:platform","since":{"epoch":"t1","offset":1.2e1}}'),
            Subscribe(topic="team:platform", since=Since(epoch="t1", offset=12)),
        ),
        (
            "json_escapes",
            "client",
            "json",
            _text('{"type":"auth","token":"\\u0061b\\/c\\u00e9\\ud83d\\ude00"}'),
            Auth(token="ab/cé😀"),
        ),
        (
            "nested_delta_with_type",  # "type" inside batch.deltas is an unknown field there: ignored
            "server",
            "msgpack",
            _hex(_mp({"type": "batch", "deltas": [{"type": "delta", **to_wire(USER_DELTA)}]})),
            Batch(deltas=(USER_DELTA,)),
        ),
    ]
    return [
        {
            "name": name,
            "from": sender,
            "encoding": encoding,
            "input": frame,
            "message": canonical(to_wire(message)),
        }
        for name, sender, encoding, frame, message in cases
    ]


def invalid() -> list[dict[str, Any]]:
    client = CLIENT_FRAME_LIMITS
    deep = b"\x91" * (client.max_depth - 1) + b"\x90"  # depth 33 inside the frame's map
    str_over = client.max_string_bytes + 1
    cases: list[dict[str, Any]] = []

    def case(
        name: str,
        code: str,
        frame: list[dict[str, Any]],
        *,
        encoding: str = "msgpack",
        sender: str = "client",
        field: str | None = None,
    ) -> None:
        row: dict[str, Any] = {
            "name": name,
            "from": sender,
            "encoding": encoding,
            "input": frame,
            "code": code,
        }
        if field is not None:
            row["field"] = field
        cases.append(row)

    def mp(name: str, code: str, value: Any, *, sender: str = "client", field: str | None = None) -> None:
        case(name, code, _hex(_mp(value)), sender=sender, field=field)

    def js(name: str, code: str, text: str, *, sender: str = "client", field: str | None = None) -> None:
        case(name, code, _text(text), encoding="json", sender=sender, field=field)

    # frames: msgpack
    case("not_msgpack", "bad_frame", _hex(b"\xc1"))
    case("truncated_map", "bad_frame", _hex(_map_header(2) + _fixstr("type") + _fixstr("ping")))
    case("truncated_string", "bad_frame", _hex(_map_header(1) + _fixstr("type") + b"\xd9\x0aping"))
    case("extra_bytes", "bad_frame", _hex(PING + b"\xc0"))
    case(
        "ext_type",
        "bad_frame",
        _hex(_map_header(2) + _fixstr("type") + _fixstr("ping") + _fixstr("id") + b"\xd4\x01\x00"),
    )
    case(
        "timestamp_ext",
        "bad_frame",
        _hex(_map_header(2) + _fixstr("type") + _fixstr("ping") + _fixstr("x") + b"\xd6\xff\x00\x00\x00\x00"),
    )
    case(
        "bin_value",
        "bad_frame",
        _hex(_map_header(2) + _fixstr("type") + _fixstr("auth") + _fixstr("token") + b"\xc4\x03abc"),
    )
    case(
        "integer_map_key", "bad_frame", _hex(_map_header(2) + _fixstr("type") + _fixstr("ping") + b"\x01\x02")
    )
    case(
        "duplicate_key",
        "bad_frame",
        _hex(_map_header(2) + _fixstr("type") + _fixstr("ping") + _fixstr("type") + _fixstr("ping")),
    )
    case("not_a_map", "bad_frame", _hex(b"\x91" + _fixstr("ping")))
    case("invalid_utf8", "bad_frame", _hex(_map_header(1) + _fixstr("type") + b"\xa2\xff\xfe"))
    case(
        "nan", "bad_frame", _hex(b"\x82" + PING[1:] + _fixstr("x") + b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00")
    )
    case(
        "integer_beyond_2_53",
        "bad_frame",
        _hex(b"\x82" + PING[1:] + _fixstr("id") + b"\xcf" + struct.pack(">Q", 2**53)),
    )
    case(
        "huge_string_header",
        "too_large",
        _hex(b"\x82" + PING[1:] + _fixstr("token") + b"\xdb" + struct.pack(">I", 100_000_000) + b"abc"),
    )
    case(
        "huge_array_header",
        "too_large",
        _hex(b"\x82" + PING[1:] + _fixstr("x") + b"\xdd" + struct.pack(">I", 100_000_000)),
    )
    case(
        "huge_map_header",
        "too_large",
        _hex(b"\x82" + PING[1:] + _fixstr("x") + b"\xdf" + struct.pack(">I", 100_000_000)),
    )
    case("too_deep", "too_deep", _hex(b"\x82" + PING[1:] + _fixstr("x") + deep))
    case(
        "string_over_limit",
        "too_large",
        [
            {
                "hex": (
                    b"\x82"
                    + _fixstr("type")
                    + _fixstr("auth")
                    + _fixstr("token")
                    + b"\xda"
                    + struct.pack(">H", str_over)
                ).hex()
            },
            {"hex": "61", "repeat": str_over},
        ],
    )
    case(
        "array_over_limit",
        "too_large",
        [
            {
                "hex": (
                    b"\x82"
                    + PING[1:]
                    + _fixstr("x")
                    + b"\xdc"
                    + struct.pack(">H", client.max_array_length + 1)
                ).hex()
            },
            {"hex": "c0", "repeat": client.max_array_length + 1},
        ],
    )
    big_map = (
        b"\xde"
        + struct.pack(">H", client.max_map_length + 1)
        + b"".join(_fixstr(f"k{i:03d}") + b"\xc0" for i in range(client.max_map_length + 1))
    )
    case("map_over_limit", "too_large", _hex(b"\x82" + PING[1:] + _fixstr("x") + big_map))
    chunk = 4000
    chunks = client.max_frame_bytes // chunk + 1
    case(
        "frame_over_limit",  # each string within its limit, the frame over 64 KiB
        "too_large",
        [
            {"hex": (b"\x82" + PING[1:] + _fixstr("x") + b"\xdc" + struct.pack(">H", chunks)).hex()},
            {"hex": (b"\xda" + struct.pack(">H", chunk) + b"a" * chunk).hex(), "repeat": chunks},
        ],
    )
    case("text_frame_on_msgpack", "wrong_frame_type", _text('{"type":"ping"}'))
    # frames: JSON
    case("binary_frame_on_json", "wrong_frame_type", _hex(PING), encoding="json")
    js("json_syntax", "bad_frame", '{"type":"ping",}')
    js("json_trailing_text", "bad_frame", '{"type":"ping"} {}')
    js("json_nan", "bad_frame", '{"type":"ping","x":NaN}')
    js("json_number_overflow", "bad_frame", '{"type":"ping","x":1e400}')
    js("json_integer_beyond_2_53", "bad_frame", '{"type":"ping","id":9007199254740992}')
    js("json_duplicate_key", "bad_frame", '{"type":"ping","type":"ping"}')
    js("json_not_a_map", "bad_frame", '["ping"]')
    js("json_lone_surrogate", "bad_frame", '{"type":"auth","token":"\\ud800"}')
    js("json_too_deep", "too_deep", '{"type":"ping","x":' + "[" * 32 + "]" * 32 + "}")
    case(
        "json_string_over_limit",
        "too_large",
        [{"text": '{"type":"auth","token":"'}, {"text": "a", "repeat": str_over}, {"text": '"}'}],
        encoding="json",
    )
    arr = ",".join(["0"] * (client.max_array_length + 1))
    js("json_array_over_limit", "too_large", '{"type":"ping","x":[' + arr + "]}")
    entries = ",".join(f'"k{i:03d}":0' for i in range(client.max_map_length))
    js("json_map_over_limit", "too_large", '{"type":"ping",' + entries + "}")
    # messages
    mp("unknown_type", "unknown_type", {"type": "teleport", "id": 1})
    mp("server_type_from_client", "unknown_type", {"type": "pong", "server_time_ms": NOW})
    mp("client_type_from_server", "unknown_type", {"type": "ping"}, sender="server")
    mp("missing_type", "invalid_message", {"id": 1}, field="type")
    mp("type_not_a_string", "invalid_message", {"type": 1}, field="type")
    mp("missing_field", "invalid_message", {"type": "subscribe", "id": 1}, field="topic")
    mp(
        "string_for_integer",
        "invalid_message",
        {"type": "subscribe", "topic": BOARD_TOPIC, "since": {"epoch": "e", "offset": "3"}},
        field="since.offset",
    )
    mp(
        "boolean_for_integer",
        "invalid_message",
        {"type": "subscribe", "topic": BOARD_TOPIC, "since": {"epoch": "e", "offset": True}},
        field="since.offset",
    )
    mp(
        "negative_offset",
        "invalid_message",
        {"type": "subscribe", "topic": BOARD_TOPIC, "since": {"epoch": "e", "offset": -1}},
        field="since.offset",
    )
    mp(
        "invalid_epoch",
        "invalid_message",
        {"type": "subscribe", "topic": BOARD_TOPIC, "since": {"epoch": "", "offset": 1}},
        field="since.epoch",
    )
    mp("invalid_topic", "invalid_message", {"type": "subscribe", "topic": "User:Ana"}, field="topic")
    mp(
        "topic_with_newline",
        "invalid_message",
        {"type": "subscribe", "topic": "team:platform\n"},
        field="topic",
    )
    mp(
        "unknown_topic_kind",
        "invalid_message",
        {"type": "subscribe", "topic": "weather:paris"},
        field="topic",
    )
    mp(
        "leaderboard_bad_period",
        "invalid_message",
        {"type": "subscribe", "topic": "leaderboard:xp:yearly"},
        field="topic",
    )
    mp("float_id", "invalid_message", {"type": "ping", "id": 1.5}, field="id")
    mp("negative_id", "invalid_message", {"type": "ping", "id": -1}, field="id")
    mp("id_with_space", "invalid_message", {"type": "ping", "id": "a b"}, field="id")
    mp("empty_token", "invalid_message", {"type": "auth", "token": ""}, field="token")
    mp(
        "ingest_missing_time",
        "invalid_message",
        {"type": "ingest", "events": [{"id": "e1", "metric": "commits", "value": 1}]},
        field="events.0.occurred_at_ms",
    )
    mp(
        "ingest_too_many_events",
        "invalid_message",
        {
            "type": "ingest",
            "events": [
                {"id": f"e{i}", "metric": "commits", "value": 1, "occurred_at_ms": NOW}
                for i in range(MAX_INGEST_EVENTS + 1)
            ],
        },
        field="events",
    )
    mp("ingest_empty", "invalid_message", {"type": "ingest", "events": []}, field="events")
    mp(
        "ingested_unknown_status",
        "invalid_message",
        {
            "type": "ingested",
            "accepted": 0,
            "duplicates": 0,
            "rejected": 0,
            "rule_version": 1,
            "events": [{"id": "e1", "status": "postponed"}],
        },
        sender="server",
        field="events.0.status",
    )

    def delta(ops: Sequence[Any], **fields: Any) -> dict[str, Any]:
        return {
            "type": "delta",
            "topic": "team:platform",
            "epoch": "t1",
            "offset": 2,
            "at_ms": NOW,
            "ops": list(ops),
            **fields,
        }

    mp(
        "op_increment",
        "invalid_message",
        delta([["increment", ["xp"], 10]]),
        sender="server",
        field="ops.0.0",
    )
    mp("op_wrong_arity", "invalid_message", delta([["set", ["xp"]]]), sender="server", field="ops.0")
    mp("op_not_an_array", "invalid_message", delta([{"set": ["xp"]}]), sender="server", field="ops.0")
    mp("op_path_not_an_array", "invalid_message", delta([["set", "xp", 1]]), sender="server", field="ops.0.1")
    mp(
        "op_index_in_path",
        "invalid_message",
        delta([["set", ["rows", 0], {}]]),
        sender="server",
        field="ops.0.1.1",
    )
    mp(
        "op_selector_two_entries",
        "invalid_message",
        delta([["remove", ["rows", {"member": "a", "x": "b"}]]]),
        sender="server",
        field="ops.0.1.1",
    )
    mp(
        "op_selector_boolean",
        "invalid_message",
        delta([["remove", ["rows", {"member": True}]]]),
        sender="server",
        field="ops.0.1.1.member",
    )
    mp(
        "op_merge_not_a_map",
        "invalid_message",
        delta([["merge", ["totals"], [1]]]),
        sender="server",
        field="ops.0.2",
    )
    mp("op_remove_root", "invalid_message", delta([["remove", []]]), sender="server", field="ops.0.1")
    mp(
        "op_set_root_not_a_map",
        "invalid_message",
        delta([["set", [], [1]]]),
        sender="server",
        field="ops.0.2",
    )
    mp(
        "op_move_negative_index",
        "invalid_message",
        delta([["move", ["rows"], {"member": "a"}, -1]]),
        sender="server",
        field="ops.0.3",
    )
    mp(
        "op_inside_out",
        "invalid_message",
        delta([["set", ["totals", "xp"], 1], ["set", ["totals"], {}]]),
        sender="server",
        field="ops.1",
    )
    mp(
        "op_remove_then_recreate_row",
        "invalid_message",
        delta([["remove", ["rows", {"member": "a"}]], ["set", ["rows", {"member": "a"}], {"member": "a"}]]),
        sender="server",
        field="ops.1",
    )
    mp(
        "op_move_before_merge",
        "invalid_message",
        delta([["move", ["rows"], {"member": "a"}, 0], ["merge", ["rows", {"member": "a"}], {"rank": 1}]]),
        sender="server",
        field="ops.1",
    )
    mp(
        "op_two_key_fields_for_one_list",
        "invalid_message",
        delta([["remove", ["rows", {"member": "a"}]], ["remove", ["rows", {"id": 5}]]]),
        sender="server",
        field="ops.1",
    )
    mp("delta_offset_zero", "invalid_message", delta([], offset=0), sender="server", field="offset")
    mp(
        "delta_missing_at",
        "invalid_message",
        {k: v for k, v in delta([]).items() if k != "at_ms"},
        sender="server",
        field="at_ms",
    )
    base = {"type": "subscribed", "topic": "team:platform", "epoch": "t1", "offset": 3}
    one = {k: v for k, v in delta([]).items() if k != "type"}
    mp(
        "recovered_without_deltas",
        "invalid_message",
        {**base, "recovered": True},
        sender="server",
        field="deltas",
    )
    mp("snapshot_missing", "invalid_message", {**base, "recovered": False}, sender="server", field="snapshot")
    mp(
        "snapshot_not_a_map",
        "invalid_message",
        {**base, "recovered": False, "snapshot": [1]},
        sender="server",
        field="snapshot",
    )
    mp(
        "recovered_with_a_hole",
        "invalid_message",
        {**base, "recovered": True, "deltas": [one, {**one, "offset": 3}, {**one, "offset": 3}]},
        sender="server",
        field="deltas.2.offset",
    )
    mp("batch_empty", "invalid_message", {"type": "batch", "deltas": []}, sender="server", field="deltas")
    mp(
        "batch_out_of_order",
        "invalid_message",
        {"type": "batch", "deltas": [{**one, "offset": 5}, {**one, "offset": 4}]},
        sender="server",
        field="deltas.1.offset",
    )
    mp(
        "event_known_name_bad_data",
        "invalid_message",
        {
            "type": "event",
            "topic": USER_TOPIC,
            "name": "level_up",
            "at_ms": NOW,
            "data": {
                "previous_level": 1,
                "xp": 100,
                "rule_id": "levels",
                "rule_version": 1,
                "explanation": "x",
            },
        },
        sender="server",
        field="data.level",
    )
    mp(
        "error_without_message",
        "invalid_message",
        {"type": "error", "code": "internal_error"},
        sender="server",
        field="message",
    )
    server_depth = _nested_list(SERVER_FRAME_LIMITS.max_depth - 2)  # 33 levels with the map, ops and op
    mp("server_too_deep", "too_deep", delta([["set", ["deep"], server_depth]]), sender="server")
    return cases


# ------------------------------------------------------------------------------- files


def _dump(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def build() -> dict[str, str]:
    """The two files' contents."""
    valid = [
        {
            "name": name,
            "from": message.sender,
            "message": canonical(to_wire(message)),
            "msgpack": encode(message, Encoding.MSGPACK).hex(),
            "json": encode(message, Encoding.JSON),
        }
        for name, message in valid_messages()
    ]
    header = (
        "Test vectors of the gamif WebSocket protocol v1 (PROTOCOL.md). Generated by "
        "python -m protocol.vectors._generate: do not edit."
    )
    limits = {"client": asdict(CLIENT_FRAME_LIMITS), "server": asdict(SERVER_FRAME_LIMITS)}
    return {
        "valid.json": _dump(
            {"description": header, "limits": limits, "cases": valid, "tolerated": tolerated()}
        ),
        "invalid.json": _dump({"description": header, "limits": limits, "cases": invalid()}),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = args == ["--check"]
    stale = []
    for name, text in build().items():
        path = VECTORS_DIR / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not check:
            path.write_text(text, encoding="utf-8")
    if check and stale:
        print(f"stale: {', '.join(stale)} (run python -m protocol.vectors._generate)", file=sys.stderr)
        return 1
    print("written: " + ", ".join(stale) if stale else "up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
