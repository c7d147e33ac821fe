"""A virtual user's accounting, fed decoded server messages: offsets per topic (a gap is missed deltas,
an offset seen again a duplicate), resumes, and events matched to the ingests that caused them."""

from __future__ import annotations

import random
import time
from typing import Any

from load_tests.kit.vu import INGEST_XP, Meter, VirtualUser, VuSpec

TOPIC = "user:u1"
BOARD = "leaderboard:xp:weekly"


def user() -> tuple[VirtualUser, Meter, dict[str, list[float]]]:
    recorded: dict[str, list[float]] = {}
    meter = Meter(lambda name, ms: recorded.setdefault(name, []).append(ms))
    vu = VirtualUser(
        VuSpec("t-0", "u1", "token", (TOPIC, BOARD), 1.0), "127.0.0.1", 1, meter, random.Random(1)
    )
    for topic in (TOPIC, BOARD):
        vu._message(
            {"type": "subscribed", "id": 2, "topic": topic, "epoch": "e1", "offset": 10, "recovered": False}
        )
    return vu, meter, recorded


def delta(topic: str, offset: int, epoch: str = "e1") -> dict[str, Any]:
    return {"topic": topic, "epoch": epoch, "offset": offset, "ops": [], "at_ms": int(time.time() * 1000)}


def test_consecutive_offsets_are_deliveries() -> None:
    vu, meter, recorded = user()
    vu._message({"type": "delta", **delta(TOPIC, 11)})
    vu._message({"type": "batch", "deltas": [delta(TOPIC, 12), delta(BOARD, 11), delta(TOPIC, 13)]})
    assert (meter.deliveries, meter.missed, meter.duplicated, meter.errors) == (4, 0, 0, 0)
    assert len(recorded["delivery"]) == 4
    assert vu.mirrors[TOPIC].offset == 13


def test_a_gap_counts_the_missed_deltas_and_a_repeat_a_duplicate() -> None:
    vu, meter, _ = user()
    vu._message({"type": "delta", **delta(TOPIC, 14)})  # 11, 12, 13 never came
    vu._message({"type": "delta", **delta(TOPIC, 14)})
    vu._message({"type": "delta", **delta(TOPIC, 12)})
    assert (meter.deliveries, meter.missed, meter.duplicated) == (1, 3, 2)


def test_a_delta_of_another_epoch_or_an_unsubscribed_topic_is_an_error() -> None:
    vu, meter, _ = user()
    vu._message({"type": "delta", **delta(TOPIC, 11, epoch="e2")})
    vu._message({"type": "delta", **delta("team:other", 1)})
    assert meter.errors == 2
    assert meter.deliveries == 0
    assert "epoch 'e2'" in meter.problems[0]


def test_a_resume_checks_the_recovered_deltas_and_a_snapshot_replaces_the_mirror() -> None:
    vu, meter, _ = user()
    recovered = [{k: v for k, v in delta(TOPIC, offset).items() if k != "topic"} for offset in (11, 12)]
    vu._message(
        {
            "type": "subscribed",
            "id": 5,
            "topic": TOPIC,
            "epoch": "e1",
            "offset": 12,
            "recovered": True,
            "deltas": recovered,
        }
    )
    vu._message(
        {"type": "subscribed", "id": 6, "topic": BOARD, "epoch": "e9", "offset": 3, "recovered": False}
    )
    assert (meter.recovered, meter.resnapshotted, meter.deliveries, meter.missed) == (1, 1, 2, 0)
    assert (vu.mirrors[BOARD].epoch, vu.mirrors[BOARD].offset) == ("e9", 3)


def test_xp_events_answer_the_oldest_ingests_first() -> None:
    vu, meter, recorded = user()
    vu.connected = True  # no transport: nothing is written
    assert all(vu.ingest() for _ in range(3))
    for ident in (1, 2, 3):
        vu._message({"type": "ingested", "id": ident, "accepted": 1, "events": [{"status": "accepted"}]})
    assert (meter.ingested, len(recorded["ingest"]), vu.unanswered) == (3, 3, 3)
    award = {"rule_id": "metrics.tickets_closed", "amount": 2 * INGEST_XP}
    vu._message({"type": "event", "topic": TOPIC, "name": "xp_awarded", "data": award, "at_ms": 1})
    vu._message({"type": "event", "topic": TOPIC, "name": "level_up", "data": {}, "at_ms": 1})
    assert (meter.events_answered, vu.unanswered, len(recorded["screen"])) == (2, 1, 2)


def test_a_refused_ingest_is_an_error_and_is_not_waited_for() -> None:
    vu, meter, _ = user()
    vu.connected = True
    assert vu.ingest()
    refused = {"status": "rejected", "code": "too_old"}
    vu._message({"type": "ingested", "id": 1, "accepted": 0, "events": [refused]})
    assert (meter.errors, vu.unanswered) == (1, 0)
    assert "rejected too_old" in meter.problems[0]


def test_a_drop_gives_up_what_was_in_flight() -> None:
    """A dropped connection loses its `ingested` replies, and events are not replayed on resume: the
    events in flight are counted apart, never waited for."""
    vu, meter, _ = user()
    vu.connected = True
    assert all(vu.ingest() for _ in range(2))
    vu._message({"type": "ingested", "id": 1, "accepted": 1, "events": [{"status": "accepted"}]})
    vu.drop()
    assert (meter.in_flight_at_drop, vu.unanswered, meter.errors) == (2, 0, 0)
