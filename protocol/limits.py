"""The protocol's numbers (PROTOCOL.md, "Limits" and "Heartbeat").

Frames a client sends are held to `CLIENT_FRAME_LIMITS` (the server announces them in
``welcome.limits``); frames the server sends stay within `SERVER_FRAME_LIMITS`, which every client
decoder must accept.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AUTH_TIMEOUT_MS",
    "CLIENT_FRAME_LIMITS",
    "HEARTBEAT_MS",
    "MAX_INGEST_EVENTS",
    "MAX_SAFE_INTEGER",
    "MAX_SUBSCRIPTIONS",
    "MAX_TIME_MS",
    "MAX_TOPIC_LENGTH",
    "PRESENCE_MAX_PEOPLE",
    "RATE_BURST",
    "RATE_PER_SECOND",
    "SERVER_FRAME_LIMITS",
    "FrameLimits",
]

MAX_SAFE_INTEGER = 2**53 - 1
"""Integers on the wire stay within ±(2^53 - 1): JSON and JavaScript clients hold numbers as doubles."""


@dataclass(frozen=True, slots=True)
class FrameLimits:
    """What a decoder accepts in one frame. Lengths of strings count UTF-8 bytes; lengths of arrays and
    maps count elements (a map's entries); the depth counts nested arrays and maps, the frame's own
    map being depth 1."""

    max_frame_bytes: int
    max_depth: int
    max_string_bytes: int
    max_array_length: int
    max_map_length: int


CLIENT_FRAME_LIMITS = FrameLimits(
    max_frame_bytes=64 * 1024,
    max_depth=32,
    max_string_bytes=4096,
    max_array_length=256,
    max_map_length=64,
)
SERVER_FRAME_LIMITS = FrameLimits(
    max_frame_bytes=1024 * 1024,
    max_depth=32,
    max_string_bytes=64 * 1024,
    max_array_length=10_000,
    max_map_length=10_000,
)

HEARTBEAT_MS = 25_000
"""The client sends a message (``ping`` will do) at least this often; silence for twice as long closes."""
AUTH_TIMEOUT_MS = 10_000
MAX_SUBSCRIPTIONS = 100
RATE_PER_SECOND = 20
"""Token bucket: refills this many messages per second..."""
RATE_BURST = 40
"""...up to this many; every client message takes one."""
MAX_INGEST_EVENTS = 100
MAX_TIME_MS = 253_402_300_799_999
"""The last millisecond of the year 9999 (UTC): the latest ``occurred_at_ms`` an ``ingest`` may carry.
Later times fit the wire's integers but no calendar a server or a database keeps (Python's `datetime`,
PostgreSQL's ``timestamptz`` formatting, ISO 8601 with four-digit years)."""
MAX_TOPIC_LENGTH = 128
PRESENCE_MAX_PEOPLE = 1000
"""A presence snapshot lists at most this many people (``count`` is the true number)."""
