"""Schema migrations (Alembic), driven from code: there is no alembic.ini.

``gamif migrate`` calls `upgrade`. The revisions live in ``persistence/migrations/versions``, one file
each, named by a human-readable revision id. To add one after changing the models, autogenerate it
against a database at the current head, then read and tidy it (it must not import model code)::

    python -c 'from persistence.migrate import make_config; from alembic import command; \
        command.revision(make_config(URL), "what changed", rev_id="0002_what_changed", autogenerate=True)'

``tests/persistence/test_migrations.py`` fails while the models and the migrations disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from .db import create_engine, is_sqlite
from .models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 10


def make_config(url: str | None = None) -> Config:
    """The Alembic configuration of gamif, for `url` (needed only when no connection is handed over)."""
    config = Config()
    # Values go through ConfigParser interpolation: a literal % is written %%.
    config.set_main_option("script_location", _escape(str(MIGRATIONS_DIR)))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", _escape(url))
    # New revisions come out linted and formatted (ruff is a development dependency).
    config.set_section_option("post_write_hooks", "hooks", "ruff_format, ruff_check")
    for hook, options in (("ruff_format", "format --quiet"), ("ruff_check", "check --fix --exit-zero")):
        config.set_section_option("post_write_hooks", f"{hook}.type", "module")
        config.set_section_option("post_write_hooks", f"{hook}.module", "ruff")
        config.set_section_option(
            "post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME"
        )
    return config


def migration_engine(url: str) -> AsyncEngine:
    """An engine for migrating `url`: one connection, no pool; on SQLite, with foreign keys off while
    migrating (a batch migration recreates tables, and dropping a parent table with foreign keys on
    would cascade-delete its children's rows). `persistence.db` makes SQLite's DDL transactional."""
    options: dict[str, Any] = {"poolclass": NullPool}
    if not is_sqlite(url):
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT_S}
    engine = create_engine(url, **options)
    if is_sqlite(url):
        # Registered after (so run after) persistence.db's pragmas, which turn foreign keys on.
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    return engine


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: here there is none yet
    cursor.close()


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    await _run(url, lambda config: command.upgrade(config, revision))


async def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base": no tables left but alembic_version)."""
    await _run(url, lambda config: command.downgrade(config, revision))


async def current(url: str) -> str | None:
    """The revision the database at `url` is at; None when it has never been migrated."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


async def pending_diff(url: str, metadata: MetaData | None = None) -> list[Any]:
    """What the database at `url` lacks to match the models (or `metadata`), as Alembic's autogenerate
    sees it: empty when they agree."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff: list[Any] = compare_metadata(context, metadata if metadata is not None else Base.metadata)
        return diff

    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


def heads() -> list[str]:
    """The head revision(s) of the migration scripts."""
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(make_config()).get_heads())


def masked(url: str) -> str:
    """`url` fit to print: the password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


async def _run(url: str, operation: Callable[[Config], None]) -> None:
    config = make_config(url)
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:

            def run(sync_connection: Connection) -> None:
                config.attributes["connection"] = sync_connection
                operation(config)

            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


def _escape(value: str) -> str:
    return value.replace("%", "%%")
