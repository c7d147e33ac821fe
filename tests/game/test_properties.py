"""Property-based tests of the game engine's central claims.

1. Idempotence: an event id is counted once, however often it is applied.
2. Order and batch-split independence: the final state depends only on the *set* of events.
3. Replay equals incremental application, even when events arrive late (out of time order).
4. ``UserState`` survives ``to_dict`` / JSON / ``from_dict``.
5. XP never decreases and the level always matches the XP.

Each property runs against the shipped default rules and against a small, tight rule set written
here (tight daily caps, tiered streak badge with one freeze, composite badges whose XP rewards cause
level-ups that earn a level badge, repeatable badges, custom-window missions, an exponential level
curve), with invalid events mixed in. The Hypothesis profile comes from ``tests/conftest.py``.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from game import (
    BadgeEarned,
    Engine,
    LevelUp,
    MetricEvent,
    MissionCompleted,
    Outcome,
    StreakProgress,
    UserState,
    XpAwarded,
    default_rules,
    parse_rules_yaml,
    replay,
)
from game.rules import MetricRule

USER = "ana"
DAY = 86_400
MAX_VALID = 40
MAX_INVALID = 6

SMALL_RULES_YAML = """
ruleset: tiny
version: 3
week_starts: sunday
levels: {curve: exponential, base: 20, growth: 1.5, round_to: 5, max_level: 30}
metrics:
  steps:
    name: Steps
    unit: step
    whole: true
    xp_per_unit: 3
    cap_per_event: 12
    cap_per_day: 15
    max_value: 20
    reporters: [integration, self]
  reading:
    name: Reading
    unit: hour
    xp_tiers:
      - {up_to: 1, xp_per_unit: 10}
      - {up_to: 2.5, xp_per_unit: 4}
      - {xp_per_unit: 1}
    cap_per_day: 18
    max_value: 6
    reporters: [self]
  deploys:
    name: Deploys
    unit: deploy
    whole: true
    xp_per_unit: 7
    cap_per_day: 14
    max_value: 5
    reporters: [integration]
  pages:
    name: Pages
    unit: page
    xp_per_unit: 0.29
    reporters: [integration, self]
streaks:
  daily:
    name: Daily streak
    min_events: 2
    freezes: 1
  deploying:
    name: Deploy streak
    metrics: [deploys]
boosts:
  spring:
    name: Spring forward
    multiplier: 2.5
    metrics: [steps, deploys]
    starts: 2026-03-28T00:00:00+01:00
    ends: 2026-03-30T00:00:00+02:00
  reading-fortnight:
    name: Reading fortnight
    multiplier: 1.5
    metrics: [reading]
    starts: 2026-10-20T00:00:00Z
    ends: 2026-11-05T00:00:00Z
  surge:
    name: Surge
    multiplier: 3
    starts: 2026-10-24T12:00:00Z
    ends: 2026-10-26T00:00:00Z
badges:
  streaker:
    name: Streaker
    criteria: {kind: streak, streak: daily}
    tiers: {bronze: 2, silver: 4, gold: 7}
    xp: 25
  deployer:
    name: Deployer
    criteria: {kind: streak, streak: deploying, days: 3}
  stepper:
    name: Stepper
    criteria: {kind: metric_total, metric: steps}
    tiers: {a: 10, b: 40, c: 100}
    xp: 15
  all-rounder:
    name: All-rounder
    criteria:
      kind: all
      of:
        - {kind: badge, badge: stepper, tier: b}
        - {kind: badge, badge: streaker, tier: bronze}
        - {kind: metric_total, metric: reading, threshold: 3}
    xp: 60
  either:
    name: Either
    criteria:
      kind: any
      of:
        - {kind: level, level: 5}
        - {kind: event_count, count: 25}
    xp: 10
  climber:
    name: Climber
    criteria: {kind: level}
    tiers: {three: 3, five: 5, seven: 7}
    xp: 30
  busy-week:
    name: Busy week
    criteria: {kind: event_count}
    tiers: {busy: 5, swamped: 10}
    repeat: weekly
    xp: 12
  busy-day:
    name: Busy day
    criteria: {kind: metric_total, metric: steps, threshold: 15}
    repeat: daily
    xp: 5
  reading-month:
    name: Bookworm of the month
    criteria: {kind: metric_total, metric: reading, threshold: 5}
    repeat: monthly
    xp: 8
  regular:
    name: Regular
    criteria: {kind: badge, badge: busy-day}
    xp: 10
  reader-reward:
    name: Reader
    criteria: {kind: granted}
    xp: 20
missions:
  reading-window:
    name: Read four hours around the spring change
    metric: reading
    goal: 4
    period: window
    starts: 2026-03-27T00:00:00+01:00
    ends: 2026-04-03T12:00:00Z
    reward_xp: 30
    reward_badge: reader-reward
  deploy-blitz:
    name: Two deploys in the autumn surge
    metric: deploys
    measure: events
    goal: 2
    period: window
    starts: 2026-10-24T22:00:00Z
    ends: 2026-10-26T02:00:00Z
    reward_xp: 20
  weekly-deploys:
    name: Three deploys a week
    metric: deploys
    measure: events
    goal: 3
    period: weekly
    reward_xp: 25
  daily-steps:
    name: Twelve steps a day
    metric: steps
    goal: 12
    period: daily
    reward_xp: 6
  monthly-reading:
    name: Eight hours of reading a month
    metric: reading
    goal: 8
    period: monthly
    reward_xp: 40
"""

DEFAULT_ENGINE = Engine(default_rules())
SMALL_ENGINE = Engine(parse_rules_yaml(SMALL_RULES_YAML, source="small rules"))
ENGINES = pytest.mark.parametrize("engine", [DEFAULT_ENGINE, SMALL_ENGINE], ids=["default", "small"])

USER_TIMEZONES = (
    "UTC",
    "Europe/Paris",  # DST 2026-03-29 and 2026-10-25
    "America/Los_Angeles",  # DST 2026-03-08 and 2026-11-01
    "Asia/Kolkata",  # +05:30
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
    "Australia/Lord_Howe",  # half-hour DST, 2026-04-05 and 2026-10-04
)
# Window starts: DST changes, month and year boundaries, the default docs-week boost and window
# mission (2026-11-16..23), and the small rules' boosts and window missions.
ANCHORS = tuple(
    datetime.fromisoformat(text)
    for text in (
        "2026-02-24T00:00:00+00:00",
        "2026-03-24T00:00:00+00:00",
        "2026-09-28T00:00:00+00:00",
        "2026-10-19T00:00:00+00:00",
        "2026-11-12T00:00:00+00:00",
        "2026-12-20T00:00:00+00:00",
    )
)
# How an occurred_at is written does not matter, only the instant (plus the user's own zone).
SHOWN_ZONES = (UTC, timezone(timedelta(hours=-3, minutes=-30)), timezone(timedelta(hours=9)))


@dataclass(frozen=True)
class Scenario:
    """One user's events over a few days: valid ones, and invalid ones with the expected rejection."""

    timezone: str
    valid: tuple[MetricEvent, ...]
    invalid: tuple[tuple[MetricEvent, str], ...]

    @property
    def events(self) -> list[MetricEvent]:
        return [*self.valid, *(event for event, _ in self.invalid)]

    @property
    def expected_codes(self) -> dict[str, str]:
        return {event.id: code for event, code in self.invalid}


# -- generators ------------------------------------------------------------------------------------


# When an event occurred: (day into the window, second of the day, how the time is written). The day
# is folded into the scenario's window; "user" writes the time in the user's zone, None leaves it
# naive (which the engine must reject).
Moment = tuple[int, int, Any]
MOMENTS: st.SearchStrategy[Moment] = st.tuples(
    st.integers(0, 20), st.integers(0, DAY - 1), st.sampled_from((*SHOWN_ZONES, "user"))
)
NAIVE_MOMENTS: st.SearchStrategy[Moment] = st.tuples(st.integers(0, 20), st.integers(0, DAY - 1), st.none())


def valid_value(rule: MetricRule, code: int) -> float:
    """A value the metric accepts (positive, whole where required, at most max_value) from a code.

    Three codes in four give a small value (1 to 5), the rest any value up to the maximum; code 0
    gives 1, so failing examples shrink towards one unit.
    """
    whole_top = int(rule.max_value) if rule.max_value is not None else 1_000
    if code % 4 != 3:
        return 1 + code // 4 % min(whole_top, 5)
    if rule.whole:
        return 1 + code // 4 % whole_top
    top_milli = round(rule.max_value * 1000) if rule.max_value is not None else 50_000
    return (1 + code // 4 % top_milli) / 1000


# A valid event as plain numbers, decoded by `scenarios` (flat, so generation stays fast):
# (metric index, value code, source index, day and second into the window, index into SHOWN).
SHOWN = (*SHOWN_ZONES, "user")
VALID_EVENTS = st.tuples(
    st.integers(0, 31),
    st.integers(0, 2**22 - 1),
    st.integers(0, 1),
    st.integers(0, 20),
    st.integers(0, DAY - 1),
    st.integers(0, len(SHOWN) - 1),
)


ONE: st.SearchStrategy[float] = st.just(1)


@functools.cache
def invalid_events(engine: Engine) -> st.SearchStrategy[tuple[Any, ...]]:
    """(user, metric, value, source, moment, expected rejection code) of invalid events."""

    def kind(
        code: str,
        metric: st.SearchStrategy[str],
        value: st.SearchStrategy[float] = ONE,
        source: str | st.SearchStrategy[str] = "integration",
        user: str = USER,
        moments: st.SearchStrategy[Moment] = MOMENTS,
    ) -> st.SearchStrategy[tuple[Any, ...]]:
        sources = st.just(source) if isinstance(source, str) else source
        return st.tuples(st.just(user), metric, value, sources, moments, st.just(code))

    kinds = [kind("unknown_metric", st.sampled_from(["no-such-metric", "Commits", "steps2"]))]
    for metric_id, rule in sorted(engine.rules.metrics.items()):
        metric = st.just(metric_id)
        source = sorted(rule.reporters)[0]
        forbidden = sorted({"integration", "self"} - set(rule.reporters))
        if forbidden:  # e.g. a self-report of an integration-only metric
            kinds.append(kind("source_not_allowed", metric, source=st.sampled_from(forbidden)))
        bad = [0, -1, -0.5, math.nan, math.inf, -math.inf] + ([0.5, 1.25, 2.999] if rule.whole else [])
        kinds.append(kind("invalid_value", metric, st.sampled_from(bad), source))
        if rule.max_value is not None:
            too_big = st.sampled_from([rule.max_value + 1, rule.max_value * 10])
            kinds.append(kind("above_max_value", metric, too_big, source))
        kinds.append(kind("naive_timestamp", metric, source=source, moments=NAIVE_MOMENTS))
        kinds.append(kind("wrong_user", metric, source=source, user="bob"))
    return st.one_of(kinds)


@st.composite
def scenarios(
    draw: st.DrawFn,
    engine: Engine,
    min_valid: int = 0,
    max_valid: int = MAX_VALID,
    max_invalid: int = MAX_INVALID,
) -> Scenario:
    user_tz = draw(st.sampled_from(USER_TIMEZONES))
    anchor = draw(st.sampled_from(ANCHORS))
    span_days = draw(st.integers(0, 20))

    def at(moment: Moment) -> datetime:
        day, second, shown_in = moment
        instant = anchor + timedelta(days=day % (span_days + 1), seconds=second)
        if shown_in is None:
            return instant.replace(tzinfo=None)
        return instant.astimezone(ZoneInfo(user_tz) if shown_in == "user" else shown_in)

    # Mostly busy histories (so caps, streaks, tiers and missions are reached), sometimes short ones.
    size = draw(st.integers(min_valid, max_valid))
    valid_parts = draw(st.lists(VALID_EVENTS, min_size=size, max_size=max_valid))
    invalid_parts = draw(st.lists(invalid_events(engine), max_size=max_invalid))
    metrics = sorted(engine.rules.metrics.items())
    valid: list[MetricEvent] = []
    for metric_index, value_code, source_index, day, second, shown_index in valid_parts:
        metric, rule = metrics[metric_index % len(metrics)]
        reporters = sorted(rule.reporters)
        value = valid_value(rule, value_code)
        when = at((day, second, SHOWN[shown_index]))
        source = reporters[source_index % len(reporters)]
        valid.append(MetricEvent(f"{USER}-{len(valid):03d}", USER, metric, value, when, source))
    # Ids follow generation order, which is unrelated to time.
    offset = len(valid)
    invalid = tuple(
        (MetricEvent(f"{USER}-{offset + i:03d}", user, metric, value, at(moment), source), code)
        for i, (user, metric, value, source, moment, code) in enumerate(invalid_parts)
    )
    return Scenario(user_tz, tuple(valid), invalid)


def split(data: st.DataObject, events: list[MetricEvent], max_cuts: int = 6) -> list[list[MetricEvent]]:
    """Cut a sequence into consecutive batches (empty batches included)."""
    cuts = data.draw(st.lists(st.integers(0, len(events)), max_size=max_cuts), label="batch cuts")
    bounds = [0, *sorted(cuts), len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


# -- helpers ---------------------------------------------------------------------------------------


def instant(event: MetricEvent) -> datetime:
    """When the event occurred (a naive timestamp, which the engine rejects, is read as UTC here)."""
    at = event.occurred_at
    return at if at.utcoffset() is not None else at.replace(tzinfo=UTC)


def time_order(events: list[MetricEvent]) -> list[MetricEvent]:
    return sorted(events, key=lambda e: (instant(e), e.id))


def apply_batches(engine: Engine, state: UserState, batches: list[list[MetricEvent]]) -> list[Outcome]:
    outcomes = []
    for batch in batches:
        outcome = engine.apply(state, batch)
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def xp_of(outcomes: list[Outcome]) -> int:
    return sum(e.amount for o in outcomes for e in o.effects if isinstance(e, XpAwarded))


def rejections(outcomes: list[Outcome]) -> list[tuple[str, str, str]]:
    return sorted((r.event_id, r.code, r.reason) for o in outcomes for r in o.rejected)


def awards(outcomes: list[Outcome]) -> Counter[tuple[Any, ...]]:
    """Badge tiers earned and missions completed: each must happen exactly once, in any order."""
    counter: Counter[tuple[Any, ...]] = Counter()
    for outcome in outcomes:
        for effect in outcome.effects:
            if isinstance(effect, BadgeEarned):
                counter["badge", effect.badge_id, effect.tier, effect.period] += 1
            elif isinstance(effect, MissionCompleted):
                counter["mission", effect.mission_id, effect.period] += 1
    return counter


def assert_same_state(actual: UserState, expected: UserState) -> None:
    assert actual.to_dict() == expected.to_dict()  # the readable diff first
    assert actual == expected


def check_rejections(scenario: Scenario, outcomes: list[Outcome]) -> None:
    codes = {r.event_id: r.code for o in outcomes for r in o.rejected}
    assert codes == scenario.expected_codes


# -- properties ------------------------------------------------------------------------------------


@ENGINES
@settings(max_examples=200)
@given(data=st.data())
def test_idempotent(engine: Engine, data: st.DataObject) -> None:
    scenario = data.draw(scenarios(engine), label="scenario")
    events = data.draw(st.permutations(scenario.events), label="arrival")
    history_size = data.draw(st.integers(0, len(events)), label="already applied")
    history, batch = events[:history_size], events[history_size:]
    start = engine.apply(engine.new_state(USER, scenario.timezone), history).state
    start_dict = start.to_dict()

    first = engine.apply(start, batch)
    assert start.to_dict() == start_dict  # the given state is not modified
    valid_ids = [e.id for e in batch if e.id not in scenario.expected_codes]
    assert sorted(first.accepted) == sorted(valid_ids)
    assert first.duplicates == ()
    in_batch = {e.id for e in batch}
    assert {r.event_id: r.code for r in first.rejected} == {
        i: code for i, code in scenario.expected_codes.items() if i in in_batch
    }

    again = engine.apply(first.state, batch)
    assert_same_state(again.state, first.state)
    assert again.effects == ()
    assert again.accepted == ()
    assert list(again.duplicates) == valid_ids
    assert again.rejected == first.rejected  # invalid events are rejected again, the same way

    sub = data.draw(
        st.lists(st.sampled_from(batch), max_size=len(batch)) if batch else st.just([]), label="sub"
    )
    partial = engine.apply(first.state, sub)
    assert_same_state(partial.state, first.state)
    assert partial.effects == ()
    assert list(partial.duplicates) == [e.id for e in sub if e.id not in scenario.expected_codes]

    # Already-seen events mixed into a batch change nothing: same state, same effects.
    seen_again = data.draw(st.lists(st.sampled_from(history)) if history else st.just([]), label="seen")
    mixed = engine.apply(start, [*seen_again, *batch])
    assert_same_state(mixed.state, first.state)
    assert mixed.effects == first.effects
    assert sorted(mixed.accepted) == sorted(first.accepted)

    # The same batch twice in one call counts once.
    doubled = engine.apply(start, batch + batch)
    assert_same_state(doubled.state, first.state)
    assert sorted(doubled.duplicates) == sorted(valid_ids)
    assert xp_of([doubled]) == xp_of([first])

    # Replaying the whole history on the final state is a no-op too.
    everything = engine.apply(first.state, events)
    assert_same_state(everything.state, first.state)
    assert everything.effects == ()


@ENGINES
@settings(max_examples=200)
@given(data=st.data())
def test_order_and_batch_split_independent(engine: Engine, data: st.DataObject) -> None:
    scenario = data.draw(scenarios(engine), label="scenario")
    fresh = engine.new_state(USER, scenario.timezone)
    reference = [engine.apply(fresh, time_order(scenario.events))]
    expected = reference[-1].state

    arrival = data.draw(st.permutations(scenario.events), label="arrival")
    batches = split(data, arrival)
    outcomes = apply_batches(engine, fresh, batches)
    actual = outcomes[-1].state if outcomes else fresh

    assert_same_state(actual, expected)
    assert actual.xp == xp_of(outcomes) == xp_of(reference) == expected.xp
    assert rejections(outcomes) == rejections(reference)
    check_rejections(scenario, outcomes)
    assert sorted(i for o in outcomes for i in o.accepted) == sorted(e.id for e in scenario.valid)
    assert awards(outcomes) == awards(reference)
    # Within one batch the processing order is fixed: the effects do not depend on the arrival order.
    assert engine.apply(fresh, arrival).effects == reference[0].effects

    # Invalid events change nothing: the valid events alone give the same state.
    valid_only = engine.apply(fresh, list(scenario.valid)).state
    assert_same_state(valid_only, expected)
    rejected_only = engine.apply(expected, [event for event, _ in scenario.invalid])
    assert rejected_only.state is expected
    assert rejected_only.effects == ()
    assert rejected_only.accepted == ()


@ENGINES
@settings(max_examples=200)
@given(data=st.data())
def test_replay_equals_incremental(engine: Engine, data: st.DataObject) -> None:
    scenario = data.draw(scenarios(engine, min_valid=2), label="scenario")
    assume(len({e.occurred_at for e in scenario.valid}) >= 2)
    arrival = data.draw(st.permutations(scenario.events), label="arrival")
    batches = split(data, arrival)

    # Make sure some event arrives late: after an event that occurred after it.
    def late(batches: list[list[MetricEvent]]) -> bool:
        seen_latest: datetime | None = None
        for batch in batches:
            times = [e.occurred_at for e in batch if e.id not in scenario.expected_codes]
            if seen_latest is not None and times and min(times) < seen_latest:
                return True
            if times:
                seen_latest = max(times) if seen_latest is None else max(seen_latest, *times)
        return False

    if not late(batches):
        newest = max(scenario.valid, key=lambda e: (e.occurred_at, e.id))
        batches = [[newest], *([e for e in batch if e is not newest] for batch in batches)]
    assert late(batches)

    fresh = engine.new_state(USER, scenario.timezone)
    outcomes = apply_batches(engine, fresh, batches)
    incremental = outcomes[-1].state
    replayed = replay(engine, USER, scenario.timezone, arrival)
    assert_same_state(incremental, replayed)
    in_time_order = replay(engine, USER, scenario.timezone, time_order(scenario.events))
    assert_same_state(in_time_order, replayed)

    whole = engine.apply(fresh, arrival)
    assert_same_state(whole.state, replayed)
    assert xp_of(outcomes) == incremental.xp
    assert xp_of([whole]) == replayed.xp
    assert awards(outcomes) == awards([whole])
    check_rejections(scenario, outcomes)
    check_rejections(scenario, [whole])


user_states = st.builds(
    UserState,
    user_id=st.text(max_size=8),
    timezone=st.sampled_from(USER_TIMEZONES),
    xp=st.integers(0, 2**62),
    level=st.integers(1, 100),
    reward_xp=st.integers(0, 2**62),
    seen=st.sets(st.text(max_size=6), max_size=5),
    metric_totals=st.dictionaries(st.text(max_size=6), st.tuples(st.integers(0), st.integers(0)), max_size=4),
    days=st.dictionaries(
        st.tuples(st.text(max_size=6), st.integers(1, 800_000)),
        st.tuples(st.integers(0), st.integers(0), st.integers(0)),
        max_size=5,
    ),
    windows=st.dictionaries(st.text(max_size=6), st.tuples(st.integers(0), st.integers(0)), max_size=3),
    streaks=st.dictionaries(
        st.text(max_size=6),
        st.builds(
            StreakProgress,
            st.lists(st.integers(1, 800_000), unique=True, max_size=5).map(lambda d: tuple(sorted(d))),
            st.integers(0, 10),
            st.integers(0, 10),
        ),
        max_size=3,
    ),
    badges=st.dictionaries(st.text(max_size=6), st.integers(1, 5), max_size=4),
    repeat_badges=st.dictionaries(
        st.tuples(st.text(max_size=6), st.integers(1, 800_000)), st.integers(1, 5), max_size=4
    ),
    missions_done=st.sets(st.tuples(st.text(max_size=6), st.integers(0, 800_000)), max_size=4),
)


def assert_round_trips(state: UserState) -> None:
    as_dict = state.to_dict()
    assert UserState.from_dict(as_dict) == state
    text = json.dumps(as_dict, allow_nan=False)
    from_json = UserState.from_dict(json.loads(text))
    assert from_json == state
    assert from_json.to_dict() == as_dict
    assert json.dumps(from_json.to_dict(), allow_nan=False) == text  # sorted: equal states, equal text


@ENGINES
@settings(max_examples=200)
@given(data=st.data())
def test_to_dict_round_trip(engine: Engine, data: st.DataObject) -> None:
    scenario = data.draw(scenarios(engine), label="scenario")
    arrival = data.draw(st.permutations(scenario.events), label="arrival")
    state = engine.new_state(USER, scenario.timezone)
    assert_round_trips(state)
    for outcome in apply_batches(engine, state, split(data, arrival, max_cuts=3)):
        assert_round_trips(outcome.state)
        # A state restored from its dict scores exactly like the original.
        restored = UserState.from_dict(json.loads(json.dumps(outcome.state.to_dict())))
        assert_same_state(engine.apply(restored, arrival).state, engine.apply(outcome.state, arrival).state)


@settings(max_examples=200)
@given(state=user_states)
def test_to_dict_round_trip_arbitrary_state(state: UserState) -> None:
    assert_round_trips(state)


@ENGINES
@settings(max_examples=200)
@given(data=st.data())
def test_xp_never_decreases_and_level_matches(engine: Engine, data: st.DataObject) -> None:
    scenario = data.draw(scenarios(engine), label="scenario")
    arrival = data.draw(st.permutations(scenario.events), label="arrival")
    state = engine.new_state(USER, scenario.timezone)
    assert state.level == engine.level_for(state.xp) == 1
    for outcome in apply_batches(engine, state, split(data, arrival, max_cuts=10)):
        after = outcome.state
        assert after.xp >= state.xp
        assert after.xp - state.xp == outcome.xp_gained
        assert all(e.amount >= 0 for e in outcome.effects if isinstance(e, XpAwarded))
        assert after.level == engine.level_for(after.xp)
        assert after.level >= state.level
        assert 0 <= after.reward_xp <= after.xp
        level_ups = [e for e in outcome.effects if isinstance(e, LevelUp)]
        if after.level > state.level:
            assert [(e.level_from, e.level_to, e.xp) for e in level_ups] == [
                (state.level, after.level, after.xp)
            ]
        else:
            assert level_ups == []
        progress = engine.progress(after)
        assert progress.level == after.level
        assert progress.level_xp <= after.xp
        assert progress.next_level_xp is None or after.xp < progress.next_level_xp
        state = after
