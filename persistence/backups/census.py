"""What a database holds, in numbers that a restore must reproduce: the rows of every table, and each
user's XP as the ledger sums it and as their state says. A backup's manifest carries its census (taken in
the same snapshot as the dump); after a restore, or in a restore drill, the restored database's census is
compared with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, table, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence.models import LedgerEntry, UserStateRow


@dataclass(frozen=True, slots=True)
class Census:
    tables: dict[str, int]
    """Table name -> rows (every table of the database, ``alembic_version`` included)."""
    ledger: dict[str, int]
    """User id -> the sum of their XP ledger lines."""
    xp: dict[str, int]
    """User id -> the XP their state row holds (``user_states.xp``)."""
    revision: str | None = None
    """The schema's Alembic revision (None: never migrated)."""

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def as_json(self) -> dict[str, Any]:
        return {"tables": self.tables, "ledger": self.ledger, "xp": self.xp}

    @classmethod
    def from_json(cls, value: Any, revision: str | None) -> Census:
        """The census of a manifest (`ValueError` when it is not one)."""
        if not isinstance(value, dict):
            raise ValueError("the census is not an object")
        parts = []
        for name in ("tables", "ledger", "xp"):
            part = value.get(name)
            if not isinstance(part, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in part.items()
            ):
                raise ValueError(f"the census's {name!r} is not an object of whole numbers")
            parts.append(dict(part))
        return cls(parts[0], parts[1], parts[2], revision)


async def take_census(connection: AsyncConnection) -> Census:
    """The census of the database behind `connection`, read in its current transaction (on PostgreSQL,
    begin it REPEATABLE READ for one consistent snapshot; SQLite reads one from its first statement)."""
    names = await connection.run_sync(_table_names)
    tables = {}
    for name in sorted(names):
        # Names come from the database's own catalogue; quoted by SQLAlchemy's table construct.
        tables[name] = int(
            (await connection.execute(select(func.count()).select_from(table(name)))).scalar_one()
        )
    ledger: dict[str, int] = {}
    xp: dict[str, int] = {}
    if LedgerEntry.__tablename__ in tables:
        rows = await connection.execute(
            select(LedgerEntry.user_id, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.user_id)
        )
        ledger = {str(user): int(total) for user, total in rows}
    if UserStateRow.__tablename__ in tables:
        rows = await connection.execute(select(UserStateRow.user_id, UserStateRow.xp))
        xp = {str(user): int(points) for user, points in rows}
    revision = await connection.run_sync(_revision) if "alembic_version" in tables else None
    return Census(tables, ledger, xp, revision)


def _table_names(connection: Connection) -> list[str]:
    return list(inspect(connection).get_table_names())


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def integrity_problems(connection: AsyncConnection) -> list[str]:
    """SQLite's ``PRAGMA integrity_check``: empty when the database file is sound."""
    rows = (await connection.execute(text("PRAGMA integrity_check"))).scalars().all()
    return [] if list(rows) == ["ok"] else [str(row) for row in rows]


@dataclass(slots=True)
class Comparison:
    """A restored database's census against the one its backup was made with."""

    tables_checked: int = 0
    users_checked: int = 0
    rows: int = 0
    xp: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> list[str]:
        """Human-readable lines: what was checked, and every difference (the first 20)."""
        lines = [
            f"tables: {self.tables_checked} checked, {self.rows:,} rows",
            f"ledger: {self.users_checked} users' XP checked, {self.xp:,} XP in all",
        ]
        shown = self.differences[:20]
        lines += [f"  MISMATCH {line}" for line in shown]
        if len(self.differences) > len(shown):
            lines.append(f"  ... and {len(self.differences) - len(shown)} more")
        return lines


def compare(expected: Census, actual: Census) -> Comparison:
    """Every table's row count and every user's ledger sum and XP, expected (the backup's) vs actual."""
    result = Comparison()
    for name in sorted(set(expected.tables) | set(actual.tables)):
        want, got = expected.tables.get(name), actual.tables.get(name)
        result.tables_checked += 1
        result.rows += got or 0
        if want != got:
            result.differences.append(
                f"table {name}: {_count(want)} rows in the backup, {_count(got)} restored"
            )
    for label, want_by_user, got_by_user in (
        ("ledger sum", expected.ledger, actual.ledger),
        ("XP", expected.xp, actual.xp),
    ):
        for user in sorted(set(want_by_user) | set(got_by_user)):
            want, got = want_by_user.get(user), got_by_user.get(user)
            if want != got:
                result.differences.append(
                    f"user {user} {label}: {_count(want)} in the backup, {_count(got)} restored"
                )
    result.users_checked = len(set(expected.ledger) | set(actual.ledger) | set(expected.xp) | set(actual.xp))
    result.xp = sum(actual.ledger.values())
    return result


def _count(value: int | None) -> str:
    return "none" if value is None else f"{value:,}"
