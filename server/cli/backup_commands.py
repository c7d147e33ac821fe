"""`gamif backup`, `gamif backup verify`, `gamif backup drill` and `gamif restore`: the database in one
file and back (`persistence.backups`), and after a restore, what Redis derives from the database rebuilt
(the leaderboards) and every topic restarted on a new epoch, so that live screens get fresh snapshots.

Progress goes to stderr, the outcome to stdout; a refusal or a failure is one line on stderr and exit
status 1 (2 for a wrong invocation)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.config import Settings

from .common import settings_or_report

if TYPE_CHECKING:
    from persistence.backups import Census, Manifest


def add_parser(commands: Any) -> None:
    """``gamif backup [verify|drill]`` and ``gamif restore`` (``commands``: the top level's subparsers)."""
    backup = commands.add_parser(
        "backup",
        help="back up the database into one file (PostgreSQL: pg_dump; embedded SQLite: its online backup)",
    )
    backup.add_argument("--output", "-o", help="the backup file (default: ./gamif-backup-<UTC time>.tar)")
    _database_url(backup, "the database to back up")
    backup.add_argument(
        "--drain",
        action="store_true",
        help="first wait until the scoring queue is empty (no batch waiting or being scored)",
    )
    backup.add_argument(
        "--drain-timeout", type=float, default=300.0, help="give up draining after this many seconds (300)"
    )
    backup.set_defaults(handler=backup_command)
    actions = backup.add_subparsers(dest="backup_action", metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="check a backup file whole; with --database-url, also a database against it"
    )
    verify.add_argument("file", help="a backup file (from `gamif backup`)")
    _database_url(verify, "also compare this database's row counts and XP per user with the backup's")
    verify.set_defaults(handler=verify_command)
    drill = actions.add_parser(
        "drill", help="restore a backup into a scratch database, verify it, then drop the scratch database"
    )
    drill.add_argument("file", help="a backup file (from `gamif backup`)")
    drill.add_argument(
        "--server-url",
        help="PostgreSQL: the server to create the scratch database on (default: GAMIF_DATABASE_URL's)",
    )
    drill.set_defaults(handler=drill_command)

    restore = commands.add_parser(
        "restore", help="restore a backup into an empty database, then rebuild what Redis derives from it"
    )
    restore.add_argument("file", help="a backup file (from `gamif backup`)")
    restore.add_argument(
        "--force", action="store_true", help="restore into a database that is not empty (replacing it)"
    )
    _database_url(restore, "the database to restore into")
    restore.add_argument(
        "--skip-redis", action="store_true", help="leave Redis alone (no leaderboard rebuild, no new epochs)"
    )
    restore.set_defaults(handler=restore_command)


def _database_url(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument(
        "--database-url", help=f"{text} (default: $GAMIF_DATABASE_URL, else SQLite in $GAMIF_DATA_DIR)"
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _url(args: argparse.Namespace, settings: Settings) -> str:
    from server.config import normalise_database_url

    given = getattr(args, "database_url", None)
    return normalise_database_url(str(given)) if given else settings.effective_database_url


def _run(command: str, work: Any) -> int:
    """Run a command's coroutine, turning the ways it can fail into one line and exit status 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from persistence.backups import BackupError

    try:
        code: int = asyncio.run(work)
    except BackupError as error:
        print(f"gamif {command}: {error}", file=sys.stderr)
        return 1
    except (OSError, SQLAlchemyError) as error:
        print(f"gamif {command}: {_reason(error)}", file=sys.stderr)
        return 1
    return code


def _reason(error: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig  # the driver's message, without SQLAlchemy's statement and links
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # pragma: no cover


# --------------------------------------------------------------------------------------------- backup


def backup_command(args: argparse.Namespace) -> int:
    settings = settings_or_report()
    if settings is None:
        return 1
    if not args.drain_timeout > 0:
        print("gamif backup: --drain-timeout must be positive", file=sys.stderr)
        return 2
    try:
        url = _url(args, settings)
    except ValueError as error:
        print(f"gamif backup: {error}", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = Path(args.output) if args.output else Path(f"gamif-backup-{stamp}.tar")
    return _run("backup", _backup(settings, url, output, args))


async def _backup(settings: Settings, url: str, output: Path, args: argparse.Namespace) -> int:
    from persistence.backups import BackupError, write_archive
    from persistence.backups.archive import Store, new_manifest
    from persistence.db import is_sqlite
    from persistence.migrate import masked
    from server import __version__

    if output.exists():
        raise BackupError(f"{output} exists: give another --output (a backup never overwrites one)")
    if not output.absolute().parent.is_dir():
        raise BackupError(f"{output.absolute().parent}: no such directory")
    if args.drain:
        from .queue_commands import wait_empty

        if not await wait_empty(settings, args.drain_timeout, what="gamif backup --drain"):
            return 1
    store: Store = "sqlite" if is_sqlite(url) else "postgresql"
    _say(f"backing up {masked(url)} ({'embedded SQLite' if store == 'sqlite' else 'PostgreSQL'})")
    with tempfile.TemporaryDirectory(dir=output.absolute().parent, prefix=".gamif-backup-") as scratch:
        payload = Path(scratch) / ("gamif.sqlite3" if store == "sqlite" else "database.pgdump")
        if store == "sqlite":
            from persistence.backups import sqlite

            census = await sqlite.dump(url, payload)
        else:
            from persistence.backups import postgres

            census = await postgres.dump(url, payload, _say)
        manifest = new_manifest(store, census, payload, gamif_version=__version__, source=masked(url))
        _say(f"writing {output} ({_size(manifest.payload_bytes)} of {store} data)")
        size = write_archive(output, manifest, payload)
    print(
        f"backup written: {output} ({_size(size)}; {manifest.store_name} at schema "
        f"{manifest.schema_revision or 'none'}; {len(census.tables)} tables, {census.rows:,} rows, "
        f"{len(census.ledger)} users with XP)"
    )
    return 0


# --------------------------------------------------------------------------------------------- verify


def verify_command(args: argparse.Namespace) -> int:
    settings = settings_or_report()
    if settings is None:
        return 1
    from server.config import normalise_database_url

    try:
        against = normalise_database_url(args.database_url) if args.database_url else None
    except ValueError as error:
        print(f"gamif backup verify: {error}", file=sys.stderr)
        return 2
    return _run("backup verify", _verify(Path(args.file), against))


async def _verify(path: Path, against: str | None) -> int:
    from persistence.backups import read_manifest

    manifest = read_manifest(path)
    entries = await _check_payload(path, manifest)
    print(
        f"file: OK: {path} ({_size(path.stat().st_size)}), {manifest.store_name} at schema "
        f"{manifest.schema_revision}, made {manifest.created_at} by gamif {manifest.gamif_version} "
        f"from {manifest.source}; payload SHA-256 matches, {entries}"
    )
    if against is None:
        return 0
    census = await _census_of(against)
    return _report(manifest, census)


async def _check_payload(path: Path, manifest: Manifest) -> str:
    """Extract the payload (its checksum checked) and read it through: a description of what it holds."""
    from persistence.backups import compare, extract_payload

    with tempfile.TemporaryDirectory(prefix="gamif-verify-") as scratch:
        payload = extract_payload(path, manifest, Path(scratch))
        if manifest.store == "sqlite":
            from persistence.backups import BackupError, sqlite

            census = await sqlite.payload_census(payload)
            comparison = compare(manifest.census, census)
            if not comparison.ok:
                raise BackupError(
                    f"{path}: its database disagrees with its manifest: {comparison.differences[0]}"
                )
            return f"SQLite integrity check passed, {census.rows:,} rows as the manifest says"
        from persistence.backups import postgres

        return f"pg_restore reads its {await postgres.list_archive(payload)} entries"


async def _census_of(url: str) -> Census:
    from sqlalchemy.pool import NullPool

    from persistence.backups import take_census
    from persistence.db import begin_snapshot_read, create_engine, session_factory

    engine = create_engine(url, poolclass=NullPool)
    try:
        async with session_factory(engine)() as session, session.begin():
            await begin_snapshot_read(session)
            return await take_census(await session.connection())
    finally:
        await engine.dispose()


def _report(manifest: Manifest, census: Census) -> int:
    from persistence.backups import compare

    comparison = compare(manifest.census, census)
    for line in comparison.summary():
        print(line)
    if census.revision != manifest.schema_revision:
        print(
            f"  note: the database is at schema {census.revision}, the backup at {manifest.schema_revision}"
        )
    print("PASS" if comparison.ok else f"FAIL: {len(comparison.differences)} difference(s)")
    return 0 if comparison.ok else 1


# --------------------------------------------------------------------------------------------- restore


def restore_command(args: argparse.Namespace) -> int:
    settings = settings_or_report()
    if settings is None:
        return 1
    try:
        url = _url(args, settings)
    except ValueError as error:
        print(f"gamif restore: {error}", file=sys.stderr)
        return 2
    return _run("restore", _restore_and_rebuild(settings, url, Path(args.file), args))


async def _restore_and_rebuild(settings: Settings, url: str, path: Path, args: argparse.Namespace) -> int:
    from persistence.migrate import masked

    census = await restore_file(url, path, replace=args.force)
    if census is None:
        return 1
    if args.skip_redis or settings.redis_url is None:
        if settings.redis_url is not None:
            _say("Redis left alone (--skip-redis): run `gamif leaderboards rebuild` before serving")
    elif url != settings.effective_database_url:
        _say("Redis left alone: the database restored is not GAMIF_DATABASE_URL's, whose state Redis holds")
    else:
        await rebuild_redis(settings)
    print(
        f"restored {path} into {masked(url)}: {len(census.tables)} tables, {census.rows:,} rows, "
        f"{len(census.ledger)} users' XP as in the backup"
    )
    return 0


async def restore_file(url: str, path: Path, *, replace: bool) -> Census | None:
    """Restore the backup at `path` into the database at `url` (checked first: kind, schema, checksum, an
    empty target unless ``replace``), verify the result against the manifest, and migrate it to this
    gamif's schema if the backup's is older. The restored census, or None after reporting a mismatch."""
    from persistence import migrate
    from persistence.backups import BackupError, extract_payload, read_manifest
    from persistence.db import is_sqlite

    manifest = read_manifest(path)
    kind = "sqlite" if is_sqlite(url) else "postgresql"
    target_name = "embedded SQLite" if kind == "sqlite" else "PostgreSQL"
    if manifest.store != kind:
        raise BackupError(
            f"{path} is a backup of {manifest.store_name}, and the target {migrate.masked(url)} is "
            f"{target_name}: restore it into a database of that kind "
            "(GAMIF_DATABASE_URL / --database-url)"
        )
    _check_revision(manifest)
    from persistence.backups import postgres, sqlite

    # Checked before anything is unpacked (and again under the lock by the SQLite restore).
    if kind == "postgresql":
        tables = await postgres.existing_tables(url)
    else:
        tables = sqlite.existing_tables(url)
    if tables and not replace:
        raise BackupError(sqlite.not_empty_message(f"the database {migrate.masked(url)}", tables))
    _say(
        f"restoring {path}: {manifest.store_name} at schema {manifest.schema_revision}, made "
        f"{manifest.created_at} by gamif {manifest.gamif_version} from {manifest.source}"
    )
    with tempfile.TemporaryDirectory(prefix="gamif-restore-") as scratch:
        payload = extract_payload(path, manifest, Path(scratch))
        _say(f"  checksum OK ({_size(manifest.payload_bytes)}); restoring into {migrate.masked(url)}")
        if kind == "sqlite":
            await sqlite.restore(url, payload, replace=replace)
        else:
            await postgres.restore(url, payload, replace=replace, progress=_say)
    census = await _census_of(url)
    if _report_to_stderr(manifest, census):
        return None
    heads = migrate.heads()
    if census.revision not in heads:
        _say(
            f"  the backup's schema {census.revision} is older than this gamif's: "
            f"migrating to {', '.join(heads)}"
        )
        await migrate.upgrade(url)
    return census


def _report_to_stderr(manifest: Manifest, census: Census) -> bool:
    """Whether the restored database differs from the backup's census (each difference said)."""
    from persistence.backups import compare

    comparison = compare(manifest.census, census)
    for line in comparison.summary():
        _say(f"  verified {line}" if not line.startswith("  ") else line)
    if not comparison.ok:
        print(
            f"gamif restore: the restored database differs from the backup's manifest in "
            f"{len(comparison.differences)} place(s) (above)",
            file=sys.stderr,
        )
    return not comparison.ok


def _check_revision(manifest: Manifest) -> None:
    """Refuse a backup whose schema this gamif does not know (made by a newer one)."""
    from alembic.script import ScriptDirectory

    from persistence.backups import BackupError
    from persistence.migrate import make_config

    scripts = ScriptDirectory.from_config(make_config())
    known = {revision.revision for revision in scripts.walk_revisions()}
    if manifest.schema_revision is None:
        raise BackupError("the backup's database was never migrated: there is nothing of gamif's in it")
    if manifest.schema_revision not in known:
        raise BackupError(
            f"the backup's schema revision {manifest.schema_revision} is unknown to this gamif "
            "(its newest is "
            f"{', '.join(scripts.get_heads())}): it was made by a newer gamif ({manifest.gamif_version}); "
            "restore it with that version or a later one"
        )


async def rebuild_redis(settings: Settings) -> None:
    """After a restore: every leaderboard recomputed from the database, then every topic of this
    deployment (its prefix; presence aside) restarted on a new epoch, so that each live screen gets a
    fresh snapshot of the restored state. The scoring queue and its dead letters are left as they are."""
    from server.hub.epochs import restart_epochs
    from server.hub.wiring import redis_client, redis_streams

    from .leaderboard_commands import rebuild_boards

    _say(f"rebuilding the Redis state of prefix {settings.redis_prefix!r} from the restored database")
    stats, _ = await rebuild_boards(settings, push=False)
    _say(
        f"  leaderboards: {stats.boards} boards, {stats.entries} entries, "
        f"{stats.keys_removed} stale keys removed"
    )
    redis = redis_client(settings, socket_timeout=30.0)
    try:
        topics = await restart_epochs(redis_streams(redis, settings))
    finally:
        await redis.aclose()
    _say(f"  {len(topics)} topic(s) restarted on a new epoch: live screens get fresh snapshots")


# --------------------------------------------------------------------------------------------- drill


def drill_command(args: argparse.Namespace) -> int:
    settings = settings_or_report()
    if settings is None:
        return 1
    return _run("backup drill", _drill(settings, Path(args.file), args.server_url))


async def _drill(settings: Settings, path: Path, server_url: str | None) -> int:
    """Restore into a scratch database (SQLite: a temporary directory; PostgreSQL: a new database on the
    server, dropped after), verify against the manifest, and say PASS or FAIL with the numbers."""
    from persistence.backups import read_manifest

    manifest = read_manifest(path)
    with tempfile.TemporaryDirectory(prefix="gamif-drill-") as scratch:
        if manifest.store == "sqlite":
            url = f"sqlite+aiosqlite:///{(Path(scratch) / 'gamif.db').as_posix()}"
            return await _drill_into(path, url, manifest)
        from server.config import normalise_database_url

        base = normalise_database_url(server_url) if server_url else settings.effective_database_url
        async with _scratch_database(base) as url:
            return await _drill_into(path, url, manifest)


async def _drill_into(path: Path, url: str, manifest: Manifest) -> int:
    from persistence.backups import BackupError
    from persistence.migrate import masked

    print(f"drill: restoring {path} ({manifest.store_name}, made {manifest.created_at}) into {masked(url)}")
    try:
        entries = await _check_payload(path, manifest)
        print(f"file: OK: payload SHA-256 matches, {entries}")
        census = await restore_file(url, path, replace=False)
    except BackupError as error:
        print(f"FAIL: {error}")
        return 1
    if census is None:
        print("FAIL: the restored database differs from the backup's manifest")
        return 1
    return _report(manifest, await _census_of(url) if census.revision != manifest.schema_revision else census)


@contextlib.asynccontextmanager
async def _scratch_database(base: str) -> AsyncIterator[str]:
    """A new empty database on the server of `base` (a PostgreSQL URL), dropped at the end: only it."""
    import secrets

    from sqlalchemy.engine import make_url

    from persistence.backups import BackupError
    from persistence.db import is_sqlite

    if is_sqlite(base):
        raise BackupError(
            "a PostgreSQL backup's drill needs a PostgreSQL server: set GAMIF_DATABASE_URL or --server-url"
        )
    name = f"gamif_drill_{datetime.now(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(3)}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(base: str, statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from persistence.db import create_engine

    # CREATE and DROP DATABASE run outside a transaction, from the server's maintenance database.
    admin = make_url(base).set(database="postgres").render_as_string(hide_password=False)
    engine = create_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
