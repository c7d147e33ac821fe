"""Synthetic but realistic metric traffic for software teams (benchmarks and the shipped samples)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from game.events import MetricEvent, Source


@dataclass(frozen=True)
class Persona:
    name: str
    timezone: str
    rates: dict[str, float]
    """Mean events per working day, per metric."""


# Mean events per working day, by role.
ROLES: dict[str, dict[str, float]] = {
    "backend": {
        "commits": 3.0,
        "prs_merged": 0.8,
        "reviews_done": 2.0,
        "tickets_closed": 1.2,
        "focus_minutes": 1.5,
    },
    "frontend": {
        "commits": 4.0,
        "prs_merged": 1.0,
        "reviews_done": 1.5,
        "tickets_closed": 1.5,
        "focus_minutes": 1.0,
    },
    "sre": {
        "commits": 1.5,
        "incidents_resolved": 0.4,
        "reviews_done": 1.0,
        "tickets_closed": 2.0,
        "docs_written": 0.3,
    },
    "lead": {"reviews_done": 4.0, "prs_merged": 0.3, "docs_written": 0.5, "tickets_closed": 1.0},
    "writer": {"docs_written": 1.2, "reviews_done": 0.8, "tickets_closed": 0.8, "focus_minutes": 1.2},
}
TIMEZONES = [
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "UTC",
    "America/Los_Angeles",
    "Australia/Sydney",
]
VALUES = {"commits": (1, 6), "focus_minutes": (20, 150), "docs_written": (1, 4)}
SELF_REPORTABLE = {"tickets_closed", "focus_minutes", "docs_written"}


def personas(count: int, rng: random.Random) -> list[Persona]:
    roles = sorted(ROLES)
    return [
        Persona(f"user-{i:05d}", TIMEZONES[i % len(TIMEZONES)], ROLES[roles[rng.randrange(len(roles))]])
        for i in range(count)
    ]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here.
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def generate(users: int, days: int, start: date, seed: int = 7) -> Iterator[MetricEvent]:
    """Events for `users` people over `days` days from `start`, in time order per user."""
    rng = random.Random(seed)
    for persona in personas(users, rng):
        tz = ZoneInfo(persona.timezone)
        keen = rng.uniform(0.6, 1.5)
        serial = 0
        for offset in range(days):
            day = start + timedelta(days=offset)
            weekend = day.weekday() >= 5
            if rng.random() < (0.85 if weekend else 0.08):
                continue  # a day off
            for metric, rate in persona.rates.items():
                for _ in range(_poisson(rng, rate * keen * (0.3 if weekend else 1.0))):
                    low, high = VALUES.get(metric, (1, 1))
                    clock = time(rng.randrange(8, 19), rng.randrange(60), rng.randrange(60))
                    serial += 1
                    source: Source = (
                        "self" if metric in SELF_REPORTABLE and rng.random() < 0.2 else "integration"
                    )
                    yield MetricEvent(
                        id=f"{persona.name}-{serial:06d}",
                        user_id=persona.name,
                        metric=metric,
                        value=rng.randint(low, high),
                        occurred_at=datetime.combine(day, clock, tz),
                        source=source,
                    )


def timezones(users: int, seed: int = 7) -> dict[str, str]:
    return {p.name: p.timezone for p in personas(users, random.Random(seed))}
