"""Replaying histories and backtesting a draft rule set against the current one."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .effects import Effect
from .engine import Engine
from .events import MetricEvent, Rejection
from .periods import zone
from .rules.ruleset import RuleSet
from .state import UserState


@dataclass(slots=True)
class UserRun:
    state: UserState
    effects: list[Effect] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def by_user(events: Iterable[MetricEvent]) -> dict[str, list[MetricEvent]]:
    grouped: dict[str, list[MetricEvent]] = defaultdict(list)
    for event in events:
        grouped[event.user_id].append(event)
    return dict(grouped)


def simulate(
    engine: Engine, events: Iterable[MetricEvent], timezones: Mapping[str, str] | None = None
) -> dict[str, UserRun]:
    """Score every user's events from a fresh state, one local day at a time in time order, as the
    workers would through the day, keeping every effect. (The final state is the same as one
    batch would give; the effects show when each award happened.)"""
    timezones = timezones or {}
    runs: dict[str, UserRun] = {}
    for user_id, history in sorted(by_user(events).items()):
        run = runs[user_id] = UserRun(engine.new_state(user_id, timezones.get(user_id, "UTC")))
        tz = zone(run.state.timezone)
        days: dict[object, list[MetricEvent]] = defaultdict(list)
        for event in sorted(history, key=_when):
            # Naive timestamps are rejected by the engine: group them anywhere, they score nothing.
            day = event.occurred_at.astimezone(tz).date() if event.occurred_at.tzinfo else None
            days[day].append(event)
        for batch in days.values():
            outcome = engine.apply(run.state, batch)
            run.state = outcome.state
            run.effects.extend(outcome.effects)
            run.rejected.extend(outcome.rejected)
            run.duplicates.extend(outcome.duplicates)
    return runs


def _when(event: MetricEvent) -> tuple[float, str]:
    moment = event.occurred_at
    return (moment.timestamp() if moment.tzinfo else 0.0, event.id)


def replay(engine: Engine, user_id: str, timezone: str, history: Iterable[MetricEvent]) -> UserState:
    """Rebuild a user's state from their full history under the engine's rule version."""
    return engine.apply(engine.new_state(user_id, timezone), history).state


def badge_holdings(rules: RuleSet, state: UserState) -> Counter[str]:
    """What a user holds, as comparable labels: "reviewer (silver)", "review-marathon" × periods."""
    held: Counter[str] = Counter()
    for badge_id, tiers in state.badges.items():
        badge = rules.badges.get(badge_id)
        if badge is None or badge.repeat is not None:
            continue
        names = list(badge.tiers) if badge.tiers else [None]
        for tier in names[:tiers]:
            held[badge_id + (f" ({tier})" if tier else "")] += 1
    for (badge_id, _period), tiers in state.repeat_badges.items():
        held[badge_id] += tiers
    return held


@dataclass(frozen=True, slots=True)
class UserDiff:
    user_id: str
    xp_current: int
    xp_draft: int
    level_current: int
    level_draft: int
    badges_gained: tuple[str, ...]
    badges_lost: tuple[str, ...]

    @property
    def xp_delta(self) -> int:
        return self.xp_draft - self.xp_current

    @property
    def changed(self) -> bool:
        return bool(
            self.xp_delta or self.level_draft != self.level_current or self.badges_gained or self.badges_lost
        )


@dataclass(frozen=True, slots=True)
class BacktestReport:
    current: tuple[str, int]
    draft: tuple[str, int]
    users: tuple[UserDiff, ...]

    @property
    def xp_delta(self) -> int:
        return sum(u.xp_delta for u in self.users)

    @property
    def xp_current(self) -> int:
        return sum(u.xp_current for u in self.users)

    @property
    def levels_up(self) -> int:
        return sum(1 for u in self.users if u.level_draft > u.level_current)

    @property
    def levels_down(self) -> int:
        return sum(1 for u in self.users if u.level_draft < u.level_current)

    @property
    def badges_gained(self) -> Counter[str]:
        return Counter(label for u in self.users for label in u.badges_gained)

    @property
    def badges_lost(self) -> Counter[str]:
        return Counter(label for u in self.users for label in u.badges_lost)


def backtest(
    current: RuleSet,
    draft: RuleSet,
    events: Iterable[MetricEvent],
    timezones: Mapping[str, str] | None = None,
) -> BacktestReport:
    """Replay every history under both rule sets and report what the draft would change."""
    timezones = timezones or {}
    now, then = Engine(current), Engine(draft)
    diffs: list[UserDiff] = []
    for user_id, history in sorted(by_user(events).items()):
        tz = timezones.get(user_id, "UTC")
        a, b = replay(now, user_id, tz, history), replay(then, user_id, tz, history)
        held_a, held_b = badge_holdings(current, a), badge_holdings(draft, b)
        gained = tuple(sorted((held_b - held_a).elements()))
        lost = tuple(sorted((held_a - held_b).elements()))
        diffs.append(UserDiff(user_id, a.xp, b.xp, a.level, b.level, gained, lost))
    return BacktestReport((current.ruleset, current.version), (draft.ruleset, draft.version), tuple(diffs))
