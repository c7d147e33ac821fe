"""XP for one event of a metric: rate (flat or stepped), per-event cap and boosts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .rules.activity import BoostRule
from .rules.metrics import MetricRule
from .state import MILLI

# Rates like 0.29 XP per unit are not exact in binary; the tolerance keeps 100 * 0.29 at 29, not 28.
_EPSILON = 1e-9
_MEMO_LIMIT = 4096


def number(value: float) -> str:
    """A number as people write it: no trailing zeros, thousands separated."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class EventXp:
    """The XP of one event and the numbers that produced it (words only on request: see `describe`)."""

    milli: int
    xp: int
    base: int
    capped: bool
    multiplier: float
    boost: str | None


class MetricScorer:
    def __init__(self, metric_id: str, rule: MetricRule, boosts: dict[str, BoostRule]) -> None:
        self.id = metric_id
        self.rule = rule
        self.sources = frozenset(rule.reporters)
        self.max_milli = None if rule.max_value is None else round(rule.max_value * MILLI)
        self.rate = rule.xp_per_unit
        self.tiers = [(t.up_to, t.xp_per_unit) for t in rule.xp_tiers] if rule.xp_tiers else None
        self.cap = rule.cap_per_event
        # Largest multiplier first: boosts do not stack, the largest that covers the event applies.
        self.boosts = sorted(
            (
                (boost.starts, boost.ends, boost.multiplier, boost_id)
                for boost_id, boost in boosts.items()
                if boost.metrics is None or metric_id in boost.metrics
            ),
            key=lambda b: (-b[2], b[3]),
        )
        self.boost_names = {boost_id: boost.name for boost_id, boost in boosts.items()}
        self._memo: dict[int, EventXp] = {}

    def unit_label(self, value: float) -> str:
        unit = self.rule.unit
        return f"{number(value)} {unit if value == 1 else unit + 's'}"

    def score(self, milli: int, at: datetime) -> EventXp:
        for starts, ends, multiplier, boost_id in self.boosts:
            if starts <= at < ends:
                plain = self._unboosted(milli)
                xp = int(plain.base * multiplier + _EPSILON)
                return EventXp(milli, xp, plain.base, plain.capped, multiplier, boost_id)
        return self._unboosted(milli)

    def _unboosted(self, milli: int) -> EventXp:
        # Values repeat a lot (1 review, 3 commits, 25 minutes): EventXp is immutable, so share it.
        known = self._memo.get(milli)
        if known is not None:
            return known
        value = milli / MILLI
        if self.tiers is None:
            raw = value * (self.rate or 0.0)
        else:
            raw, below, left = 0.0, 0.0, value
            for up_to, rate in self.tiers:
                span = left if up_to is None else min(left, up_to - below)
                raw += span * rate
                left -= span
                if left <= 0 or up_to is None:
                    break
                below = up_to
        base = int(raw + _EPSILON)
        cap = self.cap
        capped = cap is not None and base > cap
        if cap is not None and capped:
            base = cap
        scored = EventXp(milli, base, base, capped, 1.0, None)
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[milli] = scored
        return scored

    def describe(self, scored: EventXp) -> str:
        """The arithmetic of one event, e.g. "3 reviews × 10 XP = 30 XP"."""
        value = scored.milli / MILLI
        if self.tiers is None:
            text = f"{self.unit_label(value)} × {number(self.rate or 0.0)} XP"
        else:
            parts, below, left = [], 0.0, value
            for up_to, rate in self.tiers:
                span = left if up_to is None else min(left, up_to - below)
                if span > 0:
                    parts.append(f"{number(span)} × {number(rate)}")
                left -= span
                if left <= 0 or up_to is None:
                    break
                below = up_to
            text = f"{self.unit_label(value)} at stepped rates ({' + '.join(parts)})"
        if scored.capped:
            text += f", capped to {scored.base:,} per event"
        else:
            text += f" = {scored.base:,} XP"
        if scored.boost is not None:
            text += f", × {number(scored.multiplier)} {self.boost_names[scored.boost]} = {scored.xp:,} XP"
        return text
