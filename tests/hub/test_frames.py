"""Frames assembled from cached bodies are exactly the canonical encoding of the messages."""

from __future__ import annotations

import pytest

from protocol import Batch, Delta, Encoding, decode, encode_value
from server.hub.frames import LiveDelta, batch_frame
from server.hub.publish import InvalidChange, TopicChange, encode_change
from server.hub.streams import Delta as StreamDelta


def live(offset: int, ops: list, events=()) -> LiveDelta:
    payload = encode_change(TopicChange("team:core", ops, list(events)))
    return LiveDelta.from_stream(StreamDelta("team:core", "ep0ch", offset, payload, 1795167000000 + offset))


@pytest.mark.parametrize("encoding", list(Encoding))
def test_a_delta_frame_is_the_canonical_encoding_of_the_delta(encoding):
    delta = live(7, [["set", ["name"], "Core ✓"], ["merge", ["members", "u1"], {"xp": 3.5}]])
    frame = delta.frame(encoding)
    expected = encode_value({"type": "delta", **delta.wire()}, encoding)
    assert frame == expected
    message = decode(frame, encoding, sender="server")
    assert isinstance(message, Delta)
    assert (message.offset, message.epoch, message.at_ms) == (7, "ep0ch", 1795167000007)
    assert delta.frame(encoding) is frame  # encoded once, then reused


@pytest.mark.parametrize("encoding", list(Encoding))
def test_a_batch_frame_holds_the_deltas_in_order(encoding):
    deltas = [live(offset, [["set", ["n"], offset]]) for offset in range(1, 20)]
    frame = batch_frame(deltas, encoding)
    assert frame == encode_value({"type": "batch", "deltas": [d.wire() for d in deltas]}, encoding)
    message = decode(frame, encoding, sender="server")
    assert isinstance(message, Batch)
    assert [d.offset for d in message.deltas] == list(range(1, 20))


@pytest.mark.parametrize("encoding", list(Encoding))
def test_events_ride_on_their_delta(encoding):
    note = ("announcement", {"title": "Docs week", "text": "Double XP", "severity": "info"})
    delta = live(3, [], [note])
    [frame] = delta.event_frames(encoding)
    event = decode(frame, encoding, sender="server")
    assert (event.name, event.offset, event.topic, event.data["title"]) == (
        "announcement",
        3,
        "team:core",
        "Docs week",
    )


@pytest.mark.parametrize(
    "change",
    [
        TopicChange("team:Core", [["set", ["x"], 1]]),
        TopicChange("team:core", [["add", ["x"], 1]]),
        TopicChange("team:core", [["set", ["x"], 1], ["set", ["x"], 2]]),  # breaks outside-in
        TopicChange("team:core", events=[("announcement", {"title": "no text"})]),
    ],
    ids=["bad topic", "unknown op", "same location twice", "event data missing a field"],
)
def test_invalid_changes_are_refused_before_publishing(change):
    with pytest.raises((InvalidChange, ValueError)):
        encode_change(change)


def test_a_run_of_deltas_is_one_batch_frame_framed_once():
    from server.hub.frames import DeltaRun
    from server.hub.link import wire_frame

    deltas = [live(offset, [["set", ["n"], offset]]) for offset in (4, 5, 6)]
    run = DeltaRun(deltas)
    framed = run.ws_frame(Encoding.MSGPACK)
    assert framed == wire_frame(batch_frame(deltas, Encoding.MSGPACK))
    assert run.ws_frame(Encoding.MSGPACK) is framed
    # A WebSocket binary frame, unmasked, whose payload is the batch.
    assert framed[0] == 0x82
    assert framed.endswith(batch_frame(deltas, Encoding.MSGPACK))
