"""The level curve: how much total XP each level needs."""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from .base import Rule

# Formula curves are materialised into a table of thresholds, so the table size is bounded,
# and every threshold must fit the 64-bit integers the database stores XP in.
LEVEL_LIMIT = 100_000
XP_LIMIT = 2**62

MaxLevel = Annotated[int, Field(ge=2, le=LEVEL_LIMIT)]


class PolynomialCurve(Rule):
    """Level L needs `base * (L - 1) ** exponent` XP in total, rounded to the nearest `round_to`."""

    curve: Literal["polynomial"]
    base: Annotated[int, Field(gt=0)]
    exponent: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 1.0
    round_to: Annotated[int, Field(ge=1)] = 1
    max_level: MaxLevel = 100

    def thresholds(self) -> list[int]:
        step = self.round_to
        return [
            _nearest(self.base * (level - 1) ** self.exponent, step) for level in range(1, self.max_level + 1)
        ]

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        _check_formula(self.thresholds())
        return self


class ExponentialCurve(Rule):
    """Reaching level 2 costs `base` XP and each further level costs `growth` times the one before."""

    curve: Literal["exponential"]
    base: Annotated[int, Field(gt=0)]
    growth: Annotated[float, Field(gt=1, le=10, allow_inf_nan=False)]
    round_to: Annotated[int, Field(ge=1)] = 1
    max_level: MaxLevel = 100

    def thresholds(self) -> list[int]:
        step, ratio = self.round_to, self.growth
        try:
            return [
                _nearest(self.base * (ratio ** (level - 1) - 1) / (ratio - 1), step)
                for level in range(1, self.max_level + 1)
            ]
        except OverflowError:
            raise ValueError(
                f"the top levels would need more than {XP_LIMIT} XP: lower max_level or growth"
            ) from None

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        _check_formula(self.thresholds())
        return self


class TableCurve(Rule):
    """Explicit total-XP thresholds: the first is level 1 (0 XP), the last is the top level."""

    curve: Literal["table"]
    thresholds: list[Annotated[int, Field(ge=0)]] = Field(min_length=2, max_length=LEVEL_LIMIT)

    @model_validator(mode="after")
    def _table_increasing(self) -> Self:
        if self.thresholds[0] != 0:
            raise ValueError(f"thresholds must start at 0 (level 1), got {self.thresholds[0]}")
        for level, (low, high) in enumerate(zip(self.thresholds, self.thresholds[1:], strict=False), 2):
            if high <= low:
                raise ValueError(
                    f"thresholds must increase: level {level} needs {high} XP, level {level - 1} {low}"
                )
        return self


LevelCurve = Annotated[PolynomialCurve | ExponentialCurve | TableCurve, Field(discriminator="curve")]


def _nearest(value: float, step: int) -> int:
    """`value` rounded to the nearest multiple of `step`, halves up (25 -> 30 with step 10)."""
    return step * math.floor(value / step + 0.5)


def _check_formula(thresholds: list[int]) -> None:
    for level, (low, high) in enumerate(itertools.pairwise(thresholds), 2):
        if high <= low:
            raise ValueError(
                f"levels {level - 1} and {level} would both need {low} XP after rounding: "
                "raise base or lower round_to"
            )
    if thresholds[-1] > XP_LIMIT:
        raise ValueError(
            f"the top level would need {thresholds[-1]} XP, more than {XP_LIMIT}: lower max_level"
        )


def curve_thresholds(curve: PolynomialCurve | ExponentialCurve | TableCurve) -> list[int]:
    """Total XP needed for each level, index 0 being level 1 (always 0 XP)."""
    if isinstance(curve, TableCurve):
        return list(curve.thresholds)
    return curve.thresholds()
