"""Event and user files, the shipped samples, simulate / replay / backtest, and state serialisation."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from game import (
    Engine,
    EventFileError,
    EventRecord,
    MetricEvent,
    UnknownTimezone,
    UserState,
    XpAwarded,
    backtest,
    default_rules,
    parse_rules_yaml,
    read_events,
    read_users,
    replay,
    sample_events,
    sample_users,
    simulate,
)
from game.event_files import parse_events
from game.rules import default_rules_text

GOOD = [
    '{"id": "e1", "user": "ana", "metric": "reviews_done", "value": 3, '
    '"occurred_at": "2026-11-02T10:00:00Z"}',
    '{"id": "e2", "user": "bo", "metric": "docs_written", "value": 1.5, '
    '"occurred_at": "2026-11-02T10:00:00+01:00", "source": "self"}',
]


def test_parse_events_good_lines_comments_and_blanks():
    text = "# a comment\n\n" + GOOD[0] + "\n   \n  # indented comment\n" + GOOD[1] + "\n"
    events = parse_events(text)
    assert events == [
        MetricEvent("e1", "ana", "reviews_done", 3.0, datetime(2026, 11, 2, 10, tzinfo=UTC), "integration"),
        MetricEvent("e2", "bo", "docs_written", 1.5, datetime(2026, 11, 2, 9, tzinfo=UTC), "self"),
    ]
    assert events[1].occurred_at.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("bad", "field", "why"),
    [
        (
            '{"id": "e3", "user": "ana", "metric": "m", "value": "lots", '
            '"occurred_at": "2026-11-02T10:00:00Z"}',
            "value",
            "valid number",
        ),
        (
            '{"id": "e3", "user": "ana", "metric": "m", "value": 1, "occurred_at": "2026-11-02T10:00:00"}',
            "occurred_at",
            "timezone",
        ),
        ('{"id": "e3", "user": "ana", "metric": "m", "value": 1}', "occurred_at", "Field required"),
        (
            '{"id": "", "user": "ana", "metric": "m", "value": 1, "occurred_at": "2026-11-02T10:00:00Z"}',
            "id",
            "at least 1 character",
        ),
        (
            '{"id": "e3", "user": "ana", "metric": "m", "value": 1, "occurred_at": "2026-11-02T10:00:00Z", '
            '"source": "robot"}',
            "source",
            "'integration' or 'self'",
        ),
        (
            '{"id": "e3", "user": "ana", "metric": "m", "value": 1, "occurred_at": "2026-11-02T10:00:00Z", '
            '"colour": "red"}',
            "colour",
            "Extra inputs are not permitted",
        ),
        (
            '{"id": "e3", "user": "ana", "metric": "m", "value": NaN, "occurred_at": "2026-11-02T10:00:00Z"}',
            "value",
            "finite number",
        ),
        ("not json at all", "line", "Invalid JSON"),
    ],
)
def test_parse_events_bad_line_names_line_and_field(bad, field, why):
    text = GOOD[0] + "\n# comment\n" + bad + "\n" + GOOD[1] + "\n"
    with pytest.raises(EventFileError) as caught:
        parse_events(text, source="today.jsonl")
    message = str(caught.value)
    assert message.startswith(f"today.jsonl line 3: {field}: ")
    assert why in message


def test_read_events(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(["# header", *GOOD]) + "\n", encoding="utf-8")
    events = read_events(path)
    assert [e.id for e in events] == ["e1", "e2"]

    path.write_text(GOOD[0] + "\n" + GOOD[1].replace('"value": 1.5', '"value": "x"') + "\n", encoding="utf-8")
    with pytest.raises(EventFileError, match=r"events\.jsonl line 2: value: "):
        read_events(str(path))


def test_read_events_missing_file(tmp_path):
    with pytest.raises(EventFileError, match="cannot read"):
        read_events(tmp_path / "missing.jsonl")


def test_event_record_round_trip():
    record = EventRecord.model_validate_json(GOOD[1])
    event = record.to_event()
    assert (event.id, event.user_id, event.metric, event.value, event.source) == (
        "e2",
        "bo",
        "docs_written",
        1.5,
        "self",
    )


def test_read_users(tmp_path):
    path = tmp_path / "users.json"
    path.write_text('{"ana": "Europe/Paris", "bo": "UTC"}', encoding="utf-8")
    assert read_users(path) == {"ana": "Europe/Paris", "bo": "UTC"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"ana": "Mars/Olympus_Mons"}', "user 'ana': unknown timezone 'Mars/Olympus_Mons'"),
        ('{"ana": ""}', "user 'ana': unknown timezone ''"),
        ('{\n  "ana": "UTC",\n  "bo": \n}', "line 4: malformed JSON"),
        ('["ana", "UTC"]', "expected an object of user id -> timezone"),
        ('{"ana": 3}', "expected an object of user id -> timezone"),
    ],
)
def test_read_users_errors(tmp_path, content, expected):
    path = tmp_path / "users.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EventFileError) as caught:
        read_users(path)
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_read_users_missing_file(tmp_path):
    with pytest.raises(EventFileError, match="cannot read"):
        read_users(tmp_path / "missing.json")


def test_samples_load():
    events, users = sample_events(), sample_users()
    assert len(events) == 912
    assert {e.user_id for e in events} == set(users)
    assert users["chen"] == "Asia/Kolkata"
    assert all(e.occurred_at.utcoffset() is not None for e in events)
    assert len(users) == 8


@pytest.fixture(scope="module")
def sample_runs():
    engine = Engine(default_rules())
    return engine, simulate(engine, sample_events(), sample_users())


def test_simulate_on_the_samples(sample_runs):
    engine, runs = sample_runs
    users = sample_users()
    events = sample_events()
    assert sorted(runs) == sorted(users)
    for user_id, run in runs.items():
        state = run.state
        assert state.user_id == user_id
        assert state.timezone == users[user_id]
        # Every XP point is accounted for by an effect, and the level follows from the XP.
        assert state.xp == sum(e.amount for e in run.effects if isinstance(e, XpAwarded))
        assert state.reward_xp == sum(
            e.amount for e in run.effects if isinstance(e, XpAwarded) and e.source != "metric"
        )
        assert state.level == engine.level_for(state.xp)
        mine = [e for e in events if e.user_id == user_id]
        assert len(state.seen) + len(run.rejected) + len(run.duplicates) == len(mine)
        for effect in run.effects:
            assert effect.explanation.rule_version == 1
            assert effect.explanation.text
            assert set(effect.explanation.event_ids) <= state.seen


def test_simulate_without_timezones_uses_utc(make_engine, ev):
    engine = make_engine()
    runs = simulate(
        engine,
        [
            ev("a", "reviews_done", 1, "2026-11-02 10:00"),
            ev("b", "reviews_done", 2, "2026-11-02 10:00", user="bo"),
        ],
    )
    assert {u: (r.state.timezone, r.state.xp) for u, r in runs.items()} == {
        "ana": ("UTC", 10),
        "bo": ("UTC", 20),
    }


def test_replay_matches_simulate_and_ignores_order_and_batching(sample_runs):
    engine, runs = sample_runs
    users = sample_users()
    history = [e for e in sample_events() if e.user_id == "chen"]
    expected = runs["chen"].state.to_dict()
    assert replay(engine, "chen", users["chen"], history).to_dict() == expected

    shuffled = list(history)
    random.Random(7).shuffle(shuffled)
    state = engine.new_state("chen", users["chen"])
    for start in range(0, len(shuffled), 37):
        state = engine.apply(state, shuffled[start : start + 37]).state
    assert state.to_dict() == expected


def test_backtest_small_exact(make_rules, rules_yaml, ev):
    reviews = {"name": "Code reviews", "unit": "review", "whole": True, "xp_per_unit": 10}
    tiered = {
        "reviewer": {
            "name": "Reviewer",
            "criteria": {"kind": "metric_total", "metric": "reviews_done"},
            "tiers": {"bronze": 1, "silver": 3},
        }
    }
    current = make_rules(badges=tiered)
    doubled = make_rules(version=8, metrics={"reviews_done": {**reviews, "xp_per_unit": 20}}, badges=tiered)
    events = [
        ev("a1", "reviews_done", 3, "2026-11-02 10:00"),
        ev("a2", "reviews_done", 2, "2026-11-03 10:00"),
        ev("b1", "reviews_done", 1, "2026-11-02 10:00", user="bo"),
    ]
    report = backtest(current, doubled, events)
    assert report.current == ("test-rules", 7)
    assert report.draft == ("test-rules", 8)
    by_user = {u.user_id: u for u in report.users}
    assert (by_user["ana"].xp_current, by_user["ana"].xp_draft, by_user["ana"].xp_delta) == (50, 100, 50)
    assert (by_user["ana"].level_current, by_user["ana"].level_draft) == (1, 2)  # 100 XP is level 2
    assert (by_user["bo"].xp_current, by_user["bo"].xp_draft) == (10, 20)
    assert report.xp_current == 60
    assert report.xp_delta == 60
    assert (report.levels_up, report.levels_down) == (1, 0)
    assert report.badges_lost == Counter()
    assert all(u.changed for u in report.users)

    removed = make_rules(version=9, badges={})
    report = backtest(current, removed, events, {"ana": "Europe/Paris"})
    by_user = {u.user_id: u for u in report.users}
    assert by_user["ana"].badges_lost == ("reviewer (bronze)", "reviewer (silver)")
    assert by_user["bo"].badges_lost == ("reviewer (bronze)",)
    assert report.badges_lost == Counter({"reviewer (bronze)": 2, "reviewer (silver)": 1})
    assert report.xp_delta == 0
    assert by_user["ana"].changed
    assert not backtest(current, current, events).users[0].changed

    back = backtest(removed, current, events)
    assert back.badges_gained == Counter({"reviewer (bronze)": 2, "reviewer (silver)": 1})
    assert backtest(doubled, current, events).levels_down == 1


def test_backtest_doubling_a_rate_on_the_samples():
    text = default_rules_text()
    # reviews_done is the only metric at 10 XP a unit; with its daily cap doubled too, doubling pays.
    draft_text = text.replace("version: 1", "version: 2", 1).replace(
        "    xp_per_unit: 10\n    cap_per_day: 80\n", "    xp_per_unit: 20\n    cap_per_day: 160\n"
    )
    assert draft_text.count("xp_per_unit: 20\n") == 1
    draft = parse_rules_yaml(draft_text)
    report = backtest(default_rules(), draft, sample_events(), sample_users())
    assert report.draft == ("software-teams", 2)
    assert report.xp_delta > 0
    assert all(u.xp_delta >= 0 for u in report.users)
    assert report.levels_down == 0


def test_backtest_removing_a_badge_on_the_samples():
    text = default_rules_text()
    start = text.index("  first-commit:\n")
    end = text.index("  committer:\n")
    draft = parse_rules_yaml(text[:start] + text[end:])
    assert "first-commit" not in draft.badges
    runs = simulate(Engine(default_rules()), sample_events(), sample_users())
    holders = sorted(u for u, run in runs.items() if "first-commit" in run.state.badges)
    assert holders  # the samples have committers

    report = backtest(default_rules(), draft, sample_events(), sample_users())
    assert report.badges_lost == Counter({"first-commit": len(holders)})
    assert sorted(u.user_id for u in report.users if "first-commit" in u.badges_lost) == holders
    assert report.badges_gained == Counter()
    assert report.xp_delta == 0  # first-commit grants no XP


def test_user_state_round_trip(sample_runs):
    _, runs = sample_runs
    for run in runs.values():
        data = json.loads(json.dumps(run.state.to_dict()))
        again = UserState.from_dict(data)
        assert again == run.state
        assert again.to_dict() == run.state.to_dict()


def test_user_state_round_trip_of_every_part(make_engine, ev):
    engine = make_engine(
        metrics={
            "reviews_done": {"name": "Code reviews", "unit": "review", "xp_per_unit": 10},
        },
        streaks={"s": {"name": "S"}},
        badges={"m": {"name": "M", "criteria": {"kind": "event_count", "count": 1}, "repeat": "daily"}},
        missions={
            "w": {
                "name": "W",
                "metric": "reviews_done",
                "goal": 1,
                "period": "window",
                "starts": "2026-11-01T00:00:00Z",
                "ends": "2026-12-01T00:00:00Z",
            }
        },
    )
    state = engine.apply(
        engine.new_state("ana", "Asia/Kolkata"), [ev("a", "reviews_done", 1.25, "2026-11-02 10:00")]
    ).state
    assert state.windows
    assert state.streaks
    assert state.repeat_badges
    assert state.missions_done
    assert UserState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "", "not a zone", "../../etc/passwd"])
def test_new_state_with_an_unknown_timezone(make_engine, tz):
    with pytest.raises(UnknownTimezone, match="unknown timezone"):
        make_engine().new_state("ana", tz)


def test_new_state(make_engine):
    state = make_engine().new_state("ana", "Europe/Paris")
    assert state == UserState("ana", "Europe/Paris")
    assert (state.xp, state.level, state.badges) == (0, 1, {})
