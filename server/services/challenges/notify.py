"""How the parts that change a challenge (scoring its events, starting it, finishing it) tell the live
scoreboard (`challenge:{id}` topics) to publish: after their transaction commits, they call
``changed(ids)``; the scoreboard publishes from the database, coalesced, so a hot challenge costs its
watchers a bounded number of frames a second."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class ChallengeNotifier(Protocol):
    def changed(self, challenge_ids: Iterable[str]) -> None:
        """The challenges' scores or states changed (committed). Must not block or raise."""


class NoNotifier:
    """Nobody watches (tests of the parts alone, commands)."""

    def changed(self, challenge_ids: Iterable[str]) -> None:
        return None
