"""The shared test vectors: every implementation of the protocol must pass them, this one included."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import MESSAGE_TYPES, Encoding, ProtocolError, decode, encode, from_wire
from protocol.vectors import _generate, frame, load

VALID = load("valid")
INVALID = load("invalid")
ENCODINGS = {"msgpack": Encoding.MSGPACK, "json": Encoding.JSON}


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def test_the_files_are_generated_from_the_definitions() -> None:
    built = _generate.build()
    for name, text in built.items():
        assert (_generate.VECTORS_DIR / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python -m protocol.vectors._generate"
        )
    assert _generate.main(["--check"]) == 0


def test_there_are_enough_vectors_and_every_type_has_one() -> None:
    assert len(VALID["cases"]) >= 25
    assert len(INVALID["cases"]) >= 25
    names = _ids(VALID["cases"]) + _ids(VALID["tolerated"]) + _ids(INVALID["cases"])
    assert len(names) == len(set(names)), "vector names are unique"
    types = {case["message"]["type"] for case in VALID["cases"]}
    assert types == set(MESSAGE_TYPES)
    codes = {case["code"] for case in INVALID["cases"]}
    assert codes >= {
        "bad_frame",
        "wrong_frame_type",
        "too_large",
        "too_deep",
        "unknown_type",
        "invalid_message",
    }


@pytest.mark.parametrize("case", VALID["cases"], ids=_ids(VALID["cases"]))
def test_valid_vector(case: dict[str, Any]) -> None:
    message = from_wire(case["message"], sender=case["from"])
    raw = bytes.fromhex(case["msgpack"])
    assert decode(raw, Encoding.MSGPACK, sender=case["from"]) == message
    assert decode(case["json"], Encoding.JSON, sender=case["from"]) == message
    assert encode(message, Encoding.MSGPACK) == raw
    assert encode(message, Encoding.JSON) == case["json"]


@pytest.mark.parametrize("case", VALID["tolerated"], ids=_ids(VALID["tolerated"]))
def test_tolerated_vector(case: dict[str, Any]) -> None:
    message = decode(frame(case["input"]), ENCODINGS[case["encoding"]], sender=case["from"])
    assert message == from_wire(case["message"], sender=case["from"])


@pytest.mark.parametrize("case", INVALID["cases"], ids=_ids(INVALID["cases"]))
def test_invalid_vector(case: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(frame(case["input"]), ENCODINGS[case["encoding"]], sender=case["from"])
    assert caught.value.code == case["code"], caught.value
    if "field" in case:
        assert caught.value.field == case["field"], caught.value


def test_frame_segments() -> None:
    assert frame([{"hex": "81"}, {"hex": "a0", "repeat": 2}]) == b"\x81\xa0\xa0"
    assert frame([{"text": "ab", "repeat": 2}, {"text": "c"}]) == "ababc"
    with pytest.raises(ValueError, match="all hex or all text"):
        frame([{"hex": "81"}, {"text": "a"}])
