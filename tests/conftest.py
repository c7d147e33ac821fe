"""Shared test configuration: Hypothesis profiles, and real PostgreSQL and Redis for the tests.

Select a Hypothesis profile with ``HYPOTHESIS_PROFILE=quick`` (default: ``gamif``).

PostgreSQL and Redis are found or started by `tests/services.py` (its docstring says how; set
``GAMIF_TEST_POSTGRES_URL`` / ``GAMIF_TEST_REDIS_URL`` to choose them), once per session, and only
when a selected test needs them. Fixtures:

- ``postgres_server``: the server's base URL (``postgresql+asyncpg://user@host:port``);
- ``postgres_url``: a fresh empty database for the session; ``make_postgres_db()``: another one,
  on demand, dropped at the end of the test;
- ``database_url``: a migrated, empty database, once on SQLite and once on PostgreSQL;
- ``redis_server``: the Redis URL; ``redis_prefix``: a key prefix of the test's own, whose keys are
  deleted at the end of the test (tests touch no other keys);
- ``redis_of_its_own``: a Redis server of the test's own (`tests.stores.ThrowawayRedis`, append-only,
  fsync always), which the test may stop, kill and start again.

The terminal summary says which servers were used, and how the tests that ran on PostgreSQL fared.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis import settings
from sqlalchemy.engine import make_url

from persistence.migrate import upgrade
from tests import services
from tests.stores import ThrowawayRedis

settings.register_profile("gamif", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("quick", max_examples=25, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gamif"))

# The `gamif serve` processes the tests start stop at once on SIGTERM: the drain before the shutdown
# (for a load balancer) is tested where it matters (tests/hub/test_shutdown.py, tests/cluster/), which
# set it themselves.
os.environ.setdefault("GAMIF_DRAIN_SECONDS", "0")
# The `gamif worker` processes the tests start open no metrics port: several run at once (two-worker
# tests, parallel runs) and would all want 9101. tests/server/test_metrics_e2e.py gives its workers ports.
os.environ.setdefault("GAMIF_WORKER_METRICS_PORT", "0")


# ------------------------------------------------------------------------------------------ PostgreSQL


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[str]:
    service = await services.find_postgres()
    services.USED.postgres = service
    if service.stop is not None:
        services.stop_on_exit(service.stop)  # also if the session is killed
    yield service.url
    if service.stop is not None:
        service.stop()


@pytest.fixture(scope="session")
async def postgres_databases(postgres_server: str) -> AsyncIterator[services.PostgresDatabases]:
    databases = services.PostgresDatabases(postgres_server)
    await databases.drop_orphans()  # left by a killed session on this machine
    yield databases
    await databases.drop_all()  # whatever a test left behind, of ours


@pytest.fixture(scope="session")
async def postgres_url(postgres_databases: services.PostgresDatabases) -> AsyncIterator[str]:
    url = await postgres_databases.create()
    yield url
    await postgres_databases.drop(url)


@pytest.fixture
async def make_postgres_db(
    postgres_databases: services.PostgresDatabases,
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """``await make_postgres_db()``: the URL of a new empty database, dropped at the end of the test."""
    made: list[str] = []

    async def make() -> str:
        url = await postgres_databases.create()
        made.append(url)
        return url

    yield make
    for url in made:
        await postgres_databases.drop(url)


@pytest.fixture(scope="session")
async def _migrated_postgres_template(postgres_databases: services.PostgresDatabases) -> str:
    """A database migrated to head once per session, that `database_url` copies (CREATE ... TEMPLATE)."""
    url = await postgres_databases.create()
    await upgrade(url)
    name = make_url(url).database
    assert name is not None
    return name


@pytest.fixture
async def _postgresql_database_url(
    postgres_databases: services.PostgresDatabases, _migrated_postgres_template: str
) -> AsyncIterator[str]:
    url = await postgres_databases.create(template=_migrated_postgres_template)
    yield url
    await postgres_databases.drop(url)


@pytest.fixture
async def _sqlite_database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}"
    await upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database: the test runs once on SQLite and once on PostgreSQL."""
    # Looked up by name, so that the SQLite run does not need a PostgreSQL server.
    url: str = request.getfixturevalue(f"_{request.param}_database_url")
    return url


# ----------------------------------------------------------------------------------------------- Redis


@pytest.fixture(scope="session")
async def redis_server() -> AsyncIterator[str]:
    service = await services.find_redis()
    services.USED.redis = service
    if service.stop is not None:
        services.stop_on_exit(service.stop)  # also if the session is killed
    yield service.url
    if service.stop is not None:
        service.stop()


@pytest.fixture
async def redis_prefix(redis_server: str) -> AsyncIterator[str]:
    """``gamif-test:<hex>:``: the test's own key prefix. Its keys, and only those, are deleted after."""
    prefix = f"gamif-test:{uuid.uuid4().hex}:"
    yield prefix
    client = aioredis.from_url(redis_server)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# -------------------------------------------------------------------------------- which services were used


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"postgres_server", "postgres_url", "make_postgres_db"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgresql)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgresql" not in report.keywords:
        return
    tests = services.USED.postgres_tests
    if report.when != "call" and report.failed:
        tests[report.nodeid] = "error"
    elif (report.when == "call" or report.skipped) and tests.get(report.nodeid) != "error":
        tests[report.nodeid] = report.outcome


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    used = services.USED
    if used.postgres is None and used.redis is None and not used.postgres_tests:
        return
    lines = []
    for name, service in (("PostgreSQL", used.postgres), ("Redis", used.redis)):
        if service is None and name == "PostgreSQL" and used.postgres_tests:
            lines.append(f"{name}: none found or started (see the errors above)")
        elif service is None:
            lines.append(f"{name}: not needed by the selected tests")
        else:
            version = f" {service.version}" if service.version else ""
            lines.append(f"{name}{version} at {service.shown}: {service.how}")
    if used.postgres_tests:
        counts: dict[str, int] = {}
        for outcome in used.postgres_tests.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        lines.append(f"tests run against PostgreSQL: {len(used.postgres_tests)} ({tally})")
    terminalreporter.write_sep("-", "real services")
    for line in lines:
        terminalreporter.write_line(line)


@pytest.fixture
async def redis_of_its_own() -> AsyncIterator[ThrowawayRedis]:
    """A Redis of the test's own, to stop or kill: never the shared one."""
    server = ThrowawayRedis()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        server.remove()
