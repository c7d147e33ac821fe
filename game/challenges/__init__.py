"""Team challenges: time-boxed competitions between teams on metrics, scored tick-free from the same
events as everything else (see `definition` for what a challenge is, `standings` for how it is won)."""

from .definition import (
    ChallengeDefinition,
    ChallengeProblem,
    Mode,
    RankReward,
    Reward,
    Scoring,
    check,
)
from .standings import (
    ChallengeState,
    Combined,
    MemberContribution,
    Results,
    Standings,
    TeamReward,
    TeamStanding,
    TeamTally,
    document,
    results,
    standings,
)

__all__ = [
    "ChallengeDefinition",
    "ChallengeProblem",
    "ChallengeState",
    "Combined",
    "MemberContribution",
    "Mode",
    "RankReward",
    "Results",
    "Reward",
    "Scoring",
    "Standings",
    "TeamReward",
    "TeamStanding",
    "TeamTally",
    "check",
    "document",
    "results",
    "standings",
]
