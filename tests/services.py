"""Real PostgreSQL and Redis for the tests: found, or started for the session, never mocked.

Each service is looked for in this order:

1. the URL in ``GAMIF_TEST_POSTGRES_URL`` / ``GAMIF_TEST_REDIS_URL`` (it must answer);
2. a server on 127.0.0.1 at the standard port (PostgreSQL: user ``postgres``, no password;
   Redis: answers PING);
3. a throwaway server started from the installed binaries (PostgreSQL's ``initdb`` and ``pg_ctl``;
   ``redis-server``) in a temporary directory on a free port, stopped and removed at the end.

If none works, the fixture fails with what was tried and how to fix it: tests that need a real
service never skip. The conftest hands these out as fixtures; `USED` records what each session used,
for the terminal summary.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy.engine import URL, make_url

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
CONNECT_TIMEOUT_S = 3.0
START_TIMEOUT_S = 60

POSTGRES_HELP = (
    "install PostgreSQL (Debian/Ubuntu: apt-get install postgresql; the tests start a throwaway server "
    "from its binaries), run one on 127.0.0.1:5432 that accepts the user postgres without a password, "
    "or set GAMIF_TEST_POSTGRES_URL=postgresql://user:password@host:port"
)
REDIS_HELP = (
    "install Redis (Debian/Ubuntu: apt-get install redis-server; the tests start a throwaway server), "
    "run one on 127.0.0.1:6379, or set GAMIF_TEST_REDIS_URL=redis://host:port/db"
)


@dataclass
class Service:
    """A service the tests use: its URL (the password masked in `shown`), how it was obtained."""

    url: str
    how: str
    version: str = ""
    stop: Callable[[], None] | None = None

    @property
    def shown(self) -> str:
        return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", self.url)


@dataclass
class Usage:
    postgres: Service | None = None
    redis: Service | None = None
    postgres_tests: dict[str, str] = field(default_factory=dict)
    """nodeid -> outcome of every test that ran against PostgreSQL."""


USED = Usage()


_STOPS: list[Callable[[], None]] = []


def stop_on_exit(stop: Callable[[], None]) -> None:
    """Run `stop` when the process ends, however: normally (atexit) or killed by SIGTERM or SIGHUP
    (pytest then tears nothing down). Call from the main thread."""
    atexit.register(stop)
    if not _STOPS:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _stop_all_and_die)
    _STOPS.append(stop)


def _stop_all_and_die(signum: int, _frame: object) -> None:
    for stop in reversed(_STOPS):
        with contextlib.suppress(Exception):
            stop()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------------------------- PostgreSQL


def asyncpg_url(url: str) -> URL:
    """`url` (postgres://, postgresql://, postgresql+asyncpg://) as a SQLAlchemy URL for asyncpg."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() != "postgresql":
        raise RuntimeError(f"not a PostgreSQL URL: {url!r}")
    return parsed.set(drivername="postgresql+asyncpg")


async def pg_connect(url: URL, database: str | None = None) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=database or url.database or "postgres",
        timeout=CONNECT_TIMEOUT_S,
    )


async def pg_version(url: URL) -> str:
    connection = await pg_connect(url)
    try:
        version: str = await connection.fetchval("show server_version")
        return version
    finally:
        await connection.close()


async def find_postgres() -> Service:
    """A PostgreSQL server (see the module docstring), as a base URL ``postgresql+asyncpg://user@host:port``."""
    tried = []
    from_env = os.environ.get("GAMIF_TEST_POSTGRES_URL")
    if from_env:
        url = asyncpg_url(from_env)
        try:
            version = await pg_version(url)
        except Exception as error:
            raise RuntimeError(
                f"GAMIF_TEST_POSTGRES_URL is set ({url.render_as_string()}) but the server does not "
                f"answer: {error!r}. Fix the URL or unset it."
            ) from error
        return Service(url.render_as_string(hide_password=False), "from GAMIF_TEST_POSTGRES_URL", version)

    local = asyncpg_url(LOCAL_POSTGRES)
    where = f"{local.host}:{local.port}"
    try:
        version = await pg_version(local)
        return Service(local.render_as_string(), f"found on {where}", version)
    except Exception as error:
        tried.append(f"{where} as user {local.username} without a password: {error!r}")

    try:
        return await asyncio.to_thread(start_postgres)
    except Exception as error:
        tried.append(f"starting a throwaway server: {error}")
    raise RuntimeError(
        "the tests need PostgreSQL and found none. Tried:\n  - "
        + "\n  - ".join(tried)
        + f"\nTo fix: {POSTGRES_HELP}."
    )


def postgres_bindir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path)],
    )
    if candidates:
        return Path(candidates[-1]).parent  # the newest major version
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("no PostgreSQL binaries (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH)")


def start_postgres() -> Service:
    """Start a throwaway PostgreSQL (trust auth, user postgres, fsync off) in a temporary directory."""
    bindir = postgres_bindir()
    as_user: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="gamif-test-pg-"))
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the server as the postgres system user.
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(
                "running as root and there is no postgres system user to run the server as"
            ) from None
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
        if shutil.which("runuser"):
            as_user = ["runuser", "-u", "postgres", "--"]
        else:
            as_user = ["su", "postgres", "-s", "/bin/sh", "-c"]

    def run(*argv: str) -> None:
        command = [*as_user, shlex.join(argv)] if as_user[:1] == ["su"] else [*as_user, *argv]
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(argv)} failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}"
            )

    data = workdir / "data"
    port = free_port()
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={workdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(workdir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )
    except Exception:
        shutil.rmtree(workdir, ignore_errors=True)
        raise

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        with contextlib.suppress(Exception):
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(workdir, ignore_errors=True)

    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
    version = ""
    with contextlib.suppress(Exception):
        version = asyncio.run(pg_version(make_url(url)))
    return Service(url, f"started from {bindir} (throwaway, port {port})", version, stop)


class PostgresDatabases:
    """Creates databases ``gamif_test_<hex>`` on a server and drops them again: only those it created.

    Each is labelled (COMMENT ON DATABASE) with the host and process that created it, so that a later
    session can drop what a killed one left behind, and nothing else (`drop_orphans`)."""

    def __init__(self, server_url: str) -> None:
        self.server = make_url(server_url)
        self.created: set[str] = set()

    def url(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    async def create(self, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`, one of ours); its URL."""
        name = f"gamif_test_{uuid.uuid4().hex[:16]}"
        connection = await pg_connect(self.server)
        try:
            if template is not None:
                assert template in self.created, "only a database of ours can serve as a template"
                await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                await connection.execute(f'CREATE DATABASE "{name}"')
            self.created.add(name)
            await connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{_label(os.getpid())}'")
        finally:
            await connection.close()
        return self.url(name)

    async def drop(self, url_or_name: str) -> None:
        name = make_url(url_or_name).database if "://" in url_or_name else url_or_name
        if name not in self.created:
            raise ValueError(f"{name!r} is not a database these tests created: not dropping it")
        await self._drop(name)
        self.created.discard(name)

    async def drop_orphans(self) -> list[str]:
        """Drop the test databases that an earlier session on this host created and could not drop
        (it was killed): labelled by a process of this host that is gone."""
        connection = await pg_connect(self.server)
        try:
            rows = await connection.fetch(
                "SELECT datname, shobj_description(oid, 'pg_database') AS label FROM pg_database"
                " WHERE datname LIKE 'gamif\\_test\\_%'"
            )
        finally:
            await connection.close()
        orphans = []
        for row in rows:
            match = re.fullmatch(r"gamif tests: host (\S+) pid (\d+)", row["label"] or "")
            if match and match[1] == socket.gethostname() and not _alive(int(match[2])):
                orphans.append(row["datname"])
        for name in orphans:
            await self._drop(name)
        return orphans

    async def _drop(self, name: str) -> None:
        connection = await pg_connect(self.server)
        try:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await connection.close()

    async def drop_all(self) -> None:
        for name in sorted(self.created):
            await self.drop(name)


def _label(pid: int) -> str:
    return f"gamif tests: host {socket.gethostname()} pid {pid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------------------------------- Redis


async def redis_ping(url: str) -> None:
    client = aioredis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
    )
    try:
        if not await client.ping():
            raise RuntimeError("PING did not answer PONG")
    finally:
        await client.aclose()


async def redis_version(url: str) -> str:
    client = aioredis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
    try:
        info = await client.info("server")
        return str(info.get("redis_version", ""))
    finally:
        await client.aclose()


async def find_redis() -> Service:
    """A Redis server (see the module docstring), as a URL ``redis://host:port/db``."""
    tried = []
    from_env = os.environ.get("GAMIF_TEST_REDIS_URL")
    if from_env:
        try:
            await redis_ping(from_env)
        except Exception as error:
            raise RuntimeError(
                f"GAMIF_TEST_REDIS_URL is set but the server does not answer PING: {error!r}. "
                "Fix the URL or unset it."
            ) from error
        return Service(from_env, "from GAMIF_TEST_REDIS_URL", await redis_version(from_env))

    local = LOCAL_REDIS
    where = local.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        await redis_ping(local)
        return Service(local, f"found on {where}", await redis_version(local))
    except Exception as error:
        tried.append(f"{where}: {error!r}")

    try:
        service = await asyncio.to_thread(start_redis)
        service.version = await redis_version(service.url)
        return service
    except Exception as error:
        tried.append(f"starting a throwaway redis-server: {error}")
    raise RuntimeError(
        "the tests need Redis and found none. Tried:\n  - "
        + "\n  - ".join(tried)
        + f"\nTo fix: {REDIS_HELP}."
    )


def start_redis() -> Service:
    """Start a throwaway redis-server (no persistence) on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no redis-server on PATH")
    workdir = Path(tempfile.mkdtemp(prefix="gamif-test-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            asyncio.run(redis_ping(url))
            break
        except Exception as error:
            if process.poll() is not None or time.monotonic() > deadline:
                stop()
                raise RuntimeError(f"redis-server did not come up on port {port}: {error!r}") from error
            time.sleep(0.05)
    return Service(url, f"started {binary} (throwaway, port {port})", stop=stop)
