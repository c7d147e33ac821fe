"""/rules: the current rule set and its versions; admins publish new versions."""

from __future__ import annotations

from typing import Any

from game import RuleSet
from persistence.rules_store import StoredRules, list_versions
from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import RulesIn, RulesOut, RuleVersionOut, RuleVersionsOut
from server.api.schemas_boards import RuleProblemOut, RulesValidationOut


def summary(rules: RuleSet) -> dict[str, Any]:
    thresholds = rules.level_thresholds
    return {
        "metrics": sorted(rules.metrics),
        # What screens call them ("Pull requests merged", not `prs_merged`).
        "metric_names": {metric_id: rules.metrics[metric_id].name for metric_id in sorted(rules.metrics)},
        "badges": sorted(rules.badges),
        "missions": sorted(rules.missions),
        "streaks": sorted(rules.streaks),
        "boosts": sorted(rules.boosts),
        "levels": len(thresholds),
        "top_level_xp": thresholds[-1],
    }


def rules_out(stored: StoredRules) -> RulesOut:
    row = stored.row
    return RulesOut(
        version=row.version,
        ruleset=row.ruleset,
        fingerprint=row.fingerprint,
        created_at=row.created_at,
        created_by=row.created_by,
        yaml=stored.body,
        summary=summary(stored.rules),
    )


@api.route("GET", "/rules", summary="The current rule set", tag="rules", response=RulesOut)
async def get_rules(call: Call[None, None]) -> RulesOut:
    return rules_out(await call.services.rules.current())


@api.route(
    "GET",
    "/rules/versions",
    summary="Every rule-set version, newest first",
    tag="rules",
    response=RuleVersionsOut,
)
async def get_rule_versions(call: Call[None, None]) -> RuleVersionsOut:
    async with call.services.sessions() as session:
        rows = await list_versions(session)
    return RuleVersionsOut(versions=[RuleVersionOut.model_validate(row) for row in rows])


@api.route(
    "PUT",
    "/rules",
    summary="Publish a new rule-set version (validated first)",
    tag="rules",
    auth="admin",
    body=RulesIn,
    response=RulesOut,
    status=201,
    errors=(409,),
)
async def put_rules(call: Call[RulesIn, None]) -> RulesOut:
    """The YAML is validated by the engine; errors name their path and line. The version must increase."""
    return rules_out(await call.services.rules.publish(call.body.yaml, call.who.label))


@api.route(
    "POST",
    "/rules/validate",
    summary="Validate a rule set without publishing it",
    tag="rules",
    auth="admin",
    body=RulesIn,
    response=RulesValidationOut,
)
async def validate_rules(call: Call[RulesIn, None]) -> RulesValidationOut:
    """The checks `PUT /rules` makes (the engine's validation, each problem with its path and line; the
    version must be greater than the current one), answered as 200 either way. Nothing is written."""
    checked = await call.services.rules.validate(call.body.yaml)
    if checked.rules is None:
        problems = [
            RuleProblemOut(
                path=e.path,
                line=e.line,
                message=e.message + (f" [found: {e.value}]" if e.value is not None else ""),
            )
            for e in checked.problems
        ]
        return RulesValidationOut(valid=False, problems=problems)
    return RulesValidationOut(valid=True, version=checked.rules.version, summary=summary(checked.rules))
