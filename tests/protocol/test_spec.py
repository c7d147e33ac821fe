"""PROTOCOL.md and the reference implementation say the same thing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    CLIENT_FRAME_LIMITS,
    CLOSE_CODES,
    ERRORS,
    EVENT_DATA,
    MESSAGE_TYPES,
    SERVER_FRAME_LIMITS,
    TOPIC_REGEX,
    Encoding,
    Limits,
    encode,
    from_wire,
)

SPEC = (Path(__file__).resolve().parents[2] / "PROTOCOL.md").read_text(encoding="utf-8")
JSON_BLOCKS = re.findall(r"```json\n(.*?)```", SPEC, re.DOTALL)
HEX_EXAMPLES = re.findall(r"^json: (.*)\nmsgpack: ([0-9a-f ]+)$", SPEC, re.MULTILINE)


def _table(header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with ``header``."""
    start = SPEC.index(header)
    rows = []
    for line in SPEC[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_every_json_example_is_valid() -> None:
    assert len(JSON_BLOCKS) >= 25
    types = set()
    for block in JSON_BLOCKS:
        value: Any = json.loads(block)
        assert isinstance(value, dict)
        if "type" in value:
            message = from_wire(value, sender=MESSAGE_TYPES[value["type"]].sender)
            types.add(message.type)
    assert types == set(MESSAGE_TYPES), "every message type has an example"


@pytest.mark.parametrize(("text", "hexed"), HEX_EXAMPLES)
def test_the_msgpack_examples_are_the_canonical_bytes(text: str, hexed: str) -> None:
    message = from_wire(json.loads(text))
    assert encode(message, Encoding.MSGPACK).hex(" ") == hexed.strip()
    assert encode(message, Encoding.JSON) == text


def test_there_are_msgpack_examples() -> None:
    assert len(HEX_EXAMPLES) >= 2


def test_every_message_type_has_a_section() -> None:
    for name in MESSAGE_TYPES:
        assert f"### `{name}`" in SPEC


def test_the_topic_grammar_is_the_code_s() -> None:
    assert f"\n{TOPIC_REGEX}\n" in SPEC


def test_the_error_table_is_the_code_s() -> None:
    rows = _table("| code | sent as | close code | meaning |")
    documented = {row[0].strip("`"): (row[1], row[2]) for row in rows}
    assert set(documented) == {str(code) for code in ERRORS}
    for code, info in ERRORS.items():
        close = "" if info.close_code is None else str(int(info.close_code))
        assert documented[str(code)] == (info.sent_as, close), code


def test_the_close_code_table_is_the_code_s() -> None:
    rows = _table("| code | name | reconnect | resume | new token first | least delay | meaning |")
    assert {int(row[0]) for row in rows} == set(CLOSE_CODES)
    for row in rows:
        info = CLOSE_CODES[int(row[0])]
        assert row[1] == info.name
        assert row[2] == ("yes" if info.reconnect else "no")
        assert row[3] == ("yes" if info.resume else "")
        assert row[4] == ("yes" if info.new_token else "")
        assert row[5] == (f"{info.min_delay_ms // 1000} s" if info.min_delay_ms else "")


def test_every_event_name_is_documented() -> None:
    rows = _table("| name | topic | data |")
    assert {row[0].strip("`") for row in rows} == set(EVENT_DATA)


def _spaced(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def test_the_limits_are_the_code_s() -> None:
    client = dict(row[:2] for row in _table("| limit | value | refused with |"))
    assert client["`max_frame_bytes`"].startswith(_spaced(CLIENT_FRAME_LIMITS.max_frame_bytes))
    assert client["`max_depth`"] == str(CLIENT_FRAME_LIMITS.max_depth)
    assert client["`max_string_bytes`"].startswith(_spaced(CLIENT_FRAME_LIMITS.max_string_bytes))
    assert client["`max_array_length`"] == str(CLIENT_FRAME_LIMITS.max_array_length)
    assert client["`max_map_length`"].startswith(str(CLIENT_FRAME_LIMITS.max_map_length))
    assert client["`max_ingest_events`"].startswith(str(Limits.default().max_ingest_events))
    assert _spaced(SERVER_FRAME_LIMITS.max_frame_bytes) in SPEC
    for name in Limits.model_fields:
        assert f"`{name}`" in SPEC
