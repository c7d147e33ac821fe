"""`Leaderboards`: record awards, read boards, rebuild them from the database (see the package docstring)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game.periods import WeekStart

from .layout import (
    CODE_DIGITS,
    KINDS,
    TIMES_OF_SCOPE,
    ZSET_OF_SCOPE,
    Calendar,
    KeyNames,
    Period,
    PeriodSpan,
    Scope,
    cast_period,
    cast_scope,
    check_board,
    from_units,
    time_code,
    unix_seconds_ceil,
)
from .plan import Award, Plan, Tally, fold
from .scripts import GROUP_SIZE, PAGE, RECORD, STANDING
from .sources import TeamHistory, count_rows, metric_awards, xp_awards

Clock = Callable[[], datetime]

DEFAULT_RETENTION_DAYS = 90
REBUILD_TTL_SECONDS = 24 * 3600
"""Keys of a rebuild that died half way expire after this."""
_WRITE_CHUNK = 1_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Row:
    """A board row: ``rank`` is the competition rank (1, 2, 2, 4), ``position`` the 1-based place in the
    tie-broken order, ``achieved_ms`` the time that breaks ties (earlier first)."""

    member: str
    score: int | float
    rank: int
    position: int
    achieved_ms: int


@dataclass(frozen=True, slots=True)
class Page:
    """Rows of one board in one period; ``ranked``: how many members it has in all."""

    board: str
    scope: Scope
    span: PeriodSpan
    ranked: int
    rows: list[Row]


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's place: ``gap`` is what it lacks to tie the next better score (None at the top)."""

    member: str
    score: int | float
    rank: int
    position: int
    ranked: int
    achieved_ms: int
    gap: int | float | None


@dataclass(frozen=True, slots=True)
class BoardChange:
    """A member whose score a `record` call changed, on one board, scope and period, as of the end of
    the batch. ``previous`` and ``previous_rank`` (its competition rank before the batch) are None when it
    was not on the board before."""

    board: str
    scope: Scope
    span: PeriodSpan
    member: str
    previous: int | float | None
    score: int | float
    rank: int
    position: int
    ranked: int
    previous_rank: int | None = None


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    """``stage``: ``reading`` (``done`` of ``total`` database rows), ``writing`` (``done`` of ``total``
    boards), ``swapping`` (``total`` keys), then ``done``."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class RebuildStats:
    ledger_rows: int
    metric_rows: int
    boards: int
    """(board, period) pairs written."""
    entries: int
    """Sorted-set entries written (users, team sums and team averages)."""
    keys_written: int
    keys_removed: int
    """Leaderboard keys that existed before and have no counterpart in the database any more."""
    seconds: float


class RecordedMeanwhile(Exception):
    """An exclusive rebuild saw a batch recorded (or a failure marked dirty) while it ran: not swapped."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Leaderboards:
    """Leaderboards in Redis under ``prefix``, periods in ``timezone`` (weeks from ``week_starts``), past
    periods kept ``retention_days`` after they end. ``clock`` gives "now" for reads without ``at``."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "gamif:",
        timezone: str = "UTC",
        week_starts: WeekStart = "monday",
        retention_days: int = DEFAULT_RETENTION_DAYS,
        clock: Clock = _utcnow,
    ) -> None:
        if retention_days < 0:
            raise ValueError("retention_days cannot be negative")
        self.redis = redis
        self.names = KeyNames(prefix)
        self.calendar = Calendar(timezone, week_starts)
        self.retention = timedelta(days=retention_days)
        self.clock = clock

    # -- periods and keys ---------------------------------------------------------------------------

    def span(self, period: Period, at: datetime | None = None) -> PeriodSpan:
        """The period of kind ``period`` containing ``at`` (default: now)."""
        return self.calendar.span(cast_period(period), at or self.clock())

    def key(self, board: str, scope: Scope, period: Period, at: datetime | None = None) -> str:
        """The sorted set of a board, scope and period."""
        return self.names.key(check_board(board), ZSET_OF_SCOPE[cast_scope(scope)], self.span(period, at))

    def _plan(self, now: datetime) -> Plan:
        return Plan(self.calendar, self.retention, unix_seconds_ceil(now))

    # -- writing ------------------------------------------------------------------------------------

    async def record(self, awards: Sequence[Award], *, now: datetime | None = None) -> list[BoardChange]:
        """Add a batch of awards to every board and period they count for, in one atomic script.

        Not idempotent: recording an award twice counts it twice. The caller records each award exactly
        once (the scoring transaction decides which are new); the script is sent once, never retried, so
        a lost connection leaves it unknown whether it was applied: `rebuild` repairs that.
        Periods whose retention has ended by ``now`` (default: the clock) are skipped for late awards.

        Returns each touched member's new score, rank and position, per board, scope and period (team
        awards change both ``team`` and ``team_avg``), ranks as of the end of the batch."""
        plan = self._plan(now or self.clock())
        plan.extend(awards)
        if not plan.users:
            return []
        keys: list[str] = []
        args: list[str | int] = [len(plan.groups)]
        for group in plan.groups:
            keys.extend(self.names.group(group.board, group.span))
            args.append(group.expire_at or 0)
        args.append(
            "".join(
                f"{i + 1} {units} {time_code(ms)} {user}\n" for (i, user), (units, ms) in plan.users.items()
            )
        )
        args.append(
            "".join(
                f"{i + 1} {units} {time_code(ms)} {team} {user}\n"
                for (i, team, user), (units, ms) in plan.teams.items()
            )
        )
        keys.append(self.names.records)
        reply = _text(await RECORD.write_once(self.redis, keys, args))
        changes = []
        for line in reply.split("\n") if reply else ():
            key_index, previous, previous_rank, score, rank, position, ranked, member = line.split(" ", 7)
            group = plan.groups[(int(key_index) - 1) // GROUP_SIZE]
            changes.append(
                BoardChange(
                    board=group.board,
                    scope=_SCOPE_OF_KIND[KINDS[(int(key_index) - 1) % GROUP_SIZE]],
                    span=group.span,
                    member=member,
                    previous=from_units(group.board, -float(previous)) if previous else None,
                    score=from_units(group.board, -float(score)),
                    rank=int(rank),
                    position=int(position),
                    ranked=int(ranked),
                    previous_rank=int(previous_rank) if previous_rank else None,
                )
            )
        return changes

    # -- reading ------------------------------------------------------------------------------------

    async def top(
        self,
        board: str,
        period: Period,
        *,
        scope: Scope = "user",
        offset: int = 0,
        limit: int = 100,
        at: datetime | None = None,
    ) -> Page:
        """Rows ``offset`` to ``offset + limit - 1`` (0-based positions) of the board, best first."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit cannot be negative")
        return await self._page(board, period, scope, at, offset, limit, "")

    async def around(
        self,
        board: str,
        period: Period,
        member: str,
        k: int = 5,
        *,
        scope: Scope = "user",
        at: datetime | None = None,
    ) -> Page:
        """``member``'s row with up to ``k`` rows before and after it (fewer at the top and the bottom);
        no rows when it has no score on the board."""
        if k < 0:
            raise ValueError("k cannot be negative")
        if not member:
            raise ValueError("a member is needed")
        return await self._page(board, period, scope, at, k, 0, member)

    async def rank(
        self, board: str, period: Period, member: str, *, scope: Scope = "user", at: datetime | None = None
    ) -> Standing | None:
        """``member``'s score, rank, position and gap to the next better score; None if it has no score."""
        span = self.span(period, at)
        zset, times = self._keys(board, scope, span)
        reply = await STANDING.read(self.redis, [zset, times], [member])
        if len(reply) == 1:
            return None
        ranked, item, score, rank, position, better = reply
        mine = -float(_text(score))
        return Standing(
            member=member,
            score=from_units(board, mine),
            rank=int(rank),
            position=int(position),
            ranked=int(ranked),
            achieved_ms=int(_text(item)[:CODE_DIGITS]),
            gap=from_units(board, -float(_text(better)) - mine) if _text(better) else None,
        )

    def _keys(self, board: str, scope: Scope, span: PeriodSpan) -> tuple[str, str]:
        check_board(board)
        scope = cast_scope(scope)
        return (
            self.names.key(board, ZSET_OF_SCOPE[scope], span),
            self.names.key(board, TIMES_OF_SCOPE[scope], span),
        )

    async def _page(
        self,
        board: str,
        period: Period,
        scope: Scope,
        at: datetime | None,
        first: int,
        count: int,
        member: str,
    ) -> Page:
        span = self.span(period, at)
        zset, times = self._keys(board, scope, span)
        ranked, rank, start, flat = await PAGE.read(self.redis, [zset, times], [first, count, member])
        rows: list[Row] = []
        previous = 0.0
        for i in range(0, len(flat), 2):
            item, score = _text(flat[i]), float(_text(flat[i + 1]))
            position = int(start) + i // 2 + 1
            # Competition ranks: a row shares the rank of the row above when their scores are equal.
            if rows:
                rank = rows[-1].rank if score == previous else position
            previous = score
            rows.append(
                Row(
                    item[CODE_DIGITS:],
                    from_units(board, -score),
                    int(rank),
                    position,
                    int(item[:CODE_DIGITS]),
                )
            )
        return Page(board, scope, span, int(ranked), rows)

    # -- the dirty mark -----------------------------------------------------------------------------

    async def mark_dirty(self, reason: str) -> None:
        """Note in Redis that the boards may disagree with the database (a record failed), so that a
        repair (`rebuild` with ``exclusive``) follows, by whichever process gets to it."""
        await self.redis.set(self.names.dirty, f"{self.clock().isoformat()} {reason}")

    async def dirty(self) -> str | None:
        """Why the boards are marked dirty (when, and what failed), or None."""
        value = await self.redis.get(self.names.dirty)
        return None if value is None else _text(value)

    # -- rebuilding ---------------------------------------------------------------------------------

    async def rebuild(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        now: datetime,
        on_progress: Callable[[RebuildProgress], None] | None = None,
        exclusive: bool = False,
    ) -> RebuildStats:
        """Recompute every board and period from the database (``xp_ledger``, ``metric_events``,
        ``team_memberships``) and replace the leaderboard keys with the result.

        The new boards are written under temporary keys, then one MULTI renames them over the live ones
        and deletes the live keys that have no counterpart (readers see the old boards or the new, never
        a mix). Awards recorded while a rebuild runs may be lost from Redis (the swap replaces them with
        what the database held when it was read): pause the writers, or rebuild again after. Periods
        past their retention at ``now`` are not rebuilt. The aggregates are held in memory.

        ``exclusive`` (the automatic repair, while writers run): the swap happens only if no batch was
        recorded and no failure marked the boards dirty since before the database was read, and it
        clears the dirty mark; otherwise nothing is swapped and `RecordedMeanwhile` is raised (try
        again). What it cannot see: a batch committed before the read but recorded after the swap
        counts twice, as with any rebuild (the scorer records right after its commit, so the window
        is that short)."""
        started = time.perf_counter()
        report = on_progress or (lambda _: None)
        plan = self._plan(now)
        guard = self.redis.pipeline(transaction=True) if exclusive else None
        try:
            if guard is not None:
                await guard.watch(self.names.records, self.names.dirty)
            return await self._rebuild(sessions, plan, guard, report, started)
        except WatchError:
            raise RecordedMeanwhile("a batch was recorded or a record failed during the rebuild") from None
        finally:
            if guard is not None:
                await guard.aclose()  # UNWATCH, and the connection goes back to the pool

    async def _rebuild(
        self,
        sessions: async_sessionmaker[AsyncSession],
        plan: Plan,
        guard: Pipeline | None,
        report: Callable[[RebuildProgress], None],
        started: float,
    ) -> RebuildStats:
        async with sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                # One snapshot for the three tables (SQLite's read transaction is one already).
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            ledger_rows, metric_rows = await count_rows(session)
            total = ledger_rows + metric_rows
            report(RebuildProgress("reading", 0, total))
            history = await TeamHistory.load(session)
            done = 0
            for source in (xp_awards, metric_awards):
                async for chunk in source(session, history):
                    plan.extend(chunk)
                    done += len(chunk)
                    report(RebuildProgress("reading", done, total))

        temporary = f"{self.names.prefix}lb-rebuild:{uuid.uuid4().hex}:"
        live_root = f"{self.names.prefix}lb:"
        written: dict[str, int | None] = {}  # live key -> its expiry
        entries = 0
        try:
            report(RebuildProgress("writing", 0, len(plan.groups)))
            for done, (group, users, teams) in enumerate(fold(plan), start=1):
                keys = dict(zip(KINDS, self.names.group(group.board, group.span), strict=True))
                contents = _group_contents(users, teams)
                pipe = self.redis.pipeline(transaction=False)
                for kind, items in contents.items():
                    if not items:
                        continue
                    key = keys[kind]
                    target = temporary + key[len(live_root) :]
                    _write(pipe, kind, target, items)
                    pipe.expire(target, REBUILD_TTL_SECONDS)
                    written[key] = group.expire_at
                    if kind in ("u", "t", "ta"):
                        entries += len(items)
                await pipe.execute()
                report(RebuildProgress("writing", done, len(plan.groups)))
            existing = {
                _text(key) async for key in self.redis.scan_iter(match=self.names.pattern, count=1000)
            }
            stale = sorted(existing - written.keys())
            report(RebuildProgress("swapping", 0, len(written) + len(stale)))
            swap = self.redis.pipeline(transaction=True) if guard is None else guard
            if guard is not None:
                guard.multi()  # type: ignore[no-untyped-call]  # (redis-py leaves it unannotated)
                swap.delete(self.names.dirty)
            for key, expire_at in written.items():
                swap.rename(temporary + key[len(live_root) :], key)
                # RENAME keeps the source's TTL: give the key its own.
                if expire_at is None:
                    swap.persist(key)
                else:
                    swap.expireat(key, expire_at)
            if stale:
                swap.unlink(*stale)
            await swap.execute()
        except BaseException:
            leftovers = [key async for key in self.redis.scan_iter(match=temporary + "*", count=1000)]
            if leftovers:
                await self.redis.unlink(*leftovers)
            raise
        report(RebuildProgress("done", len(written) + len(stale), len(written) + len(stale)))
        return RebuildStats(
            ledger_rows=ledger_rows,
            metric_rows=metric_rows,
            boards=len(plan.groups),
            entries=entries,
            keys_written=len(written),
            keys_removed=len(stale),
            seconds=time.perf_counter() - started,
        )


_SCOPE_OF_KIND: dict[str, Scope] = {kind: scope for scope, kind in ZSET_OF_SCOPE.items()}


def _group_contents(users: dict[str, Tally], teams: dict[str, Tally]) -> dict[str, dict[str, Any] | set[str]]:
    """The contents of one board and period's keys, by kind, as the record script leaves them."""
    return {
        "u": {time_code(s.ms) + user: -s.units for user, s in users.items()},
        "ut": {user: time_code(s.ms) for user, s in users.items()},
        "t": {time_code(s.ms) + team: -s.units for team, s in teams.items()},
        # The same quotient as the script's (both correctly rounded divisions of the same numbers).
        "ta": {time_code(s.ms) + team: -s.units / len(s.contributors) for team, s in teams.items()},
        "tt": {team: time_code(s.ms) for team, s in teams.items()},
        "tn": {team: len(s.contributors) for team, s in teams.items()},
        "tm": {f"{team} {user}" for team, s in teams.items() for user in s.contributors},
    }


def _write(pipe: Any, kind: str, key: str, items: dict[str, Any] | set[str]) -> None:
    if isinstance(items, set):
        members = sorted(items)
        for i in range(0, len(members), _WRITE_CHUNK):
            pipe.sadd(key, *members[i : i + _WRITE_CHUNK])
        return
    pairs = list(items.items())
    for i in range(0, len(pairs), _WRITE_CHUNK):
        chunk = dict(pairs[i : i + _WRITE_CHUNK])
        if kind in ("u", "t", "ta"):
            pipe.zadd(key, chunk)
        else:
            pipe.hset(key, mapping=chunk)
