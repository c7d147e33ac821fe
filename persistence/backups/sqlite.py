"""Embedded SQLite backups through SQLite's online backup API (`sqlite3.Connection.backup`), and their
restore.

The backup copies every page in one step (``pages=-1``), inside one read transaction of the source: in WAL
mode the serving process keeps writing meanwhile, and the copy is the database as of one commit (a
stepwise copy would start over each time another process writes, and might never finish under load).

A restore needs the data directory to itself. The serving process holds a shared lock on
``<database>.lock`` for its life (`serving_lock`); a restore takes it exclusively, and is refused while a
server runs (and a server does not start while a restore runs). The restored file is written beside the
database, checked (``PRAGMA integrity_check``) and renamed over it: the database is the old one or the
restored one, never a mix. The old database's ``-wal`` and ``-shm`` files are removed first: replayed
onto the restored file they would corrupt it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from persistence.db import SQLITE_BUSY_TIMEOUT_MS, create_engine

from .archive import BackupError
from .census import Census, integrity_problems, take_census


def database_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def serving_lock(url: str) -> Iterator[None]:
    """Held by a process that serves from the SQLite database at `url` (shared: `gamif backup` and the
    other commands need none); `BackupError` while a restore holds it. An in-memory database has none."""
    if make_url(url).database in (None, "", ":memory:"):
        yield
        return
    with _locked(database_path(url), fcntl.LOCK_SH) as taken:
        if not taken:
            raise BackupError(
                f"{database_path(url)} is being restored (`gamif restore`): start again after it"
            )
        yield


@contextlib.contextmanager
def _locked(database: Path, mode: int) -> Iterator[bool]:
    database.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


async def dump(url: str, destination: Path) -> Census:
    """Copy the SQLite database at `url` into `destination` with the online backup API; its census,
    after checking the copy's integrity."""
    source_path = database_path(url)
    if not source_path.is_file():
        raise BackupError(f"{source_path}: no such database (is GAMIF_DATA_DIR / GAMIF_DATABASE_URL right?)")
    source = sqlite3.connect(source_path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        target = sqlite3.connect(destination)
        try:
            source.backup(target, pages=-1)
        finally:
            target.close()
    except sqlite3.Error as error:
        raise BackupError(f"copying {source_path} failed: {error}") from None
    finally:
        source.close()
    return await _checked_census(destination)


async def _checked_census(path: Path) -> Census:
    engine = create_engine(f"sqlite+aiosqlite:///{path.as_posix()}", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            problems = await integrity_problems(connection)
            if problems:
                raise BackupError(f"{path.name} fails SQLite's integrity check: {problems[0]}")
            return await take_census(connection)
    finally:
        await engine.dispose()


async def payload_census(payload: Path) -> Census:
    """The census of a backup's SQLite file, after SQLite's integrity check (`BackupError` if it fails)."""
    try:
        return await _checked_census(payload)
    except BackupError:
        raise
    except Exception as error:  # not a database at all
        raise BackupError(f"{payload.name} is not a sound SQLite database: {error}") from None


def existing_tables(url: str) -> dict[str, int]:
    """The tables the SQLite database at `url` has, with their rows ({} when there is no file)."""
    path = database_path(url)
    if not path.exists() or path.stat().st_size == 0:
        return {}
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
            )
        ]
        return {
            name: int(
                connection.execute(f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"').fetchone()[
                    0
                ]
            )
            for name in names
        }
    except sqlite3.Error as error:
        raise BackupError(f"{path} cannot be read as an SQLite database: {error}") from None
    finally:
        connection.close()


async def restore(url: str, payload: Path, *, replace: bool) -> None:
    """Put the backup's database file `payload` in place of the database at `url`, atomically, while no
    server uses it. ``replace``: even when that database has tables (else refused)."""
    target = database_path(url)
    with _locked(target, fcntl.LOCK_EX) as taken:
        if not taken:
            raise BackupError(
                f"{target} is in use by a running gamif (serve/run/demo): stop it, restore, "
                "then start it again"
            )
        tables = existing_tables(url)
        if tables and not replace:
            raise BackupError(not_empty_message(str(target), tables))
        await payload_census(payload)  # refuse a damaged file before anything is replaced
        staged = target.with_name(f".{target.name}.{secrets.token_hex(4)}.restoring")
        try:
            with open(payload, "rb") as source, open(staged, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            for suffix in ("-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    target.with_name(target.name + suffix).unlink()
            os.replace(staged, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()


def not_empty_message(where: str, tables: dict[str, int]) -> str:
    rows = sum(tables.values())
    shown = ", ".join(f"{name} {count:,}" for name, count in list(tables.items())[:4])
    more = ", ..." if len(tables) > 4 else ""
    return (
        f"{where} is not empty ({len(tables)} tables, {rows:,} rows: {shown}{more}): restore into an empty "
        "database, or pass --force to replace what the backup holds"
    )
