"""Message models: what each accepts, what it refuses, and the versioning rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from protocol import (
    AUTH_TIMEOUT_MS,
    CLIENT_FRAME_LIMITS,
    CLIENT_MESSAGES,
    EVENT_DATA,
    MAX_SUBSCRIPTIONS,
    MAX_TIME_MS,
    MESSAGE_TYPES,
    RATE_BURST,
    RATE_PER_SECOND,
    SERVER_MESSAGES,
    Announcement,
    Delta,
    Error,
    ErrorCode,
    Event,
    Ingest,
    LevelUp,
    Limits,
    Ping,
    ProtocolError,
    SetOp,
    Subscribe,
    Subscribed,
    activity_topic,
    challenge_topic,
    event_data,
    from_wire,
    leaderboard_topic,
    presence_topic,
    team_topic,
    to_wire,
    user_topic,
)
from protocol.topics import TOPIC_PATTERN, parse_topic


def ingest(**event: Any) -> dict[str, Any]:
    return {
        "type": "ingest",
        "events": [{"id": "e", "metric": "m", "value": 1, "occurred_at_ms": 0, **event}],
    }


def invalid(data: dict[str, Any], sender: Any = None) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        from_wire(data, sender=sender)
    return caught.value


def test_every_type_is_one_class_and_one_direction() -> None:
    assert len(MESSAGE_TYPES) == len(CLIENT_MESSAGES) + len(SERVER_MESSAGES) == 16
    assert {cls.sender for cls in CLIENT_MESSAGES} == {"client"}
    assert {cls.sender for cls in SERVER_MESSAGES} == {"server"}


def test_unknown_fields_are_ignored_and_optional_fields_left_out() -> None:
    message = from_wire({"type": "subscribe", "topic": "team:ab", "future": [1], "since": None})
    assert message == Subscribe(topic="team:ab")
    assert to_wire(message) == {"type": "subscribe", "topic": "team:ab"}


def test_messages_are_immutable() -> None:
    with pytest.raises(ValidationError):
        Ping(id=1).id = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "ping", "id": True}, "id"),
        ({"type": "ping", "id": 2**53}, "id"),
        ({"type": "ping", "id": "x" * 65}, "id"),
        ({"type": "ping", "id": ""}, "id"),
        ({"type": "subscribe", "topic": 5}, "topic"),
        ({"type": "subscribe", "topic": "user:" + "a" * 65}, "topic"),
        ({"type": "subscribe", "topic": "team:x"}, "topic"),  # a slug has at least two characters
        ({"type": "subscribe", "topic": "presence:team"}, "topic"),
        ({"type": "subscribe", "topic": "team:ab", "since": {"epoch": "e"}}, "since.offset"),
        ({"type": "subscribe", "topic": "team:ab", "since": [1]}, "since"),
        ({"type": "auth", "token": "x" * 4097}, "token"),
        ({"type": "auth", "token": 5}, "token"),
        (
            {"type": "ingest", "events": [{"id": "e", "metric": "m", "value": "1", "occurred_at_ms": 0}]},
            "events.0.value",
        ),
        (
            {"type": "ingest", "events": [{"id": "e", "metric": "m", "value": True, "occurred_at_ms": 0}]},
            "events.0.value",
        ),
        (ingest(value=2**53), "events.0.value"),
        # No calendar holds a time after the year 9999 (a datetime, PostgreSQL, ISO 8601).
        (ingest(occurred_at_ms=253_402_300_800_000), "events.0.occurred_at_ms"),
        (ingest(occurred_at_ms=2**53 - 1), "events.0.occurred_at_ms"),
        (ingest(occurred_at_ms=-1), "events.0.occurred_at_ms"),
        # NUL cannot be stored (PostgreSQL text and JSONB), wherever it hides.
        (ingest(id="a\x00b"), "events.0.id"),
        (ingest(metric="commits\x00"), "events.0.metric"),
        (ingest(metadata={"branch": "main\x00"}), "events.0.metadata"),
        (ingest(metadata={"bra\x00nch": "main"}), "events.0.metadata"),
        (ingest(metadata={"a": [{"b": ["\x00"]}]}), "events.0.metadata"),
        (
            {
                "type": "ingest",
                "events": [{"id": "e", "metric": "m", "value": 1, "occurred_at_ms": 0, "user": "A"}],
            },
            "events.0.user",
        ),
        (
            {
                "type": "ingest",
                "events": [
                    {
                        "id": "e",
                        "metric": "m",
                        "value": 1,
                        "occurred_at_ms": 0,
                        "metadata": {str(i): i for i in range(33)},
                    }
                ],
            },
            "events.0.metadata",
        ),
    ],
)
def test_client_fields(data: dict[str, Any], field: str) -> None:
    error = invalid(data, "client")
    assert (error.code, error.field) == ("invalid_message", field)


def test_numbers_handed_over_directly_are_checked_too() -> None:
    for value in (float("nan"), float("inf")):
        assert invalid(ingest(value=value)).field == "events.0.value"


def test_subscribed_consistency() -> None:
    base: dict[str, Any] = {"type": "subscribed", "topic": "team:ab", "epoch": "e", "offset": 2}
    one = {"topic": "team:ab", "epoch": "e", "offset": 1, "ops": [], "at_ms": 0}
    two = {**one, "offset": 2}
    assert from_wire({**base, "recovered": True, "deltas": [one, two]}).type == "subscribed"
    cases = [
        ({**base, "recovered": True, "deltas": [one, two], "snapshot": {}}, "snapshot"),
        ({**base, "recovered": False, "deltas": [], "snapshot": {}}, "deltas"),
        ({**base, "recovered": True, "deltas": [{**one, "topic": "team:zz"}, two]}, "deltas.0.topic"),
        ({**base, "recovered": True, "deltas": [one, {**two, "epoch": "f"}]}, "deltas.1.epoch"),
        ({**base, "recovered": True, "deltas": [one]}, "offset"),
        ({**base, "recovered": "yes", "snapshot": {}}, "recovered"),
    ]
    for data, field in cases:
        assert invalid(data).field == field


def test_event_data_of_known_names_is_checked() -> None:
    data = {
        "level": 3,
        "previous_level": 2,
        "xp": 300,
        "rule_id": "levels",
        "rule_version": 1,
        "explanation": "…",
    }
    event = Event(topic="user:u1", name="level_up", data=data, at_ms=1)
    parsed = event_data(event)
    assert isinstance(parsed, LevelUp)
    assert parsed.level == 3
    assert parsed.summary is None  # optional: servers before summaries send none
    summarised = event_data(
        Event(topic="user:u1", name="level_up", data={**data, "summary": "Reached level 3"}, at_ms=1)
    )
    assert isinstance(summarised, LevelUp)
    assert summarised.summary == "Reached level 3"
    error = invalid(
        {"type": "event", "topic": "user:u1", "name": "level_up", "data": {**data, "summary": 3}, "at_ms": 1}
    )
    assert error.field == "data.summary"
    assert event_data(Event(topic="user:u1", name="confetti", data={}, at_ms=1)) is None
    error = invalid(
        {"type": "event", "topic": "user:u1", "name": "level_up", "data": {**data, "level": 0}, "at_ms": 1}
    )
    assert error.field == "data.level"
    error = invalid(
        {
            "type": "event",
            "topic": "team:ab",
            "name": "announcement",
            "data": {"title": "t", "text": "x"},
            "at_ms": 1,
        }
    )
    assert error.field == "data.severity"
    assert set(EVENT_DATA) == {
        "xp_awarded",
        "level_up",
        "badge_earned",
        "mission_completed",
        "streak_extended",
        "streak_broken",
        "rank_changed",
        "announcement",
    }
    assert Announcement(title="t", text="x", severity="info").url is None


def test_error_codes_stay_open() -> None:
    known = Error(code="rate_limited", message="slow down", retry_after_ms=100)
    assert known.error_code is ErrorCode.RATE_LIMITED
    future = from_wire({"type": "error", "code": "quota_exceeded", "message": "…"})
    assert isinstance(future, Error)
    assert future.error_code is None
    assert invalid({"type": "error", "code": "Bad Code", "message": ""}).field == "code"


def test_limits_default_is_the_spec() -> None:
    limits = Limits.default()
    assert limits.max_frame_bytes == CLIENT_FRAME_LIMITS.max_frame_bytes == 65536
    assert (limits.max_subscriptions, limits.rate_per_second, limits.rate_burst) == (
        MAX_SUBSCRIPTIONS,
        RATE_PER_SECOND,
        RATE_BURST,
    )
    assert limits.auth_timeout_ms == AUTH_TIMEOUT_MS == 10_000
    assert limits.max_depth == 32


def test_delta_ops_accept_objects_and_wire_form() -> None:
    wire = Delta.model_validate(
        {"topic": "team:ab", "epoch": "e", "offset": 1, "at_ms": 0, "ops": [["set", ["a"], 1]]}
    )
    built = Delta(topic="team:ab", epoch="e", offset=1, at_ms=0, ops=(SetOp(("a",), 1),))
    assert wire == built
    with pytest.raises(ValidationError):
        Delta(topic="team:ab", epoch="e", offset=1, at_ms=0, ops="set")  # type: ignore[arg-type]


def test_sender_filter() -> None:
    assert invalid({"type": "welcome"}, "client").code == "unknown_type"
    assert invalid({"type": "auth", "token": "t"}, "server").code == "unknown_type"
    assert invalid({"type": "x" * 500}).message.endswith("…'")


def test_subscribed_snapshot_is_required_to_be_a_map() -> None:
    with pytest.raises(ValidationError):
        Subscribed(topic="team:ab", epoch="e", offset=0, recovered=False, snapshot=[])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- topics


@pytest.mark.parametrize(
    ("topic", "kind", "parts"),
    [
        ("user:5b0c2a3e-8f1d-4c6b-9a7e-2d4f6b8c0a1e", "user", ("5b0c2a3e-8f1d-4c6b-9a7e-2d4f6b8c0a1e",)),
        ("leaderboard:xp:weekly", "leaderboard", ("xp", "weekly")),
        ("leaderboard:reviews_done:all_time", "leaderboard", ("reviews_done", "all_time")),
        ("team:platform", "team", ("platform",)),
        ("presence:global", "presence", ("global",)),
        ("presence:team:platform", "presence", ("team", "platform")),
        ("activity:global", "activity", ("global",)),
        ("challenge:c-42", "challenge", ("c-42",)),
    ],
)
def test_topics(topic: str, kind: str, parts: tuple[str, ...]) -> None:
    parsed = parse_topic(topic)
    assert (parsed.kind, parsed.parts, str(parsed)) == (kind, parts, topic)


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "user:",
        "User:ana",
        "user:Ana",
        "user:ana:x",
        "leaderboard:xp",
        "leaderboard:xp:yearly",
        "leaderboard:XP:weekly",
        "team:a",
        "team:-ab",
        "team:a_b",
        "presence:local",
        "presence:team:",
        "activity:",
        "activity:team:platform",
        "challenge:",
        "weather:paris",
        "team:platform\n",
        " team:platform",
        "team:" + "a" * 65,
    ],
)
def test_not_topics(topic: str) -> None:
    with pytest.raises(ValueError, match="not a topic"):
        parse_topic(topic)
    assert TOPIC_PATTERN.fullmatch(topic) is None or len(topic) > 128


def test_topic_builders() -> None:
    assert user_topic("u1") == "user:u1"
    assert leaderboard_topic("xp", "daily") == "leaderboard:xp:daily"
    assert team_topic("platform") == "team:platform"
    assert presence_topic() == "presence:global"
    assert presence_topic("platform") == "presence:team:platform"
    assert challenge_topic("c1") == "challenge:c1"
    assert activity_topic() == "activity:global"
    with pytest.raises(ValueError, match="not a topic"):
        leaderboard_topic("xp", "yearly")


def test_ingest_times_reach_the_last_millisecond_of_the_year_9999() -> None:
    message = from_wire(ingest(occurred_at_ms=MAX_TIME_MS), sender="client")
    assert isinstance(message, Ingest)
    assert message.events[0].occurred_at_ms == MAX_TIME_MS == 253_402_300_799_999
