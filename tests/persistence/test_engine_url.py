"""The database URL's ``application_name`` (a libpq parameter, kept by the settings' normalisation)
reaches PostgreSQL: asyncpg refuses it as a keyword, so the engine passes it as a server setting."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from persistence.db import create_engine, process_named

pytestmark = pytest.mark.postgresql


async def test_the_application_name_of_the_url_names_the_backends(postgres_url: str) -> None:
    engine = create_engine(
        f"{postgres_url}?application_name=gamif-worker",
        connect_args={"timeout": 30, "server_settings": {"statement_timeout": "12345"}},
    )
    try:
        async with engine.connect() as connection:
            name = await connection.scalar(
                text("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            )
            assert name == "gamif-worker"
            # Server settings given by the caller are kept beside it.
            assert await connection.scalar(text("SHOW statement_timeout")) == "12345ms"
    finally:
        await engine.dispose()


def test_a_process_names_its_connections_after_itself() -> None:
    named = make_url(process_named("postgresql+asyncpg://u:p@db/gamif", "gamif-worker", 42))
    assert (named.database, named.password, named.query) == (
        "gamif",
        "p",
        {"application_name": "gamif-worker/42"},
    )
    named = make_url(
        process_named("postgresql+asyncpg://u:p@db/gamif?application_name=blue&ssl=require", "x", 7)
    )
    assert named.query == {"application_name": "blue/7", "ssl": "require"}
    assert process_named("sqlite+aiosqlite:///gamif.db", "gamif-worker", 42) == "sqlite+aiosqlite:///gamif.db"
