"""`gamif rules`, `gamif simulate`, `gamif backtest` and the engine demo behind `gamif run`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any

from game import (
    BadgeEarned,
    Effect,
    Engine,
    EventFileError,
    LevelUp,
    MetricEvent,
    MissionCompleted,
    RuleSet,
    RulesInvalid,
    StreakBroken,
    UnknownTimezone,
    UserState,
    XpAwarded,
    default_rules,
    effect_dict,
    load_rules,
    read_events,
    read_users,
    sample_events,
    sample_users,
)
from game import (
    backtest as run_backtest,
)
from game import (
    simulate as run_simulation,
)
from game.rules import default_rules_text


class CommandError(Exception):
    """A problem with what the user asked for: printed to stderr, exit status 1."""


def _fail(error: Exception) -> int:
    print(f"gamif: {error}", file=sys.stderr)
    return 1


def _rules(path: str | None) -> RuleSet:
    return default_rules() if path is None else load_rules(path)


def _events_and_zones(args: argparse.Namespace) -> tuple[list[MetricEvent], dict[str, str]]:
    events = sample_events() if args.events is None else read_events(args.events)
    if args.users is not None:
        zones = read_users(args.users)
    else:
        zones = sample_users() if args.events is None else {}
    return events, zones


def rules_check(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.file)
    except RulesInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 1
    print(f"{args.file}: OK: {describe(rules)}")
    return 0


def describe(rules: RuleSet) -> str:
    thresholds = rules.level_thresholds
    counts = {
        "metric": len(rules.metrics),
        "streak": len(rules.streaks),
        "boost": len(rules.boosts),
        "badge": len(rules.badges),
        "mission": len(rules.missions),
    }
    parts = [f"{n} {noun}{'' if n == 1 else 's'}" for noun, n in counts.items()]
    top = len(thresholds)
    parts.append(f"{top} levels (level 2 at {thresholds[1]:,} XP, level {top} at {thresholds[-1]:,} XP)")
    return f"{rules.ruleset} v{rules.version} (fingerprint {rules.fingerprint}): " + ", ".join(parts)


def rules_default(_args: argparse.Namespace) -> int:
    sys.stdout.write(default_rules_text())
    return 0


# -- simulate -------------------------------------------------------------------------------------


def simulate(args: argparse.Namespace) -> int:
    try:
        rules = _rules(args.rules)
        events, zones = _events_and_zones(args)
        if args.user:
            wanted = set(args.user)
            events = [e for e in events if e.user_id in wanted]
            if missing := wanted - {e.user_id for e in events}:
                raise CommandError(f"no events for user(s): {', '.join(sorted(missing))}")
        engine = Engine(rules)
        runs = run_simulation(engine, events, zones)
    except (RulesInvalid, EventFileError, UnknownTimezone, CommandError) as error:
        return _fail(error)
    if args.json:
        report = {
            "ruleset": rules.ruleset,
            "version": rules.version,
            "fingerprint": rules.fingerprint,
            "users": {
                user: {
                    **_state_summary(engine, run.state),
                    "effects": [effect_dict(e) for e in run.effects],
                    "rejected": [dataclasses.asdict(r) for r in run.rejected],
                    "duplicates": run.duplicates,
                }
                for user, run in runs.items()
            },
        }
        print(json.dumps(report, indent=2, default=str))
        return 0
    scored = sum(len(run.state.seen) for run in runs.values())
    duplicates = sum(len(run.duplicates) for run in runs.values())
    rejected = sum(len(run.rejected) for run in runs.values())
    print(f"{describe(rules)}")
    print(f"{len(events):,} events: {scored:,} scored, {duplicates:,} duplicate, {rejected:,} rejected\n")
    print(_table(engine, [run.state for run in runs.values()]))
    if args.summary:
        return 0
    for user, run in runs.items():
        print(f"\n== {user} ({run.state.timezone})")
        print(f"   {_standing(engine, run.state)}")
        for effect in run.effects:
            if line := award_line(effect):
                print(f"   {line}")
        for rejection in run.rejected:
            print(f"   rejected {rejection.event_id}: {rejection.code}: {rejection.reason}")
        if run.duplicates:
            print(f"   duplicates (counted once): {', '.join(run.duplicates)}")
    return 0


def award_line(effect: Effect) -> str | None:
    """One line per award (mission progress and streak ticks are left to --json)."""
    text = effect.explanation.text
    match effect:
        case XpAwarded(amount=amount):
            return f"+{amount:>4,} XP  {text}"
        case LevelUp():
            return f"LEVEL UP  {text}"
        case BadgeEarned(secret=secret):
            return f"BADGE     {text}" + ("  [secret]" if secret else "")
        case MissionCompleted():
            return f"MISSION   {text}"
        case StreakBroken():
            return f"STREAK    {text}"
    return None


def _state_summary(engine: Engine, state: UserState) -> dict[str, Any]:
    progress = engine.progress(state)
    return {
        "timezone": state.timezone,
        "xp": state.xp,
        "level": state.level,
        "next_level_xp": progress.next_level_xp,
        "badges": state.badges,
        "streaks": {k: {"current": v.current, "best": v.best} for k, v in state.streaks.items()},
    }


def _standing(engine: Engine, state: UserState) -> str:
    progress = engine.progress(state)
    nxt = f"{progress.fraction:.0%} to level {state.level + 1}" if progress.next_level_xp else "top level"
    streaks = (
        ", ".join(f"{k} {v.current} (best {v.best})" for k, v in sorted(state.streaks.items())) or "none"
    )
    return f"{state.xp:,} XP, level {state.level} ({nxt}); streaks: {streaks}"


def _badge_list(rules: RuleSet, state: UserState) -> str:
    names = []
    for badge_id, tiers in sorted(state.badges.items()):
        badge = rules.badges[badge_id]
        tier = f" ({list(badge.tiers)[tiers - 1]})" if badge.tiers else ""
        repeats = sum(1 for (b, _), _t in state.repeat_badges.items() if b == badge_id)
        names.append(badge.name + tier + (f" ×{repeats}" if repeats > 1 else ""))
    return ", ".join(names) or "-"


def _table(engine: Engine, states: Iterable[UserState]) -> str:
    rows = sorted(states, key=lambda s: (-s.xp, s.user_id))
    lines = [f"{'#':>3}  {'user':<12} {'XP':>7}  {'level':>5}  badges"]
    for rank, state in enumerate(rows, 1):
        badges = _badge_list(engine.rules, state)
        lines.append(f"{rank:>3}  {state.user_id:<12} {state.xp:>7,}  {state.level:>5}  {badges}")
    return "\n".join(lines)


# -- backtest -------------------------------------------------------------------------------------


def backtest(args: argparse.Namespace) -> int:
    try:
        current = _rules(args.rules)
        draft = load_rules(args.draft)
        events, zones = _events_and_zones(args)
        report = run_backtest(current, draft, events, zones)
    except (RulesInvalid, EventFileError, UnknownTimezone) as error:
        return _fail(error)
    if args.json:
        print(
            json.dumps(
                {
                    "current": {"ruleset": current.ruleset, "version": current.version},
                    "draft": {"ruleset": draft.ruleset, "version": draft.version},
                    "totals": {
                        "users": len(report.users),
                        "users_changed": sum(1 for u in report.users if u.changed),
                        "xp_current": report.xp_current,
                        "xp_delta": report.xp_delta,
                        "levels_up": report.levels_up,
                        "levels_down": report.levels_down,
                        "badges_gained": dict(report.badges_gained),
                        "badges_lost": dict(report.badges_lost),
                    },
                    "users": [{**dataclasses.asdict(u), "xp_delta": u.xp_delta} for u in report.users],
                },
                indent=2,
            )
        )
        return 0
    print(f"backtest: {current.ruleset} v{current.version} -> draft {draft.ruleset} v{draft.version}")
    print(f"{len(events):,} events of {len(report.users):,} users replayed under both rule sets\n")
    print(f"{'user':<12} {'XP now':>8} {'XP draft':>9} {'change':>8}  {'level':>7}  badges")
    for user in report.users:
        if not (user.changed or args.all):
            continue
        level = (
            f"{user.level_current}"
            if user.level_draft == user.level_current
            else (f"{user.level_current}->{user.level_draft}")
        )
        badges = [f"+{b}" for b in _grouped(user.badges_gained)] + [
            f"-{b}" for b in _grouped(user.badges_lost)
        ]
        print(
            f"{user.user_id:<12} {user.xp_current:>8,} {user.xp_draft:>9,} {user.xp_delta:>+8,}  {level:>7}  "
            + (", ".join(badges) or "-")
        )
    changed = sum(1 for u in report.users if u.changed)
    share = report.xp_delta / report.xp_current if report.xp_current else 0.0
    print(f"\ntotal: {changed} of {len(report.users)} users change; XP {report.xp_delta:+,} ({share:+.1%})")
    print(f"levels: {report.levels_up} up, {report.levels_down} down")
    print(f"badges gained: {_counts(report.badges_gained)}")
    print(f"badges lost:   {_counts(report.badges_lost)}")
    return 0


def _grouped(labels: Iterable[str]) -> list[str]:
    return [label + (f" ×{n}" if n > 1 else "") for label, n in sorted(Counter(labels).items())]


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{label} ×{n}" for label, n in sorted(counter.items())) or "none"
