"""Opaque cursors: the client passes back what it was given; a tampered one is `Invalid` (422), not a 500."""

from __future__ import annotations

import base64
import binascii

from server.services.errors import FieldIssue, Invalid


def encode_cursor(position: str | int) -> str:
    return base64.urlsafe_b64encode(f"v1:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("v1:") or "\x00" in text:
        raise bad_cursor()
    return text[3:]


def bad_cursor() -> Invalid:
    error = FieldIssue(field="cursor", message="not a cursor this API gave out", code="invalid_cursor")
    return Invalid("invalid query: cursor", [error])


def decode_int_cursor(cursor: str | None) -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    # isdigit() would let "²" through; the database's integers stop at 2^63.
    if not (position.isascii() and position.isdecimal()) or int(position) >= 2**63:
        raise bad_cursor()
    return int(position)
