"""`gamif migrate`: bring the database schema up to date (Alembic, see `persistence.migrate`)."""

from __future__ import annotations

import argparse
import asyncio
import sys


def _database_url(args: argparse.Namespace) -> str:
    """The database to migrate: ``--database-url``, else the settings (``GAMIF_DATABASE_URL``, else
    SQLite in ``GAMIF_DATA_DIR``). Both accept ``postgresql://`` URLs (asyncpg is used)."""
    from server.config import load_settings, normalise_database_url

    if args.database_url:
        return normalise_database_url(str(args.database_url))
    return load_settings().effective_database_url


def migrate(args: argparse.Namespace) -> int:
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from persistence import migrate as migrations
    from server.config import ConfigError

    try:
        url = _database_url(args)
    except (ConfigError, ValueError) as error:
        print(f"gamif: {error}", file=sys.stderr)
        return 1
    try:
        shown = migrations.masked(url)
    except ArgumentError:
        print("gamif: not a database URL (want dialect+driver://user:password@host/db)", file=sys.stderr)
        return 1
    try:
        before = asyncio.run(migrations.current(url))
    except (OSError, SQLAlchemyError) as error:  # refused, unknown host, timeout, bad credentials, ...
        print(f"gamif: cannot reach the database at {shown}: {_reason(error)}", file=sys.stderr)
        return 1
    print(f"migrating {shown} from {before or 'base (empty)'} to {args.revision}", flush=True)
    try:
        asyncio.run(migrations.upgrade(url, args.revision))
        after = asyncio.run(migrations.current(url))
    except (OSError, SQLAlchemyError, CommandError) as error:
        print(f"gamif: migrating {shown} to {args.revision} failed: {_reason(error)}", file=sys.stderr)
        return 1
    print(f"done: {after or 'base (empty)'}")
    return 0


def _reason(error: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig  # the driver's message, without SQLAlchemy's statement and links
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
