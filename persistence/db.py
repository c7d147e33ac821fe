"""Database engines and sessions: PostgreSQL (asyncpg) in production, SQLite (aiosqlite) embedded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS  # as the standard library: integer keys become strings


def dumps(value: Any) -> str:
    """JSON text of a stored document (orjson: the scoring path writes a state document per player)."""
    return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for `url`, set up for the backend (SQLite: WAL, busy timeout, foreign keys), its
    JSON columns read and written with orjson."""
    options.setdefault("json_serializer", dumps)
    options.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    options.setdefault("pool_pre_ping", True)
    name = parsed.query.get("application_name")
    if isinstance(name, str):
        # What libpq takes in the URL, asyncpg takes only as a server setting: passed on as such, so
        # that `pg_stat_activity` tells which process a backend serves (the load runs' lock sampling).
        url = parsed.difference_update_query(["application_name"]).render_as_string(hide_password=False)
        connect_args = dict(options.get("connect_args", {}))
        connect_args["server_settings"] = {
            **connect_args.get("server_settings", {}),
            "application_name": name,
        }
        options["connect_args"] = connect_args
    # A process uses several connections at once (scoring groups, the coalesced document pushes, the
    # relay, requests): a pool smaller than that opens and closes an overflow connection each time,
    # a PostgreSQL backend started and stopped, with its prepared statements lost.
    if "poolclass" not in options:  # NullPool (migrations) takes no sizes
        options.setdefault("pool_size", POOL_SIZE)
        options.setdefault("max_overflow", POOL_OVERFLOW)
    return create_async_engine(url, **options)


def process_named(url: str, default: str, pid: int) -> str:
    """A PostgreSQL URL whose connections are named after one process: ``<name>/<pid>``, the name being
    the URL's own ``application_name`` or ``default``; `pg_stat_activity` then tells which process a
    backend serves (two worker processes blocking each other, or one process's own transactions).
    Any other URL as it is."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    name = parsed.query.get("application_name")
    named = parsed.update_query_dict(
        {"application_name": f"{name if isinstance(name, str) else default}/{pid}"}
    )
    return named.render_as_string(hide_password=False)


POOL_SIZE = 15
"""Connections a process keeps open to PostgreSQL (a hub and two workers: 45 of its default 100)."""
POOL_OVERFLOW = 5
"""Connections opened beyond `POOL_SIZE` at a peak, closed when returned."""


WRITE_TRANSACTION = {"gamif_write": True}
"""Execution options for a transaction that will write: on SQLite it takes the write lock at BEGIN
(BEGIN IMMEDIATE), so two writers queue instead of one failing to upgrade its read lock."""


async def begin_write(session: AsyncSession) -> None:
    """Start the session's transaction as a write transaction (call first thing in `session.begin()`)."""
    await session.connection(execution_options=WRITE_TRANSACTION)


async def begin_snapshot_read(session: AsyncSession) -> None:
    """Start the session's transaction as a read of one consistent snapshot (call first thing in
    `session.begin()`): every statement sees the same committed state, whatever commits meanwhile.
    PostgreSQL: REPEATABLE READ (its default, READ COMMITTED, gives each statement a snapshot of its own);
    SQLite in WAL mode: a plain BEGIN already reads one snapshot, from its first read on."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _sqlite_begin(connection: Any) -> None:
    write = connection.get_execution_options().get("gamif_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; the busy timeout makes writers queue, not fail;
    # SQLite leaves foreign keys off unless asked.
    # The driver's own transaction handling is off: `_sqlite_begin` emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
