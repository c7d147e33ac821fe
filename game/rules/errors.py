"""Errors raised when a rules file is not a valid rule set."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in a rules file: where it is, what was found there, and why it is wrong."""

    path: str
    message: str
    value: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(top level)"
        if self.line is not None:
            where += f" (line {self.line})"
        found = f" [found: {self.value}]" if self.value is not None else ""
        return f"{where}: {self.message}{found}"


class RulesInvalid(ValueError):
    """The rules file has one or more errors; `errors` lists every one of them."""

    def __init__(self, errors: list[RuleError], source: str = "rules") -> None:
        self.errors = tuple(errors)
        self.source = source
        lines = "\n".join(f"  - {error}" for error in self.errors)
        count = len(self.errors)
        super().__init__(f"{source}: {count} error{'s' if count != 1 else ''}\n{lines}")
