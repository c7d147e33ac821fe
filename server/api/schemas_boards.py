"""Bodies of the leaderboard reads and rule validation (see `server.api.schemas`; the badge catalogue's are
`server.services.people.read_models`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from .schemas import Input, Output

# -- leaderboards ----------------------------------------------------------------------------------


class BoardQuery(Input):
    around: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="a user's handle, or `me`: that user's row and `radius` rows either side"
    )
    radius: Annotated[int, Field(ge=1, le=25)] = 5
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        default=0, description="without `around`: the first place shown (0: the top)"
    )
    limit: Annotated[int, Field(ge=1, le=100)] = Field(default=25, description="without `around`")

    @model_validator(mode="after")
    def _paging_or_around(self) -> BoardQuery:
        if self.around is not None and {"offset", "limit"} & self.model_fields_set:
            raise _FieldError("offset", "page with offset and limit, or ask for the rows around a user")
        if self.around is None and "radius" in self.model_fields_set:
            raise _FieldError("radius", "radius goes with around")
        return self


class _FieldError(ValueError):
    """A cross-field problem naming its field (`server.api.endpoints.field_error` reports it there)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class BoardRowOut(Output):
    rank: int = Field(description="competition rank (1, 2, 2, 4), as the live topic's rows")
    member: str = Field(description="the user's id")
    handle: str
    display_name: str
    score: int | float = Field(description="XP, or the metric's total in its unit")


class BoardOut(Output):
    board: str
    period: Literal["daily", "weekly", "monthly", "all_time"]
    period_start: datetime | None = Field(description="UTC; null for all_time")
    period_end: datetime | None = Field(description="UTC, exclusive; null for all_time")
    ranked: int = Field(description="how many members the board has in the period")
    rows: list[BoardRowOut]
    me: BoardRowOut | None = Field(
        default=None, description="with `around`: that user's row, null when it has no score on the board"
    )


class TeamBoardQuery(Input):
    period: Literal["weekly", "all_time"] = "weekly"


class TeamStandingOut(Output):
    rank: int = Field(description="competition rank (1, 2, 2, 4); ties listed by slug")
    slug: str
    name: str
    members: int = Field(description="current members")
    score: int = Field(description="the members' XP: this UTC week (`weekly_xp`) or in all (`xp`)")


class TeamBoardOut(Output):
    period: Literal["weekly", "all_time"]
    teams: list[TeamStandingOut] = Field(description="teams that are not archived, best first")


# -- rules -----------------------------------------------------------------------------------------


class RuleProblemOut(Output):
    path: str = Field(description="dotted path in the rule set (empty: the document as a whole)")
    line: int | None = Field(description="1-based line of the YAML, when known")
    message: str


class RulesValidationOut(BaseModel):
    valid: bool
    version: int | None = Field(default=None, description="the validated rule set's version (when valid)")
    summary: dict[str, Any] | None = Field(default=None, description="when valid: as in GET /rules")
    problems: list[RuleProblemOut] = Field(default_factory=list, description="when not valid")
