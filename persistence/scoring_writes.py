"""The scoring transaction's statements, one bulk statement per table and batch.

`ScoringWrites` is the extension point; two implementations sit beside it:

- `PostgresWrites`: each statement takes its rows as a handful of arrays (``unnest``), so a batch of
  thousands of events is one short, prepared statement per table: nothing is compiled per batch and no
  Python object is built per bound value. This is the worker's hot path.
- `PortableWrites`: SQLAlchemy Core statements run with many parameter sets (SQLite, the embedded
  default; any other backend).

Both keep the scorer's guarantees (`persistence.scoring`): events inserted in key order (id, user,
sender) with ON CONFLICT DO NOTHING (only the inserted ones are scored), state rows locked in user-id
order.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy import insert as generic_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .db import dumps
from .models import (
    BadgeAward,
    LedgerEntry,
    MetricEventRow,
    MissionProgressRow,
    User,
    UserStateRow,
    table_of,
)

Row = dict[str, Any]

StoredState = tuple[uuid.UUID, int, dict[str, Any], str]
"""A locked ``user_states`` row: user id, rule version, stored state, and the user's timezone."""

EventKey = tuple[str, str, str]
"""A ``metric_events`` row's identity: event id, user id (text), reported_by (the sender)."""

BadgeRow = tuple[uuid.UUID, str, str, str]
"""An inserted ``badges_earned`` row's identity: user id, badge id, tier, period."""


class ScoringWrites(ABC):
    """What the scorer writes and locks, in bulk. Rows are dicts keyed by column name."""

    @abstractmethod
    async def insert_events(self, session: AsyncSession, rows: Sequence[Row]) -> set[EventKey]:
        """Insert ``metric_events`` rows (sorted by key) unless present; the keys this call inserted."""

    @abstractmethod
    async def lock_states(
        self, session: AsyncSession, user_ids: Sequence[uuid.UUID], rule_version: int, now: datetime
    ) -> list[StoredState]:
        """Create the missing state rows, then lock all of them in user-id order and read them."""

    @abstractmethod
    async def update_states(self, session: AsyncSession, rows: Sequence[Row]) -> None:
        """Rewrite state rows: ``user_id``, ``xp``, ``level``, ``rule_version``, ``state``, ``updated_at``."""

    @abstractmethod
    async def insert_ledger(self, session: AsyncSession, rows: Sequence[Row]) -> None: ...

    @abstractmethod
    async def insert_badges(self, session: AsyncSession, rows: Sequence[Row]) -> list[BadgeRow]:
        """Insert awards unless present (the unique award key); the awards this call inserted."""

    @abstractmethod
    async def upsert_missions(self, session: AsyncSession, rows: Sequence[Row]) -> None:
        """Insert or update progress; a completion, once reached, is kept."""


def writes_for(session: AsyncSession) -> ScoringWrites:
    return _POSTGRES if session.get_bind().dialect.name == "postgresql" else _PORTABLE


def _column(rows: Sequence[Row], key: str) -> list[Any]:
    return [row[key] for row in rows]


class PostgresWrites(ScoringWrites):
    _EVENTS = text(
        "INSERT INTO metric_events (id, user_id, metric, value, occurred_at, received_at, source,"
        " reported_by, rule_version, metadata)"
        " SELECT * FROM unnest(CAST(:id AS text[]), CAST(:user_id AS uuid[]), CAST(:metric AS text[]),"
        " CAST(:value AS float8[]), CAST(:occurred_at AS timestamptz[]), CAST(:received_at AS timestamptz[]),"
        " CAST(:source AS text[]), CAST(:reported_by AS text[]), CAST(:rule_version AS int[]),"
        " CAST(:meta AS jsonb[]))"
        " ON CONFLICT (id, user_id, reported_by) DO NOTHING RETURNING id, user_id, reported_by"
    )
    _CREATE_STATES = text(
        "INSERT INTO user_states (user_id, xp, level, rule_version, state, updated_at)"
        " SELECT u, 0, 1, :rule_version, '{}'::jsonb, :now FROM unnest(CAST(:ids AS uuid[])) AS u"
        " ON CONFLICT (user_id) DO NOTHING"
    )
    _LOCK_STATES = text(
        "SELECT s.user_id, s.rule_version, s.state, u.timezone FROM user_states s"
        " JOIN users u ON u.id = s.user_id WHERE s.user_id = ANY(CAST(:ids AS uuid[]))"
        " ORDER BY s.user_id FOR UPDATE OF s"
    )
    _UPDATE_STATES = text(
        "UPDATE user_states s SET xp = v.xp, level = v.level, rule_version = v.rule_version,"
        " state = v.state, updated_at = v.updated_at"
        " FROM unnest(CAST(:user_id AS uuid[]), CAST(:xp AS bigint[]), CAST(:level AS int[]),"
        " CAST(:rule_version AS int[]), CAST(:state AS jsonb[]), CAST(:updated_at AS timestamptz[]))"
        " AS v(user_id, xp, level, rule_version, state, updated_at)"
        " WHERE s.user_id = v.user_id"
    )
    _LEDGER = text(
        "INSERT INTO xp_ledger (user_id, amount, source, metric, day, rule_id, rule_version, explanation,"
        " summary, event_ids, created_at)"
        " SELECT * FROM unnest(CAST(:user_id AS uuid[]), CAST(:amount AS int[]), CAST(:source AS text[]),"
        " CAST(:metric AS text[]), CAST(:day AS text[]), CAST(:rule_id AS text[]),"
        " CAST(:rule_version AS int[]), CAST(:explanation AS text[]), CAST(:summary AS text[]),"
        " CAST(:event_ids AS jsonb[]), CAST(:created_at AS timestamptz[]))"
    )
    _BADGES = text(
        "INSERT INTO badges_earned (user_id, badge_id, tier, period, secret, rule_version, explanation,"
        " summary, earned_at)"
        " SELECT * FROM unnest(CAST(:user_id AS uuid[]), CAST(:badge_id AS text[]), CAST(:tier AS text[]),"
        " CAST(:period AS text[]), CAST(:secret AS boolean[]), CAST(:rule_version AS int[]),"
        " CAST(:explanation AS text[]), CAST(:summary AS text[]), CAST(:earned_at AS timestamptz[]))"
        " ON CONFLICT DO NOTHING RETURNING user_id, badge_id, tier, period"
    )
    _MISSIONS = text(
        "INSERT INTO mission_progress (user_id, mission_id, period, progress, goal, completed_at, updated_at)"
        " SELECT * FROM unnest(CAST(:user_id AS uuid[]), CAST(:mission_id AS text[]),"
        " CAST(:period AS text[]), CAST(:progress AS float8[]), CAST(:goal AS float8[]),"
        " CAST(:completed_at AS timestamptz[]), CAST(:updated_at AS timestamptz[]))"
        " ON CONFLICT (user_id, mission_id, period) DO UPDATE SET progress = excluded.progress,"
        " goal = excluded.goal,"
        " completed_at = coalesce(mission_progress.completed_at, excluded.completed_at),"
        " updated_at = excluded.updated_at"
    )

    async def insert_events(self, session: AsyncSession, rows: Sequence[Row]) -> set[EventKey]:
        params = {
            key: _column(rows, key)
            for key in ("id", "user_id", "metric", "value", "occurred_at", "received_at", "source")
        }
        params["reported_by"] = _column(rows, "reported_by")
        params["rule_version"] = _column(rows, "rule_version")
        params["meta"] = [dumps(row["metadata"]) for row in rows]
        result = await session.execute(self._EVENTS, params)
        return {(row[0], str(row[1]), row[2]) for row in result}

    async def lock_states(
        self, session: AsyncSession, user_ids: Sequence[uuid.UUID], rule_version: int, now: datetime
    ) -> list[StoredState]:
        ids = list(user_ids)
        await session.execute(self._CREATE_STATES, {"ids": ids, "rule_version": rule_version, "now": now})
        result = await session.execute(self._LOCK_STATES, {"ids": ids})
        return [(row[0], row[1], row[2], row[3]) for row in result]

    async def update_states(self, session: AsyncSession, rows: Sequence[Row]) -> None:
        params = {key: _column(rows, key) for key in ("user_id", "xp", "level", "rule_version", "updated_at")}
        params["state"] = [dumps(row["state"]) for row in rows]
        await session.execute(self._UPDATE_STATES, params)

    async def insert_ledger(self, session: AsyncSession, rows: Sequence[Row]) -> None:
        keys = (
            "user_id",
            "amount",
            "source",
            "metric",
            "day",
            "rule_id",
            "rule_version",
            "explanation",
            "summary",
        )
        params = {key: _column(rows, key) for key in keys}
        params["event_ids"] = [dumps(row["event_ids"]) for row in rows]
        params["created_at"] = _column(rows, "created_at")
        await session.execute(self._LEDGER, params)

    async def insert_badges(self, session: AsyncSession, rows: Sequence[Row]) -> list[BadgeRow]:
        keys = (
            "user_id",
            "badge_id",
            "tier",
            "period",
            "secret",
            "rule_version",
            "explanation",
            "summary",
            "earned_at",
        )
        result = await session.execute(self._BADGES, {key: _column(rows, key) for key in keys})
        return [(row[0], row[1], row[2], row[3]) for row in result]

    async def upsert_missions(self, session: AsyncSession, rows: Sequence[Row]) -> None:
        keys = ("user_id", "mission_id", "period", "progress", "goal", "completed_at", "updated_at")
        await session.execute(self._MISSIONS, {key: _column(rows, key) for key in keys})


class PortableWrites(ScoringWrites):
    """Core statements executed with many parameter sets (compiled once, cached by SQLAlchemy)."""

    @staticmethod
    def _insert(session: AsyncSession) -> Any:
        return sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert

    async def insert_events(self, session: AsyncSession, rows: Sequence[Row]) -> set[EventKey]:
        events = table_of(MetricEventRow)
        statement = self._insert(session)(events).on_conflict_do_nothing(
            index_elements=["id", "user_id", "reported_by"]
        )
        returning = statement.returning(events.c.id, events.c.user_id, events.c.reported_by)
        result = await session.execute(returning, list(rows))
        return {(row[0], str(row[1]), row[2]) for row in result}

    async def lock_states(
        self, session: AsyncSession, user_ids: Sequence[uuid.UUID], rule_version: int, now: datetime
    ) -> list[StoredState]:
        await session.execute(
            self._insert(session)(table_of(UserStateRow)).on_conflict_do_nothing(index_elements=["user_id"]),
            [
                {"user_id": u, "xp": 0, "level": 1, "rule_version": rule_version, "state": {}}
                | {"updated_at": now}
                for u in user_ids
            ],
        )
        result = await session.execute(
            select(UserStateRow.user_id, UserStateRow.rule_version, UserStateRow.state, User.timezone)
            .join(User, User.id == UserStateRow.user_id)
            .where(UserStateRow.user_id.in_(list(user_ids)))
            .order_by(UserStateRow.user_id)
            .with_for_update(of=UserStateRow)
        )
        return [(row[0], row[1], row[2], row[3]) for row in result]

    async def update_states(self, session: AsyncSession, rows: Sequence[Row]) -> None:
        table = table_of(UserStateRow)
        await session.execute(
            update(table).where(table.c.user_id == bindparam("key")),
            [{**row, "key": row["user_id"]} for row in rows],
        )

    async def insert_ledger(self, session: AsyncSession, rows: Sequence[Row]) -> None:
        await session.execute(generic_insert(table_of(LedgerEntry)), list(rows))

    async def insert_badges(self, session: AsyncSession, rows: Sequence[Row]) -> list[BadgeRow]:
        badges = table_of(BadgeAward)
        statement = (
            self._insert(session)(badges)
            .on_conflict_do_nothing()
            .returning(badges.c.user_id, badges.c.badge_id, badges.c.tier, badges.c.period)
        )
        result = await session.execute(statement, list(rows))
        return [(row[0], row[1], row[2], row[3]) for row in result]

    async def upsert_missions(self, session: AsyncSession, rows: Sequence[Row]) -> None:
        table = table_of(MissionProgressRow)
        statement = self._insert(session)(table)
        excluded = statement.excluded
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "mission_id", "period"],
                set_={
                    "progress": excluded.progress,
                    "goal": excluded.goal,
                    "completed_at": func.coalesce(table.c.completed_at, excluded.completed_at),
                    "updated_at": excluded.updated_at,
                },
            ),
            list(rows),
        )


_POSTGRES = PostgresWrites()
_PORTABLE = PortableWrites()
