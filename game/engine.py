"""The engine: a user's state plus a batch of metric events gives the new state and its effects.

Pure and tick-free: no I/O, no clock. Time comes only from the events' `occurred_at`. Applying an
event twice changes nothing (its id is remembered), and the final state depends only on the set of
events applied, never on their order or batching, so late events score exactly as on-time ones.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from . import streaks as streak_math
from .badges import BadgeJudge, Scope
from .effects import (
    BadgeEarned,
    Effect,
    Explanation,
    LevelUp,
    MissionCompleted,
    MissionProgressed,
    StreakBroken,
    StreakExtended,
    Words,
    XpAwarded,
)
from .events import MetricEvent, Rejection
from .levels import LevelProgress, level_for, progress_for
from .periods import day_label, local_day, period_days, period_key, period_label, week_start_index, zone
from .rules.badges import EventCount, MetricTotal
from .scoring import EventXp, MetricScorer, number
from .state import MILLI, StreakProgress, UserState

if TYPE_CHECKING:
    from .rules.ruleset import RuleSet


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of applying a batch: the new state, what happened, and what was not counted."""

    state: UserState
    effects: tuple[Effect, ...]
    accepted: tuple[str, ...]
    duplicates: tuple[str, ...] = ()
    rejected: tuple[Rejection, ...] = ()

    @property
    def xp_gained(self) -> int:
        return sum(e.amount for e in self.effects if isinstance(e, XpAwarded))


@dataclass(slots=True)
class _DayGroup:
    """The batch's events of one metric on one local day."""

    event_ids: list[str] = field(default_factory=list)
    scored: list[EventXp] = field(default_factory=list)
    milli: int = 0
    xp: int = 0


class Engine:
    """Scores metric events under one rule set. Build once per rule-set version and reuse."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.version = rules.version
        self.thresholds = rules.level_thresholds
        self._week_start = week_start_index(rules.week_starts)
        self._metrics = {mid: MetricScorer(mid, rule, rules.boosts) for mid, rule in rules.metrics.items()}
        self._judge = BadgeJudge(rules)
        self._streaks_of_metric: dict[str, list[str]] = defaultdict(list)
        for streak_id, streak in rules.streaks.items():
            for metric in streak.metrics or rules.metrics:
                self._streaks_of_metric[metric].append(streak_id)
        self._missions_of_metric: dict[str, list[str]] = defaultdict(list)
        self._windows_of_metric: dict[str, list[tuple[str, datetime, datetime]]] = defaultdict(list)
        for mission_id, mission in rules.missions.items():
            self._missions_of_metric[mission.metric].append(mission_id)
            if mission.starts is not None and mission.ends is not None:
                self._windows_of_metric[mission.metric].append((mission_id, mission.starts, mission.ends))

    # -- reading state -----------------------------------------------------------------------------

    def new_state(self, user_id: str, timezone: str = "UTC") -> UserState:
        zone(timezone)  # fail early on an unknown timezone
        return UserState(user_id=user_id, timezone=timezone)

    def level_for(self, xp: int) -> int:
        return level_for(self.thresholds, xp)

    def progress(self, state: UserState) -> LevelProgress:
        return progress_for(self.thresholds, state.xp)

    def streak_as_of(self, state: UserState, streak_id: str, as_of: datetime) -> int:
        """The current length of a streak on the user's local day of `as_of` (0 if it has lapsed)."""
        progress = state.streaks.get(streak_id)
        if progress is None:
            return 0
        today = local_day(as_of, zone(state.timezone))
        return streak_math.current_as_of(progress, today, self.rules.streaks[streak_id].freezes)

    def mission_period(self, mission_id: str, as_of: datetime, timezone: str) -> str | None:
        """The label of the mission's period that contains `as_of` for a user in `timezone`
        (None for a window mission outside its window)."""
        mission = self.rules.missions[mission_id]
        if mission.period == "window":
            assert mission.starts is not None
            assert mission.ends is not None
            return "window" if mission.starts <= as_of < mission.ends else None
        key = period_key(local_day(as_of, zone(timezone)), mission.period, self._week_start)
        return period_label(key, mission.period)

    # -- applying events ---------------------------------------------------------------------------

    def apply(self, state: UserState, events: Iterable[MetricEvent]) -> Outcome:
        """Apply a batch of events to a user's state. The given state is not modified."""
        fresh, duplicates, rejected = self._admit(state, events)
        if not fresh:
            return Outcome(state, (), (), tuple(duplicates), tuple(rejected))
        batch = _Batch(self, state.copy(), fresh)
        batch.run()
        return Outcome(
            batch.state, tuple(batch.effects), tuple(e.id for e in fresh), tuple(duplicates), tuple(rejected)
        )

    def _admit(
        self, state: UserState, events: Iterable[MetricEvent]
    ) -> tuple[list[MetricEvent], list[str], list[Rejection]]:
        fresh: list[MetricEvent] = []
        duplicates: list[str] = []
        rejected: list[Rejection] = []
        taken: set[str] = set()
        seen = state.seen
        for event in events:
            if event.id in seen or event.id in taken:
                duplicates.append(event.id)
                continue
            problem = self._problem(state.user_id, event)
            if problem is not None:
                rejected.append(Rejection(event.id, *problem))
                continue
            taken.add(event.id)
            fresh.append(event)
        return fresh, duplicates, rejected

    def grant(
        self,
        state: UserState,
        *,
        xp: int,
        badge: str | None,
        source: str,
        explanation: str,
        rule_id: str | None = None,
        summary: str | None = None,
    ) -> Outcome:
        """Grant a reward decided outside the events (a challenge's prize): ``xp`` (levelling up as any
        XP does) and ``badge`` if the rules have it and the user does not. ``explanation`` says what the
        reward is for ("rank 1 of 4 in ..."); ``rule_id`` (default: ``source``) names the decider in the
        effects' explanations; ``summary`` is what the reward is for in a person's words ("Sprint of the
        week: Platform, rank 1 of 3"; default: "Reward: " and ``explanation``). Pure: the given state is
        not modified; granting twice grants twice, so the caller keeps the record of what was paid."""
        if xp < 0:
            raise ValueError(f"a reward cannot take XP away (xp={xp})")
        batch = _Batch(self, state.copy(), [])
        batch.grant(xp, badge, source, explanation, rule_id or source, summary or f"Reward: {explanation}")
        return Outcome(batch.state, tuple(batch.effects), ())

    def check(self, event: MetricEvent) -> Rejection | None:
        """Would `apply` refuse this event (whatever the user's state)? For answering at ingest."""
        problem = self._problem(event.user_id, event)
        return None if problem is None else Rejection(event.id, *problem)

    def _problem(self, user_id: str, event: MetricEvent) -> tuple[str, str] | None:
        scorer = self._metrics.get(event.metric)
        value = event.value
        if (  # fast path: the checks below, for the usual valid event
            scorer is not None
            and event.user_id == user_id
            and event.id
            and type(value) in (int, float)
            and 0 < value < math.inf
            and event.source in scorer.sources
            and (not scorer.rule.whole or value == int(value))
            and (scorer.max_milli is None or round(value * MILLI) <= scorer.max_milli)
            and event.occurred_at.utcoffset() is not None
        ):
            return None
        if not event.id:
            return "invalid_event", "the event has no id"
        if event.user_id != user_id:
            return "wrong_user", f"the event is for user {event.user_id!r}, not {user_id!r}"
        if scorer is None:
            return (
                "unknown_metric",
                f"unknown metric {event.metric!r} (known: {', '.join(sorted(self._metrics))})",
            )
        if event.source not in scorer.sources:
            allowed = " or ".join(sorted(scorer.sources))
            return "source_not_allowed", f"{event.metric} may be reported by {allowed}, not by {event.source}"
        if event.occurred_at.utcoffset() is None:
            return (
                "naive_timestamp",
                "occurred_at has no timezone (give an offset, e.g. 2026-11-24T10:00:00Z)",
            )
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            return "invalid_value", f"value must be a positive number, got {value!r}"
        if scorer.rule.whole and value != int(value):
            return "invalid_value", f"{event.metric} counts whole {scorer.rule.unit}s, got {value!r}"
        if scorer.max_milli is not None and round(value * MILLI) > scorer.max_milli:
            return (
                "above_max_value",
                f"value {number(value)} is above the maximum of {number(scorer.rule.max_value or 0)}",
            )
        return None


class _Batch:
    """One application of a batch to a working copy of a state; phases run in a fixed order."""

    def __init__(self, engine: Engine, state: UserState, events: list[MetricEvent]) -> None:
        self.engine = engine
        self.rules = engine.rules
        self.state = state
        self.events = events
        self.effects: list[Effect] = []
        self.event_ids = tuple(sorted(e.id for e in events))
        self.groups: dict[tuple[str, int], _DayGroup] = {}
        self.touched_windows: dict[str, list[str]] = defaultdict(list)
        self.changed: set[str] = set()
        """Inputs of badge criteria this batch changed ("streak:<id>", "badge:<id>", ...)."""
        self.level_before = state.level

    def run(self) -> None:
        self._score_events()
        self._award_metric_xp()
        self._update_streaks()
        self._update_missions()
        self._settle_badges_and_level()

    def grant(
        self, xp: int, badge_id: str | None, source: str, text: str, rule_id: str, summary: str
    ) -> None:
        reason = f"reward for {text}"
        if xp:
            self._grant_xp(xp, source, self._explain(rule_id, reason, (), summary), reason, summary)
        # A badge the rules no longer have is skipped: the reward was defined under older rules.
        if badge_id is not None and badge_id in self.rules.badges and not self.state.badges.get(badge_id):
            self._earn(badge_id, 1, None, reason, ())
        self._settle_badges_and_level()

    def _explain(
        self, rule_id: str, text: Words, event_ids: tuple[str, ...] | None = None, summary: Words = ""
    ) -> Explanation:
        return Explanation(
            rule_id, self.engine.version, self.event_ids if event_ids is None else event_ids, text, summary
        )

    # Phase 1: every event's XP and counts into the day, metric and window tallies.
    def _score_events(self) -> None:
        state, groups = self.state, self.groups
        tz = zone(state.timezone)
        scorers = self.engine._metrics
        windows_of_metric = self.engine._windows_of_metric
        for event in self.events:
            scorer = scorers[event.metric]
            day = local_day(event.occurred_at, tz)
            milli = round(event.value * MILLI)
            scored = scorer.score(milli, event.occurred_at)
            key = (event.metric, day)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _DayGroup()
            group.event_ids.append(event.id)
            group.scored.append(scored)
            group.milli += milli
            group.xp += scored.xp
            for mission_id, starts, ends in windows_of_metric.get(event.metric, ()):
                if starts <= event.occurred_at < ends:
                    units, count = state.windows.get(mission_id, (0, 0))
                    state.windows[mission_id] = (units + milli, count + 1)
                    self.touched_windows[mission_id].append(event.id)
        state.seen.update(self.event_ids)
        # Fold each group into the day and all-time tallies once, not once per event.
        for key, group in groups.items():
            count = len(group.event_ids)
            units, events, raw = state.days.get(key, (0, 0, 0))
            state.days[key] = (units + group.milli, events + count, raw + group.xp)
            units, events = state.metric_totals.get(key[0], (0, 0))
            state.metric_totals[key[0]] = (units + group.milli, events + count)

    # Phase 2: XP per metric and day, through the daily cap.
    def _award_metric_xp(self) -> None:
        state = self.state
        for (metric, day), group in sorted(self.groups.items(), key=lambda item: (item[0][1], item[0][0])):
            scorer = self.engine._metrics[metric]
            total_raw = state.days[metric, day][2]
            cap = scorer.rule.cap_per_day
            before_raw = total_raw - group.xp
            amount = group.xp if cap is None else min(cap, total_raw) - min(cap, before_raw)
            state.xp += amount
            text = partial(self._metric_text, scorer, day, group, before_raw, amount, state.timezone)
            summary = partial(_metric_summary, scorer, group.milli, amount < group.xp)
            explanation = self._explain(f"metrics.{metric}", text, tuple(sorted(group.event_ids)), summary)
            self.effects.append(XpAwarded(explanation, amount, "metric", metric, day_label(day)))

    def _metric_text(
        self,
        scorer: MetricScorer,
        day: int,
        group: _DayGroup,
        before_raw: int,
        amount: int,
        timezone: str,
    ) -> str:
        total_raw, cap = before_raw + group.xp, scorer.rule.cap_per_day
        where = f"{scorer.rule.name} on {day_label(day)} ({timezone})"
        scored = group.scored
        if len(scored) == 1:
            detail = scorer.describe(scored[0])
        else:
            base = capped = boosted = 0
            for one in scored:
                base += one.base
                capped += one.capped
                boosted += one.boost is not None
            units = scorer.unit_label(group.milli / MILLI)
            if scorer.rate is not None:
                detail = f"{len(scored)} events, {units} × {number(scorer.rate)} XP"
            else:
                detail = f"{len(scored)} events, {units} at stepped rates"
            if capped:
                detail += f", {capped} capped to {scorer.cap:,} per event"
            detail += f" = {base:,} XP"
            if boosted:
                detail += f", {boosted} boosted → {group.xp:,} XP"
        if cap is None or total_raw <= cap:
            return f"{where}: {detail} → +{amount:,} XP"
        return (
            f"{where}: {detail}; the day's {scorer.id} XP goes {before_raw:,} → {total_raw:,}, "
            f"capped at {cap:,} by the daily cap → +{amount:,} XP"
        )

    # Phase 3: streaks, from the days this batch made active.
    def _update_streaks(self) -> None:
        state, rules = self.state, self.rules
        days_by_streak: dict[str, set[int]] = defaultdict(set)
        for metric, day in self.groups:
            for streak_id in self.engine._streaks_of_metric.get(metric, ()):
                days_by_streak[streak_id].add(day)
        for streak_id in sorted(days_by_streak):
            rule = rules.streaks[streak_id]
            metrics = rule.metrics or list(rules.metrics)
            before = state.streaks.get(streak_id) or StreakProgress()
            active = [
                day
                for day in days_by_streak[streak_id]
                if day not in before.days
                and sum(state.days.get((m, day), (0, 0, 0))[1] for m in metrics) >= rule.min_events
            ]
            if not active:
                continue
            after = streak_math.add_days(before, active, rule.freezes)
            state.streaks[streak_id] = after
            self.changed.add(f"streak:{streak_id}")
            rule_id = f"streaks.{streak_id}"
            ids = self._ids(set(metrics), set(active))
            if before.last_day is not None and after.days[-after.current] > before.last_day:
                text = (
                    f"{rule.name} of {before.current} day(s) ended: more than {rule.freezes} "
                    "missed day(s) in a row; a new one starts"
                )
                summary = f"{rule.name} of {_days(before.current)} ended; a new one starts"
                self.effects.append(
                    StreakBroken(self._explain(rule_id, text, ids, summary), streak_id, before.current)
                )
            if after.current > before.current or after.best > before.best:
                text = f"{rule.name}: {after.current} active day(s) in a row (best {after.best})"
                if rule.freezes:
                    text += f", gaps of up to {rule.freezes} missed day(s) allowed"
                summary = (
                    f"{rule.name}: {_days(after.current)} in a row"
                    if after.current > 1
                    else f"{rule.name}: started"
                )
                self.effects.append(
                    StreakExtended(
                        self._explain(rule_id, text, ids, summary), streak_id, after.current, after.best
                    )
                )

    # Phase 4: missions over the periods this batch touched.
    def _update_missions(self) -> None:
        state, rules = self.state, self.rules
        week_start = self.engine._week_start
        for metric in sorted({metric for metric, _ in self.groups}):
            for mission_id in self.engine._missions_of_metric.get(metric, ()):
                mission = rules.missions[mission_id]
                index = 0 if mission.measure == "units" else 1
                scale = MILLI if index == 0 else 1
                if mission.period == "window":
                    if mission_id in self.touched_windows:
                        progress = state.windows[mission_id][index] / scale
                        ids = tuple(sorted(self.touched_windows[mission_id]))
                        self._mission_progress(mission_id, 0, "window", progress, ids)
                    continue
                ids_by_key: dict[int, list[str]] = defaultdict(list)
                for (group_metric, day), group in self.groups.items():
                    if group_metric == metric:
                        ids_by_key[period_key(day, mission.period, week_start)].extend(group.event_ids)
                for key in sorted(ids_by_key):
                    days = period_days(key, mission.period)
                    total = sum(state.days[metric, d][index] for d in days if (metric, d) in state.days)
                    label = period_label(key, mission.period)
                    self._mission_progress(
                        mission_id, key, label, total / scale, tuple(sorted(ids_by_key[key]))
                    )

    def _mission_progress(
        self, mission_id: str, key: int, label: str, progress: float, ids: tuple[str, ...]
    ) -> None:
        state = self.state
        mission = self.rules.missions[mission_id]
        rule_id = f"missions.{mission_id}"
        completed = progress >= mission.goal
        text = partial(
            _mission_text, mission.name, label, progress, mission.goal, mission.metric, mission.measure
        )
        progressed = partial(_mission_summary, mission.name, progress, mission.goal, completed)
        explanation = self._explain(rule_id, text, ids, progressed)
        self.effects.append(
            MissionProgressed(explanation, mission_id, label, progress, mission.goal, completed)
        )
        if not completed or (mission_id, key) in state.missions_done:
            return
        state.missions_done.add((mission_id, key))
        reward = f"{mission.name} completed ({label}): {number(progress)} ≥ {number(mission.goal)}"
        explanation = self._explain(rule_id, reward, ids, f"Mission complete: {mission.name}")
        self.effects.append(
            MissionCompleted(explanation, mission_id, label, mission.reward_xp, mission.reward_badge)
        )
        if mission.reward_xp:
            summary = f"Mission: {mission.name}"
            self._grant_xp(mission.reward_xp, "mission", explanation, f"reward for {reward}", summary)
        badge_id = mission.reward_badge
        if badge_id is not None and not state.badges.get(badge_id):
            self._earn(badge_id, 1, None, f"reward for {reward}", ids)

    def _grant_xp(self, amount: int, source: str, explanation: Explanation, text: str, summary: str) -> None:
        self.state.xp += amount
        self.state.reward_xp += amount
        award = Explanation(
            explanation.rule_id,
            explanation.rule_version,
            explanation.event_ids,
            f"{text} → +{amount:,} XP",
            summary,
        )
        self.effects.append(XpAwarded(award, amount, source))

    # Phase 5: badges and the level, to a fixed point (badge XP can raise the level, which can earn badges).
    def _settle_badges_and_level(self) -> None:
        state, rules = self.state, self.rules
        judge = self.engine._judge
        scopes: dict[str, list[tuple[str, int]]] = {}
        # A badge's verdict can only change when one of its inputs did: judge only those.
        changed = self.changed
        if self.groups:  # a granted reward changes no metric
            changed.update(f"metric:{metric}" for metric, _ in self.groups)
            changed.add("metric:*")
        again = True
        while again:
            again = False
            level = self.engine.level_for(state.xp)
            if level != state.level:
                state.level = level
                changed.add("level")
            for badge_id in judge.order:
                if not judge.inputs[badge_id] & changed:
                    continue
                badge = rules.badges[badge_id]
                if badge.repeat is not None and badge_id not in scopes:
                    scopes[badge_id] = self._repeat_scopes(badge_id, badge.repeat)
                for scope in scopes[badge_id] if badge.repeat else (None,):
                    key = None if scope is None else (badge_id, scope[1])
                    have = state.badges.get(badge_id, 0) if key is None else state.repeat_badges.get(key, 0)
                    if have == len(badge.tiers or (None,)):
                        continue
                    reached = judge.tiers_met(badge, state, scope)
                    if reached > have:
                        reason = judge.explain(badge, state, scope)
                        ids = self._badge_ids(badge_id, scope)
                        for tier in range(have + 1, reached + 1):
                            again |= self._earn(badge_id, tier, scope, reason, ids)
        if state.level > self.level_before:
            low, high = self.level_before, state.level
            text = f"{state.xp:,} XP reaches level {high} (needs {self.engine.thresholds[high - 1]:,} XP)"
            if high < len(self.engine.thresholds):
                text += f"; level {high + 1} needs {self.engine.thresholds[high]:,} XP"
            self.effects.append(
                LevelUp(self._explain("levels", text, summary=f"Reached level {high}"), low, high, state.xp)
            )

    def _repeat_scopes(self, badge_id: str, period: str) -> list[tuple[str, int]]:
        """The periods this batch touched for a repeatable badge's metric."""
        criteria = self.rules.badges[badge_id].criteria
        assert isinstance(criteria, MetricTotal | EventCount)  # the rules allow no other kind
        metric, week_start = criteria.metric, self.engine._week_start
        keys = {period_key(day, period, week_start) for m, day in self.groups if metric in (None, m)}
        return [(period, key) for key in sorted(keys)]

    def _ids(self, metrics: Collection[str] | None, days: Collection[int] | None) -> tuple[str, ...]:
        """Ids of the batch's events of these metrics on these local days (None: any)."""
        return tuple(
            sorted(
                event_id
                for (metric, day), group in self.groups.items()
                if (metrics is None or metric in metrics) and (days is None or day in days)
                for event_id in group.event_ids
            )
        )

    def _badge_ids(self, badge_id: str, scope: Scope) -> tuple[str, ...]:
        """The batch's events a badge's verdict rests on: those of its metrics (in its period)."""
        inputs = self.engine._judge.evidence[badge_id]
        if "level" in inputs or "metric:*" in inputs:
            metrics = None  # XP, hence the level, comes from every metric
        else:
            metrics = {token.partition(":")[2] for token in inputs if token.startswith("metric:")}
            for token in inputs:
                if token.startswith("streak:"):
                    streak = self.rules.streaks[token.partition(":")[2]]
                    metrics.update(streak.metrics or self.rules.metrics)
        return self._ids(metrics, None if scope is None else set(period_days(scope[1], scope[0])))

    def _earn(self, badge_id: str, tier: int, scope: Scope, reason: str, ids: tuple[str, ...]) -> bool:
        """Record a badge tier; True when it granted XP (which may unlock more)."""
        state = self.state
        badge = self.rules.badges[badge_id]
        if scope is None:
            state.badges[badge_id] = tier
            period = None
        else:
            state.repeat_badges[badge_id, scope[1]] = tier
            state.badges[badge_id] = max(state.badges.get(badge_id, 0), tier)
            period = period_label(scope[1], scope[0])
        self.changed.add(f"badge:{badge_id}")
        tier_name = list(badge.tiers)[tier - 1] if badge.tiers else None
        rule_id = f"badges.{badge_id}"
        title = badge.name + (f" ({tier_name})" if tier_name else "") + (f" for {period}" if period else "")
        # The summary leaves out a repeatable badge's period: it is a date, which screens format themselves.
        summary = f"Badge: {badge.name}" + (f" ({tier_name})" if tier_name else "")
        explanation = self._explain(rule_id, f"{title}: {reason}", ids, summary)
        self.effects.append(BadgeEarned(explanation, badge_id, badge.name, tier_name, period, badge.secret))
        if badge.xp:
            self._grant_xp(badge.xp, "badge", explanation, f"{title} earned", summary)
            return True
        return False


def _mission_text(name: str, label: str, progress: float, goal: float, metric: str, measure: str) -> str:
    return f"{name} ({label}): {number(progress)} of {number(goal)} {metric} {measure}"


def _metric_summary(scorer: MetricScorer, milli: int, capped: bool) -> str:
    """What the person did, from the rules' phrase for the metric (else its name and the amount)."""
    value = milli / MILLI
    phrase = scorer.rule.summary
    words = (
        phrase.say(number(value), value == 1) if phrase else f"{scorer.rule.name}: {scorer.unit_label(value)}"
    )
    return words + " (daily XP cap reached)" if capped else words


def _mission_summary(name: str, progress: float, goal: float, completed: bool) -> str:
    return f"{name}: " + ("done" if completed else f"{number(progress)} of {number(goal)}")


def _days(count: int) -> str:
    return f"{count:,} day" if count == 1 else f"{count:,} days"
