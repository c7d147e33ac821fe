"""Which challenges and teams a scored event counts for, and how much it adds: pure, so the scoring
transaction (which gives it the open challenges, the batch's events and their XP, and the membership
history) and the tests agree on one reading of the rules.

An event counts for a challenge when:

- the challenge is open (stored state ``scheduled`` or ``live``; a finished one has frozen results);
- its metric is one of the challenge's metrics;
- it occurred inside the window (``counts_at``: start included, end excluded);
- its batch was received by ``closes_at`` (late events count through the grace period).

It counts for the teams the user belonged to when it occurred, among those taking part (all when the
definition lists none). A user in two participating teams at that instant counts for each: membership is
what the history says, and splitting the work between teams would make neither total right. A user in no
participating team adds nothing.

What it adds: its value (``sum``, ``average_per_member``: the division is the team's, at scoring time), or
the XP the rules awarded for it (``points``, after caps and tiers: see `metric_xp`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from game.effects import Effect, XpAwarded
from game.events import MetricEvent
from game.rules import RuleSet
from game.scoring import MetricScorer
from game.state import MILLI

from .definition import ChallengeDefinition, Mode, Scoring
from .standings import SCORE_DIGITS

OPEN_STATES = frozenset({"scheduled", "live"})
"""Stored states whose challenges still take events (``finished`` ones have frozen results)."""

Key = tuple[str, str, str]
"""(challenge id, team slug, user id): one ``challenge_scores`` row."""

TeamsAt = Callable[[str, datetime], Sequence[str]]
"""The slugs of the teams a user belonged to at an instant (the membership history)."""


@dataclass(slots=True)
class Tally:
    """What a batch adds to one member's row: the sum of contributions, and how many events."""

    total: float = 0.0
    events: int = 0


def counts_for(definition: ChallengeDefinition, event: MetricEvent, received_at: datetime) -> bool:
    """Whether an event of an open challenge's metric counts, given when its batch was received."""
    return (
        event.metric in definition.metrics
        and definition.counts_at(event.occurred_at)
        and received_at <= definition.closes_at
    )


def teams_for(definition: ChallengeDefinition, teams: Iterable[str]) -> tuple[str, ...]:
    """The participating teams among ``teams`` (a user's teams at the event's time)."""
    listed = definition.teams
    return tuple(slug for slug in teams if listed is None or slug in listed)


def contribution(definition: ChallengeDefinition, event: MetricEvent, xp: Mapping[str, int]) -> float:
    """What the event adds to its member's total: XP for ``points`` (``xp`` by event id), else its value."""
    if definition.scoring is Scoring.POINTS:
        return float(xp.get(event.id, 0))
    return float(event.value)


def attribute(
    challenges: Iterable[ChallengeDefinition],
    events: Iterable[MetricEvent],
    teams_at: TeamsAt,
    received_at: datetime,
    xp: Mapping[str, int] | None = None,
) -> dict[Key, Tally]:
    """Each (challenge, team, user)'s additions from a batch's accepted events. ``challenges``: the open
    ones (see `OPEN_STATES`); ``xp``: the metric XP awarded per event id (``points`` only, `metric_xp`)."""
    awarded = xp or {}
    challenges = list(challenges)
    tallies: dict[Key, Tally] = defaultdict(Tally)
    for event in events:
        teams: Sequence[str] | None = None  # looked up once per event, and only if a challenge wants it
        for definition in challenges:
            if not counts_for(definition, event, received_at):
                continue
            if teams is None:
                teams = teams_at(event.user_id, event.occurred_at)
            amount = contribution(definition, event, awarded)
            for slug in teams_for(definition, teams):
                tally = tallies[definition.id, slug, event.user_id]
                tally.total += amount
                tally.events += 1
    return dict(tallies)


def metric_xp(rules: RuleSet, effects: Iterable[Effect], events: Iterable[MetricEvent]) -> dict[str, int]:
    """The XP the rules awarded for each event, by event id, from an outcome's effects.

    The engine awards metric XP per (metric, local day) group of a batch, after the daily cap, naming the
    group's events. A group of one event is that event's XP. A group of several is split in proportion to
    each event's XP before the daily cap (the largest remainders take the leftover units, ties by event id),
    so the parts are whole and add up to the award exactly. Mission, badge and reward XP is for no one event.
    Only the given events are in the result.
    """
    by_id = {event.id: event for event in events}
    scorers: dict[str, MetricScorer] = {}

    def raw(event_id: str) -> int:
        event = by_id.get(event_id)
        if event is None:  # not one of the given events: it takes no share
            return 0
        scorer = scorers.get(event.metric)
        if scorer is None:
            scorer = scorers[event.metric] = MetricScorer(
                event.metric, rules.metrics[event.metric], rules.boosts
            )
        return scorer.score(round(event.value * MILLI), event.occurred_at).xp

    shares: dict[str, int] = defaultdict(int)
    for effect in effects:
        if not isinstance(effect, XpAwarded) or effect.source != "metric":
            continue
        ids = effect.explanation.event_ids
        if len(ids) == 1:
            shares[ids[0]] += effect.amount
            continue
        for event_id, part in split(effect.amount, {event_id: raw(event_id) for event_id in ids}).items():
            shares[event_id] += part
    return {event_id: amount for event_id, amount in shares.items() if event_id in by_id}


def split(amount: int, weights: Mapping[str, int]) -> dict[str, int]:
    """``amount`` in whole parts proportional to ``weights`` (largest remainder; ties by key). All zero
    when the weights are."""
    total = sum(weights.values())
    if total <= 0:
        return dict.fromkeys(weights, 0)
    parts = {key: amount * weight // total for key, weight in weights.items()}
    leftover = amount - sum(parts.values())
    by_remainder = sorted(weights, key=lambda key: (-(amount * weights[key] % total), key))
    for key in by_remainder[:leftover]:
        parts[key] += 1
    return parts


def reached_goal(definition: ChallengeDefinition, total: float, member_count: int) -> bool:
    """Whether a team's summed total reaches a ``first_to_goal`` challenge's goal: ``average_per_member``
    divides it by the member count (at least 1), and the score is rounded, as the standings do."""
    if definition.mode is not Mode.FIRST_TO_GOAL or definition.goal is None:
        return False
    score = total / max(member_count, 1) if definition.scoring is Scoring.AVERAGE_PER_MEMBER else total
    return round(score, SCORE_DIGITS) >= definition.goal
