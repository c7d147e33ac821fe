"""Leaderboards in Redis: by XP and by metric, per period, for users and teams, with an exact tie-break.

Redis is a cache here: PostgreSQL (``xp_ledger``, ``metric_events``, ``team_memberships``) is the truth,
and `Leaderboards.rebuild` recomputes every board from it. Live, `Leaderboards.record` adds each batch of
awards in one atomic Lua script. This package does not import the server: callers publish deltas from
the `BoardChange` list that `record` returns.

Boards and periods
    A board is ``xp`` or a metric id. Scores are integers in a board's units: XP, or thousandths of the
    metric's value (rounded per award, so sums are exact: 0.1 + 0.2 ties with 0.3). XP counts when it
    was awarded (the ledger's ``created_at``), a metric value when the work happened (``occurred_at``),
    as ``server.services.topics.rows`` counts them. Each award counts in four periods: ``all_time``, and
    the ``daily``, ``weekly`` and ``monthly`` periods containing its time in the configured timezone (weeks
    start on ``week_starts``). A period is one set of keys ("key per period"): a new period starts on
    empty keys, nothing is ever reset. A period's keys expire ``retention_days`` after it ends (EXPIREAT,
    set by every write); a late award for a period already past that is skipped for that period.
    An award of 0 units changes nothing (it does not put a member on a board).

Key layout, under ``prefix`` (``gamif:`` in production), for each board and period:
    ``{prefix}lb:{board}:{kind}:{period}``, ``{period}`` being ``all``, ``d:2026-11-23`` (a day),
    ``w:2026-11-23`` (the week starting that day), ``m:2026-11`` (a month), and ``{kind}``:

    - ``u``: sorted set of users; ``ut``: hash user id -> time code (see below);
    - ``t``: sorted set of teams by the sum of their members' contributions; ``ta``: sorted set of teams by
      that sum divided by the number of members who contributed in the period; ``tt``: hash slug -> time
      code; ``tn``: hash slug -> number of contributors; ``tm``: set of ``"{slug} {user id}"``
      contributions (so that a contributor is counted once).

    A contribution counts for the teams the user belonged to at the award's time (`TeamHistory`).
    A rebuild writes under ``{prefix}lb-rebuild:{random}:...`` first. Beside the boards (a rebuild
    leaves them): ``{prefix}lb-state:records``, a counter every record increments, and
    ``{prefix}lb-state:dirty``, set while the boards may disagree with the database (`mark_dirty`).
    All keys of a batch are touched by one script, so the layout is for a single Redis server (not
    Redis Cluster).

Ordering and the tie-break
    A sorted-set entry is ``{time code}{member}`` and its score is the negated points (sorted sets sort
    ascending; negating keeps integers exact). The time code is the member's *achievement time* in
    milliseconds since the Unix epoch, as 13 digits: the latest time among the awards that make up its
    score in this period (for a team: among all its contributions). Redis orders equal scores by entry,
    byte by byte, so among equal scores the earlier achiever comes first, and at the same millisecond the
    member id in code point order (as PROTOCOL.md §9 orders ties). The order is total and deterministic,
    and independent of the order awards are recorded in (a late award with an older time does not move
    its member behind). Ranks are competition ranks (1, 2, 2, 4): members with equal scores share a rank
    and are listed in tie-break order; ``position`` is the place in that order.

    Limits: scores are exact while their absolute value stays below 2**53 units (XP: 9.0e15; metrics:
    9.0e12 in the metric's unit); times from 1970 to 2286, to the millisecond (two awards in the same
    millisecond tie on time; XP awarded in one scoring batch shares its time, so those ties go to the
    member id). Team averages are doubles (the correctly rounded quotient of two exact integers): equal
    averages always tie, but two different averages a/n and b/m can round to the same double once they
    exceed about 2**52 / (n * m) units (4.5e11 units with 100 contributors each; 4.5e7 with 10,000), and
    then compare as equal and fall to the tie-break.

Recording (what a rebuild reproduces)
    One `Award` per ledger line (``"xp"``, ``amount``, ``created_at``) and one per accepted metric event
    (its metric, ``value``, ``occurred_at``), with ``teams=history.teams_at(user_id, at)`` from a
    `TeamHistory` loaded for the batch's users; record them after the scoring transaction commits (a
    failed commit must not leave awards in Redis). Merging awards before recording would round metric
    values differently than a rebuild does.

Atomicity and retries
    `record` is one EVALSHA: Redis runs it without interleaving other commands, so readers see a batch
    entirely or not at all. (A script that fails half way is not rolled back: the inputs are validated
    before sending, so only a foreign key of the wrong type under the prefix, or a server out of memory,
    could do that; `rebuild` repairs it.) It is not idempotent: the caller records each award once, and
    it is sent once, never resent by the client's retries. A caller whose record failed marks the
    boards dirty; ``rebuild(exclusive=True)`` repairs them while writers run (it swaps only if the
    records counter and the dirty mark did not change meanwhile, and clears the mark). Reads are
    single scripts too, so a page's rows and ranks are consistent with each other.

Differences from the database snapshot of ``server.services.topics.directory``: that one shows users whose
metric events are all worth 0 thousandths and hides disabled users; ties there go by member id only; its
periods are UTC ones (the same as here with the default timezone).
"""

from game.periods import WeekStart

from .boards import (
    DEFAULT_RETENTION_DAYS,
    BoardChange,
    Leaderboards,
    Page,
    RebuildProgress,
    RebuildStats,
    RecordedMeanwhile,
    Row,
    Standing,
)
from .layout import PERIODS, SCOPES, XP_BOARD, Calendar, Period, PeriodSpan, Scope, cast_period
from .plan import Award
from .sources import TeamHistory

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "PERIODS",
    "SCOPES",
    "XP_BOARD",
    "Award",
    "BoardChange",
    "Calendar",
    "Leaderboards",
    "Page",
    "Period",
    "PeriodSpan",
    "RebuildProgress",
    "RebuildStats",
    "RecordedMeanwhile",
    "Row",
    "Scope",
    "Standing",
    "TeamHistory",
    "WeekStart",
    "cast_period",
]
