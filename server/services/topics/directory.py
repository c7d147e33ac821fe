"""The hub's view of topic documents (PROTOCOL.md §8 and §9): who may read a topic, and its snapshot.

The document builders (`user_document`, `team_document`, `leaderboard_document`) are pure: snapshots and
the services that publish deltas build their documents the same way, so that a delta computed from two
of them (`protocol.diff_ops`) turns a snapshot into the next one exactly.

Leaderboards: the snapshot is the document kept beside the topic's stream, read together with its
position: on Redis the Redis boards' top (`server.services.boards.live`), embedded the document
computed from the database as below (`TopicDirectory.compute_board`, kept and pushed live by
`server.services.boards.embedded`).

Consistency of a snapshot with its position: a writer publishes a topic's delta while it still holds the
row locks of what the delta describes, and commits after. `TopicDirectory.snapshot` takes those rows with
a shared lock first (PostgreSQL: ``FOR SHARE``; SQLite: the database write lock, ``BEGIN IMMEDIATE``),
then reads the stream's head, then the rest: a writer is either done (committed, delta published) or has
not published yet, so the document is exactly the state at the position returned. The rows: a user's
state row for ``user:{id}``; the team's row for ``team:{slug}`` (its writers lock it after their users'
rows: users, then teams, each in id order, so that they cannot deadlock).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import BigInteger, Select, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game import Engine, RuleSet, UserState
from game.periods import (
    local_day,
    period_dates,
    period_days,
    period_key,
    period_label,
    week_start_index,
    zone,
)
from game.state import MILLI
from persistence.db import begin_write
from persistence.models import (
    BadgeAward,
    LedgerEntry,
    MetricEventRow,
    Team,
    TeamMembership,
    User,
    UserStateRow,
    utcnow,
)
from persistence.scoring import load_state
from protocol import ErrorCode, parse_topic
from server.hub.streams import Position
from server.services.challenges.scoreboards import UnknownChallenge
from server.services.scoring.rules import RulesService

if TYPE_CHECKING:
    from server.services.boards.embedded import EmbeddedBoards
    from server.services.boards.live import LiveBoards
    from server.services.challenges.scoreboards import ChallengeScoreboards

LEADERBOARD_SIZE = 100
"""The most rows a leaderboard document shows (§9 ``size``)."""

Period = Literal["daily", "weekly", "monthly", "all_time"]
Head = Callable[[], Awaitable[Position]]
Clock = Callable[[], datetime]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TopicRefused(Exception):
    """A subscription the hub must refuse: ``code`` is ``forbidden_topic`` or ``unknown_topic``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _unknown(message: str) -> TopicRefused:
    return TopicRefused(ErrorCode.UNKNOWN_TOPIC, message)


# ---------------------------------------------------------------------------------------- documents


def ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch (exact: no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _number(value: float) -> int | float:
    """Whole numbers as integers (``3``, not ``3.0``): the same value whichever way it was computed."""
    return int(value) if float(value).is_integer() else value


def cast_period(period: str) -> Period:
    if period not in ("daily", "weekly", "monthly", "all_time"):
        raise ValueError(f"not a leaderboard period: {period!r}")
    return cast(Period, period)


def badge_key(badge_id: str, tier: str | None, period: str | None) -> str:
    """A badge's key in the user document: ``reviewer:gold``, ``review-marathon@2026-11-20``."""
    return badge_id + (f":{tier}" if tier else "") + (f"@{period}" if period else "")


def mission_key(mission_id: str, period: str) -> str:
    return f"{mission_id}@{period}"


def user_document(
    engine: Engine,
    user: User,
    state: UserState,
    rule_version: int,
    badges: Iterable[BadgeAward],
    now: datetime,
) -> dict[str, Any]:
    """The ``user:{id}`` document (§9): progress from the engine ``state`` (scored with ``rule_version``)
    and the level curve of ``engine``, the user's earned (not revoked) ``badges`` rows, and the streaks
    and missions as of ``now``."""
    rules = engine.rules
    progress = engine.progress(state)
    return {
        "user_id": str(user.id),
        "handle": user.handle,
        "display_name": user.display_name,
        "xp": state.xp,
        "level": progress.level,
        "level_xp": progress.level_xp,
        "next_level_xp": progress.next_level_xp,
        "progress": round(progress.fraction, 4),  # as /me shows it
        "rule_version": rule_version,
        "badges": {
            badge_key(row.badge_id, row.tier, row.period): {
                "badge_id": row.badge_id,
                "name": rules.badges[row.badge_id].name if row.badge_id in rules.badges else row.badge_id,
                "tier": row.tier or None,
                "period": row.period or None,
                "secret": row.secret,
                "earned_at_ms": ms(row.earned_at),
                "explanation": row.explanation,
            }
            for row in badges
            if row.revoked_at is None
        },
        "streaks": {
            streak_id: {
                "name": rule.name,
                "current": engine.streak_as_of(state, streak_id, now),
                "best": state.streaks[streak_id].best if streak_id in state.streaks else 0,
                "freezes": rule.freezes,
            }
            for streak_id, rule in rules.streaks.items()
        },
        "missions": _missions(engine, state, now),
    }


def _missions(engine: Engine, state: UserState, now: datetime) -> dict[str, Any]:
    """The missions of the periods containing ``now`` (in the user's timezone), from the engine state: the
    same sums the engine makes when it scores (``game.engine._Batch._update_missions``)."""
    rules = engine.rules
    today = local_day(now, zone(state.timezone))
    missions: dict[str, Any] = {}
    for mission_id, mission in rules.missions.items():
        index = 0 if mission.measure == "units" else 1
        if mission.period == "window":
            assert mission.starts is not None
            assert mission.ends is not None
            if not mission.starts <= now < mission.ends:
                continue
            key, label = 0, "window"
            raw = state.windows.get(mission_id, (0, 0))[index]
        else:
            key = period_key(today, mission.period, week_start_index(rules.week_starts))
            label = period_label(key, mission.period)
            raw = sum(
                state.days[mission.metric, day][index]
                for day in period_days(key, mission.period)
                if (mission.metric, day) in state.days
            )
        missions[mission_key(mission_id, label)] = {
            "mission_id": mission_id,
            "name": mission.name,
            "period": label,
            "progress": _number(raw / MILLI if index == 0 else raw),
            "goal": _number(mission.goal),
            "completed": (mission_id, key) in state.missions_done,
            "reward_xp": mission.reward_xp,
        }
    return missions


@dataclass(frozen=True, slots=True)
class TeamMember:
    """What the team document shows of a current member."""

    user_id: str
    handle: str
    display_name: str
    xp: int
    weekly_xp: int
    joined_at: datetime


def team_document(engine: Engine, team: Team, members: Iterable[TeamMember]) -> dict[str, Any]:
    """The ``team:{slug}`` document (§9); levels from ``engine``'s curve."""
    shown = {
        member.user_id: {
            "handle": member.handle,
            "display_name": member.display_name,
            "level": engine.level_for(member.xp),
            "xp": member.xp,
            "weekly_xp": member.weekly_xp,
            "joined_at_ms": ms(member.joined_at),
        }
        for member in members
    }
    return {
        "slug": team.slug,
        "name": team.name,
        "description": team.description,
        "archived": team.archived_at is not None,
        "members": shown,
        "totals": {
            "members": len(shown),
            "xp": sum(m["xp"] for m in shown.values()),
            "weekly_xp": sum(m["weekly_xp"] for m in shown.values()),
        },
    }


def period_bounds(period: Period, now: datetime, week_starts: str) -> tuple[datetime | None, datetime | None]:
    """The UTC calendar period containing ``now``: ``[start, end)``, ``(None, None)`` for ``all_time``."""
    if period == "all_time":
        return None, None
    start, end = period_dates(now.astimezone(UTC).date(), period, week_start_index(week_starts))
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )


@dataclass(frozen=True, slots=True)
class Score:
    member: str
    display_name: str
    score: int | float


def leaderboard_document(
    board: str,
    period: Period,
    bounds: tuple[datetime | None, datetime | None],
    ranked: int,
    scores: Sequence[Score],
    size: int = LEADERBOARD_SIZE,
) -> dict[str, Any]:
    """The ``leaderboard:{board}:{period}`` document (§9) from the top ``scores`` (any order) and the
    number of ``ranked`` members: rows by score, highest first, then by member (code point order), with
    competition ranks (1, 2, 2, 4)."""
    ordered = sorted(scores, key=lambda s: (-s.score, s.member))[:size]
    rows: list[dict[str, Any]] = []
    for index, entry in enumerate(ordered):
        tied = rows and rows[-1]["score"] == entry.score
        rank = rows[-1]["rank"] if tied else index + 1
        rows.append(
            {"member": entry.member, "display_name": entry.display_name, "score": entry.score, "rank": rank}
        )
    return ranked_board_document(board, period, bounds, ranked, rows, size)


def ranked_board_document(
    board: str,
    period: str,
    bounds: tuple[datetime | None, datetime | None],
    ranked: int,
    rows: Sequence[dict[str, Any]],
    size: int = LEADERBOARD_SIZE,
) -> dict[str, Any]:
    """The §9 document around ``rows`` already ranked (``member``, ``display_name``, ``score``, ``rank``,
    in rank order): the one shape of a board's document, whoever ranked it (the database here, the Redis
    boards in `server.services.boards.live`)."""
    start, end = bounds
    return {
        "board": board,
        "period": period,
        "period_start_ms": 0 if start is None else ms(start),
        "period_end_ms": None if end is None else ms(end),
        "size": size,
        "ranked": ranked,
        "rows": list(rows[:size]),
    }


# ---------------------------------------------------------------------------------------- the directory


class TopicDirectory:
    """Which topics exist, who may read them, and their snapshots (presence topics are the hub's own)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: RulesService,
        *,
        clock: Clock = utcnow,
        boards: LiveBoards | None = None,
        embedded_boards: EmbeddedBoards | None = None,
        challenges: ChallengeScoreboards | None = None,
    ) -> None:
        """Without ``challenges`` there are no challenge topics; without ``boards`` or ``embedded_boards``
        a leaderboard snapshot is computed from the database and no deltas follow (what `EmbeddedBoards`
        itself computes its documents with: a directory of its own, built without boards)."""
        self.sessions = sessions
        self.rules = rules
        self.clock = clock
        self.boards = boards
        """On Redis: where leaderboard snapshots come from (and the Redis boards the reads page through)."""
        self.embedded_boards = embedded_boards
        """Embedded (no Redis): the live leaderboard topics, their documents computed from the database."""
        self.challenges = challenges
        """The challenges' scoreboards (``challenge:{id}`` topics), when the hub serves them."""

    async def authorize(self, user_id: str, topic: str) -> None:
        """Whether ``user_id`` may subscribe to ``topic`` (which matches the grammar); raises TopicRefused."""
        parsed = parse_topic(topic)
        kind, parts = parsed.kind, parsed.parts
        if kind == "presence":
            raise ValueError(f"presence topics are the hub's own, not the directory's: {topic}")
        if kind == "challenge":
            # Spectators too: anyone signed in may watch a challenge (only members' events count).
            if self.challenges is None or not await self.challenges.exists(parts[0]):
                raise _unknown(f"no challenge {parts[0]!r}")
            return
        if kind == "leaderboard":
            await self.board_rules(parts[0])
            return
        if kind == "activity":
            return  # any authenticated user (§8)
        if kind == "user":
            if parts[0] == user_id:
                return  # one's own: the session's authentication has just found the account
            # Anyone else's, whether or not that user exists: the same answer, without a look, so that
            # the reply says nothing about which ids are accounts (PROTOCOL.md §8).
            raise TopicRefused(ErrorCode.FORBIDDEN_TOPIC, "user topics are private")
        async with self.sessions() as session:
            await _team(session, parts[0])

    async def snapshot(self, topic: str, head: Head) -> tuple[dict[str, Any], Position]:
        """The topic's document and the stream position it is the state at (``head`` reads the stream's
        current position; it is called once the document's rows are locked)."""
        parsed = parse_topic(topic)
        kind, parts = parsed.kind, parsed.parts
        if kind == "presence":
            raise ValueError(f"presence topics are the hub's own, not the directory's: {topic}")
        if kind == "challenge":
            if self.challenges is None:
                raise _unknown(f"no challenge {parts[0]!r}")
            try:
                return await self.challenges.snapshot(parts[0])
            except UnknownChallenge:
                raise _unknown(f"no challenge {parts[0]!r}") from None
        if kind == "leaderboard":
            board, period = parts
            if self.boards is not None:
                await self.board_rules(board)
                return await self.boards.snapshot(board, cast_period(period))
            if self.embedded_boards is not None:
                return await self.embedded_boards.snapshot(board, cast_period(period))
            return await self._leaderboard(board, cast_period(period), head)
        if kind == "activity":
            return await self._activity_snapshot(head)
        engine = await self.rules.engine()
        now = self.clock()
        async with self.sessions() as session, session.begin():
            await begin_write(session)  # SQLite: BEGIN IMMEDIATE, the write lock (no writer mid-commit)
            if kind == "team":
                return await self._team_snapshot(session, engine, parts[0], head, now)
            return await self._user_snapshot(session, engine, parts[0], head, now)

    # -- parts -------------------------------------------------------------------------------------

    async def _user_snapshot(
        self, session: AsyncSession, engine: Engine, user_id: str, head: Head, now: datetime
    ) -> tuple[dict[str, Any], Position]:
        user = await _user(session, user_id)
        states = await lock_states(session, [user.id], engine.version)
        position = await head()  # under the lock: no writer of this user is between publish and commit
        row = states.get(user.id)
        state = load_state(engine, user_id, user.timezone, row.state if row else {})
        badges = await session.scalars(
            select(BadgeAward)
            .where(BadgeAward.user_id == user.id, BadgeAward.revoked_at.is_(None))
            .order_by(BadgeAward.earned_at, BadgeAward.id)
        )
        version = row.rule_version if row else engine.version
        return user_document(engine, user, state, version, badges, now), position

    async def _team_snapshot(
        self, session: AsyncSession, engine: Engine, slug: str, head: Head, now: datetime
    ) -> tuple[dict[str, Any], Position]:
        team = await _team(session, slug)
        # Every writer of a team's document (scoring a member, a membership change) publishes while it holds
        # the team's row FOR UPDATE: under FOR SHARE none is between publish and commit, so the members and
        # their XP read next are the state at the head.
        (team,) = await lock_teams(session, [team.id], read=True)
        position = await head()
        members = await team_members(session, engine, [team.id], now)
        return team_document(engine, team, members[team.id]), position

    async def _activity_snapshot(self, head: Head) -> tuple[dict[str, Any], Position]:
        from server.services.topics.activity import activity_document, lock_feed  # it builds on this module

        async with self.sessions() as session, session.begin():
            await begin_write(session)
            # Writers publish the feed's delta under its lock (exclusive) and commit before releasing it.
            await lock_feed(session, shared=True)
            position = await head()
            return await activity_document(session), position

    async def _leaderboard(self, board: str, period: Period, head: Head) -> tuple[dict[str, Any], Position]:
        await self.board_rules(board)  # a refused topic's head is never read
        # Without a live-boards service nothing publishes board deltas: the head only names the state.
        position = await head()
        return await self.compute_board(board, period), position

    async def compute_board(self, board: str, period: Period) -> dict[str, Any]:
        """The board's document as the database has it now (the current period by ``clock``): the
        embedded snapshot, and what `EmbeddedBoards` diffs its deltas against."""
        rules = await self.board_rules(board)
        bounds = period_bounds(period, self.clock(), rules.week_starts)
        ranked_totals = board_totals(board, bounds).subquery()
        async with self.sessions() as session:
            ranked = int(await session.scalar(select(func.count()).select_from(ranked_totals)) or 0)
            top = await session.execute(
                select(ranked_totals.c.member, User.display_name, ranked_totals.c.score)
                .join(User, User.id == ranked_totals.c.member)
                .order_by(ranked_totals.c.score.desc(), ranked_totals.c.member)
                .limit(LEADERBOARD_SIZE)
            )
            scores = [
                Score(str(member), display_name, board_score(board, total))
                for member, display_name, total in top
            ]
        return leaderboard_document(board, period, bounds, ranked, scores)

    async def board_rules(self, board: str) -> RuleSet:
        """The current rules, if ``board`` is one of their boards (``xp`` or a metric); else TopicRefused."""
        rules = await self.rules.rules()
        if board != "xp" and board not in rules.metrics:
            raise _unknown(f"no leaderboard {board!r}: boards are xp and the metrics of the rules")
        return rules


def board_totals(board: str, bounds: tuple[datetime | None, datetime | None]) -> Select[Any]:
    """Each enabled user's total on ``board`` within ``bounds`` (``member``, ``score``: XP, or whole
    thousandths of the metric), as the embedded leaderboard snapshot counts them: one row per member."""
    if board == "xp":
        score: Any = func.sum(LedgerEntry.amount)
        source: Any = LedgerEntry
        when: Any = LedgerEntry.created_at  # XP counts when it was awarded (the ledger's time)
        owner: Any = LedgerEntry.user_id
        extra = []
    else:
        # Sums of whole thousandths are exact: 0.1 + 0.2 ties with 0.3.
        score = func.sum(sql_cast(func.round(MetricEventRow.value * MILLI), BigInteger))
        source = MetricEventRow
        when = MetricEventRow.occurred_at  # metrics count when the work happened
        owner = MetricEventRow.user_id
        extra = [MetricEventRow.metric == board]
    totals = (
        select(owner.label("member"), score.label("score"))
        .select_from(source)
        .join(User, User.id == owner)
        .where(User.disabled_at.is_(None), *extra)
        .group_by(owner)
    )
    start, end = bounds
    if start is not None and end is not None:
        totals = totals.where(when >= start, when < end)
    return totals


def board_score(board: str, total: Any) -> int | float:
    """A `board_totals` score in the board's unit (XP, or the metric's value)."""
    return int(total or 0) if board == "xp" else _number(int(total or 0) / MILLI)


async def _user(session: AsyncSession, user_id: str) -> User:
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        key = None
    # Only the canonical spelling names a user: one user, one topic.
    user = None if key is None or str(key) != user_id else await session.get(User, key)
    if user is None:
        raise _unknown("no such user")
    return user


async def _team(session: AsyncSession, slug: str) -> Team:
    team = await session.scalar(select(Team).where(Team.slug == slug))
    if team is None:
        raise _unknown(f"no team {slug!r}")
    return team


async def lock_states(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], rule_version: int
) -> dict[uuid.UUID, UserStateRow]:
    """The users' state rows, locked ``FOR SHARE`` in user-id order (the order writers lock them in).

    On PostgreSQL missing rows are inserted first: a user's first scoring inserts the row, publishes, then
    commits, and ``FOR SHARE`` does not wait for a row it cannot see yet, but an insert of the same key
    does. Inserting before locking anything keeps the lock order of the writers (insert, then lock), so
    the two cannot deadlock. (On SQLite the transaction holds the write lock already.)"""
    if not user_ids:
        return {}
    ids = sorted(set(user_ids))
    if session.get_bind().dialect.name == "postgresql":
        present = set(
            await session.scalars(select(UserStateRow.user_id).where(UserStateRow.user_id.in_(ids)))
        )
        missing = [{"user_id": u, "rule_version": rule_version, "state": {}} for u in ids if u not in present]
        if missing:
            await session.execute(
                pg_insert(UserStateRow).values(missing).on_conflict_do_nothing(index_elements=["user_id"])
            )
    locking = (
        select(UserStateRow)
        .where(UserStateRow.user_id.in_(ids))
        .order_by(UserStateRow.user_id)
        .with_for_update(read=True)
    )
    return {row.user_id: row for row in await session.scalars(locking)}


async def lock_teams(session: AsyncSession, team_ids: Iterable[uuid.UUID], *, read: bool) -> list[Team]:
    """The teams' rows, fresh from the database and locked in id order: ``FOR SHARE`` (``read``) or ``FOR
    NO KEY UPDATE`` on PostgreSQL (SQLite: the transaction's write lock). Writers lock users' rows before
    teams'. Not ``FOR UPDATE``: that also blocks the key-share lock a foreign key to the team takes (a
    scoring transaction writing a challenge score for the team), and two scoring batches of one team's
    members would deadlock; writers still exclude each other."""
    ids = sorted(set(team_ids))
    if not ids:
        return []
    locking = (
        select(Team)
        .where(Team.id.in_(ids))
        .order_by(Team.id)
        .with_for_update(read=read, key_share=not read)
        .execution_options(populate_existing=True)  # what was committed before the lock, not a cached row
    )
    return list(await session.scalars(locking))


async def team_members(
    session: AsyncSession, engine: Engine, team_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[TeamMember]]:
    """The current members of each team as its document shows them (``weekly_xp``: the UTC week containing
    ``now``), in three queries however many teams."""
    members: dict[uuid.UUID, list[TeamMember]] = {team_id: [] for team_id in team_ids}
    rows = (
        await session.execute(
            select(TeamMembership.team_id, User.id, User.handle, User.display_name, TeamMembership.joined_at)
            .join(TeamMembership, TeamMembership.user_id == User.id)
            .where(TeamMembership.team_id.in_(list(members)), TeamMembership.left_at.is_(None))
        )
    ).all()
    user_ids = sorted({row.id for row in rows})
    if not user_ids:
        return members
    xp_rows = await session.execute(
        select(UserStateRow.user_id, UserStateRow.xp).where(UserStateRow.user_id.in_(user_ids))
    )
    xp = dict(xp_rows.all())
    start, end = period_bounds("weekly", now, engine.rules.week_starts)
    assert start is not None
    assert end is not None
    weekly_rows = await session.execute(
        select(LedgerEntry.user_id, func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.user_id.in_(user_ids), LedgerEntry.created_at >= start, LedgerEntry.created_at < end
        )
        .group_by(LedgerEntry.user_id)
    )
    weekly = dict(weekly_rows.all())
    for row in rows:
        members[row.team_id].append(
            TeamMember(
                user_id=str(row.id),
                handle=row.handle,
                display_name=row.display_name,
                xp=int(xp.get(row.id) or 0),
                weekly_xp=int(weekly.get(row.id) or 0),
                joined_at=row.joined_at,
            )
        )
    return members


__all__ = [
    "LEADERBOARD_SIZE",
    "Score",
    "TeamMember",
    "TopicDirectory",
    "TopicRefused",
    "badge_key",
    "board_score",
    "board_totals",
    "leaderboard_document",
    "lock_states",
    "lock_teams",
    "mission_key",
    "ms",
    "period_bounds",
    "ranked_board_document",
    "team_document",
    "team_members",
    "user_document",
]
