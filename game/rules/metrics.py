"""Metric types: what a unit of work is worth in XP, and the limits on it."""

from __future__ import annotations

import itertools
import string
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from .base import Rule

Reporter = Literal["integration", "self"]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class XpTier(Rule):
    """One step of a stepped rate: units of one event up to `up_to` earn `xp_per_unit` each."""

    up_to: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    xp_per_unit: NonNegative


class Phrase(Rule):
    """What a person did, in words, for one event and for several: ``one: Merged a pull request``,
    ``other: Merged {count} pull requests`` (``{count}``, the only placeholder, is the amount)."""

    one: Annotated[str, Field(min_length=1, max_length=120)]
    other: Annotated[str, Field(min_length=1, max_length=120)]

    @model_validator(mode="after")
    def _placeholders(self) -> Self:
        for key in ("one", "other"):
            try:
                fields = [
                    (name, spec, conv) for _, name, spec, conv in string.Formatter().parse(getattr(self, key))
                ]
            except ValueError as error:
                raise ValueError(
                    f"{key}: {error} (write {{count}} for the amount; {{{{ for a brace)"
                ) from None
            for name, spec, conversion in fields:
                if name is not None and (name != "count" or spec or conversion):
                    raise ValueError(
                        f"{key}: unknown placeholder {{{name}}} (only {{count}}, the amount, is known)"
                        if name != "count"
                        else f"{key}: write {{count}} plainly, with no format or conversion"
                    )
        return self

    def say(self, count: str, singular: bool) -> str:
        """The phrase for an amount (``count``, already written as people write numbers)."""
        return (self.one if singular else self.other).format(count=count)


class MetricRule(Rule):
    """A kind of productivity metric (commits, reviews, focus minutes, ...) and how it scores."""

    name: str
    unit: str
    description: str = ""
    summary: Phrase | None = Field(
        default=None, description="what a person did, in words (default: the name and the amount)"
    )
    whole: bool = Field(default=False, description="values must be whole numbers (counts)")
    xp_per_unit: NonNegative | None = None
    xp_tiers: list[XpTier] | None = Field(default=None, min_length=1)
    cap_per_event: Annotated[int, Field(ge=0)] | None = None
    cap_per_day: Annotated[int, Field(ge=0)] | None = None
    max_value: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    reporters: list[Reporter] = Field(default_factory=lambda: list[Reporter](["integration"]), min_length=1)

    @model_validator(mode="after")
    def _one_rate(self) -> Self:
        if (self.xp_per_unit is None) == (self.xp_tiers is None):
            raise ValueError("give exactly one of xp_per_unit (a flat rate) or xp_tiers (a stepped rate)")
        if self.xp_tiers is not None:
            bounds = [tier.up_to for tier in self.xp_tiers]
            if any(bound is None for bound in bounds[:-1]):
                raise ValueError("only the last of xp_tiers may leave out up_to (it covers everything above)")
            closed = [bound for bound in bounds if bound is not None]
            if any(b <= a for a, b in itertools.pairwise(closed)):
                raise ValueError(f"xp_tiers up_to must increase from tier to tier, got {closed}")
        return self
