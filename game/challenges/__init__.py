"""Team challenges: time-boxed competitions between teams on metrics, scored tick-free from the same
events as everything else (see `definition` for what a challenge is)."""

from .definition import (
    ChallengeDefinition,
    ChallengeProblem,
    Mode,
    RankReward,
    Reward,
    Scoring,
    check,
)

__all__ = [
    "ChallengeDefinition",
    "ChallengeProblem",
    "Mode",
    "RankReward",
    "Reward",
    "Scoring",
    "check",
]
