"""Alembic environment of gamif: run by Alembic for every migration command, never imported directly.

The configuration comes from `persistence.migrate.make_config` (there is no alembic.ini). Online, the
migrations run on the connection that `persistence.migrate` hands over in ``config.attributes``, or,
when Alembic is driven without one (autogenerating a revision), on a connection of the async engine
from `persistence.migrate.migration_engine`, through ``connection.run_sync``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import TypeDecorator
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from persistence.migrate import migration_engine
from persistence.models import Base

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render our TypeDecorators as the SQLAlchemy type they store as (``UTCDateTime`` as
    ``sa.DateTime(timezone=True)``), so that revisions never import model code, which may change;
    and JSONB without Alembic's ``astext_type=Text()``, which it renders without an import."""
    if type_ != "type":
        return False
    if isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy.sql."):
            return f"sa.{impl!r}"
    if isinstance(obj, postgresql.JSONB):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB()"
    return False


CONFIGURE_OPTIONS: dict[str, Any] = {
    "target_metadata": target_metadata,
    # SQLite cannot ALTER most things: batch mode recreates the table (a no-op wrapper on PostgreSQL).
    "render_as_batch": True,
    "compare_type": True,
    "render_item": render_item,
}


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **CONFIGURE_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **CONFIGURE_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            # Foreign keys are off while migrating (see `migration_engine`): check what they would say.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration leaves rows with broken foreign keys: {broken[:10]}")


async def run_async_migrations(url: str) -> None:
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: build the configuration with persistence.migrate.make_config(url)")
    asyncio.run(run_async_migrations(url))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
