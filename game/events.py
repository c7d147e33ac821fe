"""Metric events: the only input of the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Source = Literal["integration", "self"]


@dataclass(frozen=True, slots=True)
class MetricEvent:
    """One measurement of work, e.g. "3 reviews done by ana at 10:02".

    `id` is the idempotency key: the same id is the same event, counted once. `occurred_at` must carry
    a timezone; it decides the user's local day, boosts and windows (arrival time never matters).
    `source` says who reported it: an integration, or the user themself.
    """

    id: str
    user_id: str
    metric: str
    value: float
    occurred_at: datetime
    source: Source = "integration"


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event the engine refused, with a stable code and a sentence for people."""

    event_id: str
    code: str
    reason: str
