"""The few RFC 6455 pieces the load client needs: the opening handshake and client (masked) frames.

The load client is a raw `asyncio.Protocol` rather than a `websockets` client because it has to
receive tens of thousands of small frames per second per process while sharing the machine with the
server it measures: counting frames off the byte stream is several times cheaper than building a
message object per frame. Server frames are parsed inline in `load_tests.fanout.subscriber`.
"""

from __future__ import annotations

import base64
import hashlib
import os

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HEADERS_END = b"\r\n\r\n"
MAX_HANDSHAKE_BYTES = 16_384


class HandshakeError(Exception):
    """The server did not upgrade the connection (its status line says why)."""


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def handshake_request(host: str, port: int, path: str, key: str, subprotocol: str | None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def check_handshake_response(head: bytes, key: str, subprotocol: str | None) -> None:
    """Raise `HandshakeError` unless ``head`` (the response up to its blank line) accepts the upgrade."""
    status, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status.split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        raise HandshakeError(f"upgrade refused: {status!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1(key.encode("ascii") + _ACCEPT_GUID).digest()).decode("ascii")
    if headers.get("sec-websocket-accept") != expected:
        raise HandshakeError("bad Sec-WebSocket-Accept")
    if subprotocol and headers.get("sec-websocket-protocol") != subprotocol:
        raise HandshakeError(
            f"subprotocol {subprotocol!r} not selected: {headers.get('sec-websocket-protocol')!r}"
        )


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final frame, masked as RFC 6455 requires of clients (the client sends few: no need for speed)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65_536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    repeated = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")
    return head + mask + masked


def close_payload(code: int) -> bytes:
    return code.to_bytes(2, "big")


def close_code(payload: bytes) -> int:
    """The status code of a close frame's payload (1005, "no status", when it has none)."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
