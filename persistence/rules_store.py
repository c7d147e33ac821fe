"""Rule-set versions in the database: the newest version is the current one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from game import Engine, RuleSet, parse_rules_yaml

from .models import RuleSetVersion


class RuleVersionConflict(ValueError):
    """The submitted rule set cannot become a new version (its version or content is not new)."""


@dataclass(frozen=True, slots=True)
class StoredRules:
    rules: RuleSet
    body: str
    row: RuleSetVersion


async def current_rules(session: AsyncSession) -> StoredRules | None:
    row = await session.scalar(select(RuleSetVersion).order_by(RuleSetVersion.version.desc()).limit(1))
    if row is None:
        return None
    return StoredRules(parse_rules_yaml(row.body, source=f"rules v{row.version}"), row.body, row)


async def current_rules_if_newer(session: AsyncSession, known: StoredRules | None) -> StoredRules | None:
    """The current rules if they differ from `known` (one cheap query when they do not)."""
    newest = await session.scalar(select(func.max(RuleSetVersion.version)))
    if newest is None or (known is not None and known.row.version == newest):
        return None
    return await current_rules(session)


async def list_versions(session: AsyncSession) -> list[RuleSetVersion]:
    return list(await session.scalars(select(RuleSetVersion).order_by(RuleSetVersion.version.desc())))


async def check(session: AsyncSession, body: str) -> RuleSet:
    """What `publish` checks before it writes: the rules YAML is valid (raises game.RulesInvalid) and may
    follow the current version (raises RuleVersionConflict). Writes nothing."""
    rules = parse_rules_yaml(body, source="submitted rules")
    current = await current_rules(session)
    if current is not None and rules.version <= current.rules.version:
        raise RuleVersionConflict(
            f"version must be greater than the current version {current.rules.version}, got {rules.version}"
        )
    if current is not None and _content(current.rules) == _content(rules):
        same = current.rules.version
        raise RuleVersionConflict(f"this rule set is identical to version {same} except for the number")
    return rules


async def publish(session: AsyncSession, body: str, created_by: str | None) -> StoredRules:
    """Validate a rules YAML (raises game.RulesInvalid) and store it as the new current version."""
    rules = await check(session, body)
    row = RuleSetVersion(
        version=rules.version,
        ruleset=rules.ruleset,
        fingerprint=rules.fingerprint,
        body=body,
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return StoredRules(rules, body, row)


def _content(rules: RuleSet) -> dict[str, object]:
    return rules.model_dump(exclude={"version"})


class EngineCache:
    """One Engine per rule-set version: building one compiles the rules, so keep it."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}

    def engine_for(self, rules: RuleSet) -> Engine:
        engine = self._engines.get(rules.fingerprint)
        if engine is None:
            engine = self._engines[rules.fingerprint] = Engine(rules)
        return engine
