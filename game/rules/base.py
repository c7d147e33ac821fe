"""Shared building blocks of the rule-set models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Ids appear in explanations, URLs and topic names, so they are short, lower-case slugs.
RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


class Rule(BaseModel):
    """Base of every rules-file model: unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
