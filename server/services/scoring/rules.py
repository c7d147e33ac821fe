"""The current rule set and its engine, from the database; publishing new versions."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, RuleError, RuleSet, RulesInvalid, default_rules_text
from persistence import rules_store
from persistence.db import begin_write
from persistence.rules_store import StoredRules
from server.services.errors import Conflict, FieldIssue, InvalidRules


@dataclass(frozen=True, slots=True)
class RulesCheck:
    """The outcome of `RulesService.validate`: the rules when valid, else the problems."""

    rules: RuleSet | None
    problems: list[RuleError]


class RulesService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        initial_rules: Path | None = None,
        *,
        recheck_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.initial_rules = initial_rules
        self.recheck_seconds = recheck_seconds
        """Ask the database for a newer version at most this often: every hub snapshot and scored
        batch needs the engine, and a round trip each time was a tenth of a session's setup."""
        self._clock = clock
        self._checked_at = -math.inf
        self._cache = rules_store.EngineCache()
        self._current: StoredRules | None = None

    async def bootstrap(self) -> StoredRules:
        """Install the initial rules (a file, or the embedded default) when the database has none."""
        try:
            async with self.sessions() as session, session.begin():
                await begin_write(session)
                current = await rules_store.current_rules(session)
                if current is None:
                    body = (
                        self.initial_rules.read_text("utf-8") if self.initial_rules else default_rules_text()
                    )
                    current = await rules_store.publish(session, body, created_by="bootstrap")
        except (IntegrityError, rules_store.RuleVersionConflict):
            # Another node started at the same moment and installed them first (PostgreSQL does not
            # serialise the check and the insert): use theirs.
            async with self.sessions() as session:
                current = await rules_store.current_rules(session)
            if current is None:
                raise
        self._current = current
        return current

    async def current(self) -> StoredRules:
        # Another node (or worker) may have published a newer version: look, at most every recheck.
        now = self._clock()
        if self._current is not None and now - self._checked_at < self.recheck_seconds:
            return self._current
        self._checked_at = now
        async with self.sessions() as session:
            current = await rules_store.current_rules_if_newer(session, self._current)
        if current is not None:
            self._current = current
        if self._current is None:
            return await self.bootstrap()
        return self._current

    async def engine(self) -> Engine:
        return self._cache.engine_for((await self.current()).rules)

    async def rules(self) -> RuleSet:
        return (await self.current()).rules

    async def validate(self, body: str) -> RulesCheck:
        """Exactly what `publish` checks (the engine's validation, then that the version may follow the
        current one), each problem as a `game.RuleError`; writes nothing."""
        try:
            async with self.sessions() as session:
                rules = await rules_store.check(session, body)
        except RulesInvalid as invalid:
            return RulesCheck(None, list(invalid.errors))
        except rules_store.RuleVersionConflict as exc:
            path = "version" if str(exc).startswith("version") else ""
            return RulesCheck(None, [RuleError(path, str(exc), line=_top_level_line(body, path))])
        return RulesCheck(rules, [])

    async def publish(self, body: str, created_by: str) -> StoredRules:
        try:
            async with self.sessions() as session, session.begin():
                await begin_write(session)
                stored = await rules_store.publish(session, body, created_by)
        except RulesInvalid as invalid:
            errors = [
                FieldIssue(
                    field="yaml" + (f".{e.path}" if e.path else ""),
                    message=e.message
                    + (f" (line {e.line})" if e.line is not None else "")
                    + (f" [found: {e.value}]" if e.value is not None else ""),
                    code="invalid_rule",
                )
                for e in invalid.errors
            ]
            detail = f"the rule set has {len(errors)} error{'s' if len(errors) != 1 else ''}"
            raise InvalidRules(detail, errors) from None
        except rules_store.RuleVersionConflict as exc:
            raise Conflict(str(exc)) from None
        self._current = stored
        return stored


def _top_level_line(body: str, key: str) -> int | None:
    """The 1-based line of a top-level key of a YAML mapping (the body has parsed already)."""
    if not key:
        return None
    try:
        node = yaml.compose(body, Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # pragma: no cover (the engine parsed it)
        return None
    if not isinstance(node, yaml.MappingNode):  # pragma: no cover (the engine demands a mapping)
        return None
    for name, _value in node.value:
        if isinstance(name, yaml.ScalarNode) and name.value == key:
            return int(name.start_mark.line) + 1
    return None  # pragma: no cover (the version was read from it)
