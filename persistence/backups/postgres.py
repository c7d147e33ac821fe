"""PostgreSQL backups with PostgreSQL's own tools: ``pg_dump --format=custom`` and ``pg_restore``.

The binaries are looked for on ``PATH``, then in ``/usr/lib/postgresql/<version>/bin`` (Debian's layout,
newest first); their major version must be at least the server's (``pg_dump`` refuses a newer server).
The connection settings go to them as libpq environment variables (``PGHOST``, ``PGPASSWORD``, ...)
taken from the database URL, never on the command line, where ``ps`` would show the password.

The dump and its census are one snapshot: a REPEATABLE READ transaction exports its snapshot
(``pg_export_snapshot()``), takes the census in it and holds it open while ``pg_dump --snapshot`` dumps
exactly that state, whatever the workers commit meanwhile. The restore runs ``pg_restore
--single-transaction --exit-on-error``: it is all there, or (an error, the process killed) nothing is.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from persistence.db import create_engine

from .archive import BackupError
from .census import Census, take_census

Progress = Callable[[str], None]

_VERBOSE = re.compile(
    r'^pg_(?:dump|restore): (?:dumping contents of table|processing data for table) "?([^"]+)"?'
)


def find_binary(name: str) -> Path:
    """``pg_dump`` or ``pg_restore``: on PATH, else the newest in /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: _number(path.parent.parent.name),
        reverse=True,
    )
    if candidates:
        return candidates[0]
    raise BackupError(
        f"{name} not found (on PATH or in /usr/lib/postgresql/*/bin): install PostgreSQL's client "
        "programs (Debian/Ubuntu: apt-get install postgresql-client), of a major version at least the "
        "server's"
    )


def _number(text_: str) -> int:
    return int(text_) if text_.isdigit() else -1


def libpq_environment(url: str) -> dict[str, str]:
    """The libpq variables that connect ``pg_dump``/``pg_restore`` where `url` (an asyncpg URL) points."""
    parsed = make_url(url)
    env: dict[str, str] = {}
    parts: tuple[tuple[str, object], ...] = (
        ("PGHOST", parsed.host),
        ("PGPORT", parsed.port),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGDATABASE", parsed.database),
    )
    for variable, value in parts:
        if value is not None and value != "":
            env[variable] = str(value)
    query = parsed.query
    for key, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("application_name", "PGAPPNAME")):
        option = query.get(key)
        if isinstance(option, str):
            env[variable] = option
    ssl = query.get("ssl")  # asyncpg's name of libpq's sslmode (`server.config` renamed it)
    if isinstance(ssl, str) and ssl in ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"):
        env["PGSSLMODE"] = ssl
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def database_name(url: str) -> str:
    name = make_url(url).database
    if not name:
        raise BackupError("the database URL names no database")
    return name


async def client_major(binary: Path) -> int:
    """The major version of a PostgreSQL client program (``pg_dump (PostgreSQL) 15.4`` -> 15)."""
    process = await asyncio.create_subprocess_exec(
        str(binary), "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    match = re.search(rb"(\d+)(?:\.\d+)?", out)
    if process.returncode != 0 or match is None:
        raise BackupError(f"{binary} --version failed: is it PostgreSQL's {binary.name}?")
    return int(match.group(1))


async def _check_versions(binary: Path, connection: Any) -> None:
    server = int((await connection.execute(text("SHOW server_version_num"))).scalar_one()) // 10000
    client = await client_major(binary)
    if client < server:
        raise BackupError(
            f"{binary} is PostgreSQL {client}, the server is PostgreSQL {server}: the client programs' major "
            f"version must be at least the server's (install postgresql-client-{server})"
        )


async def dump(url: str, destination: Path, progress: Progress) -> Census:
    """``pg_dump`` the database at `url` into `destination` (custom format); the census of what it holds."""
    binary = find_binary("pg_dump")
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await _check_versions(binary, connection)
            await connection.commit()
            snapshot_connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with snapshot_connection.begin():
                await snapshot_connection.execute(text("SET TRANSACTION READ ONLY"))
                snapshot = str(
                    (await snapshot_connection.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
                )
                census = await take_census(snapshot_connection)
                progress(
                    f"dumping {len(census.tables)} tables, {census.rows:,} rows "
                    f"(schema {census.revision or 'not migrated'})"
                )
                await _run(
                    binary,
                    ["--format=custom", f"--snapshot={snapshot}", f"--file={destination}", "--no-password"],
                    url,
                    progress,
                )
    finally:
        await engine.dispose()
    return census


async def existing_tables(url: str) -> dict[str, int]:
    """The tables the database at `url` already has (outside PostgreSQL's own schemas), with their rows."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE' "
                    "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "AND table_schema NOT LIKE 'pg_toast%' ORDER BY 1, 2"
                )
            )
            found = {}
            for schema, name in rows.all():
                quoted = f'"{schema.replace(chr(34), chr(34) * 2)}"."{name.replace(chr(34), chr(34) * 2)}"'
                found[f"{schema}.{name}" if schema != "public" else name] = int(
                    (await connection.execute(text(f"SELECT count(*) FROM {quoted}"))).scalar_one()
                )
            return found
    finally:
        await engine.dispose()


async def restore(url: str, payload: Path, *, replace: bool, progress: Progress) -> None:
    """``pg_restore`` `payload` into the database at `url` in one transaction; ``replace``: drop the
    backup's objects first where they exist (``--clean --if-exists``)."""
    binary = find_binary("pg_restore")
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await _check_versions(binary, connection)
    finally:
        await engine.dispose()
    options = [
        "--single-transaction",
        "--exit-on-error",
        # The restoring role owns what it creates, whoever owned it where the backup was made.
        "--no-owner",
        "--no-privileges",
        "--no-password",
        f"--dbname={_conninfo_dbname(database_name(url))}",
    ]
    if replace:
        options += ["--clean", "--if-exists"]
    await _run(binary, [*options, str(payload)], url, progress)


async def list_archive(payload: Path) -> int:
    """``pg_restore --list``: the number of entries of a custom-format dump (it reads the whole table of
    contents, so a damaged dump fails here)."""
    binary = find_binary("pg_restore")
    process = await asyncio.create_subprocess_exec(
        str(binary), "--list", str(payload), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"pg_restore cannot read the dump: {_last_line(err)}")
    return sum(1 for line in out.decode(errors="replace").splitlines() if line and not line.startswith(";"))


def _conninfo_dbname(name: str) -> str:
    # --dbname takes a connection string: the name quoted as libpq wants it (the rest comes from PG*).
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def _run(binary: Path, arguments: list[str], url: str, progress: Progress) -> None:
    env = {**os.environ, **libpq_environment(url)}
    process = await asyncio.create_subprocess_exec(
        str(binary),
        "--verbose",
        *arguments,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    errors: list[str] = []
    async for raw in process.stderr:
        line = raw.decode(errors="replace").rstrip()
        match = _VERBOSE.match(line)
        if match:
            progress(f"  {match.group(1)}")
        elif "error" in line.lower() or "fatal" in line.lower():
            errors.append(line)
    code = await process.wait()
    if code != 0:
        detail = errors[-1] if errors else f"exit status {code}"
        raise BackupError(f"{binary.name} failed: {detail}")


def _last_line(raw: bytes) -> str:
    lines = [line for line in raw.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
