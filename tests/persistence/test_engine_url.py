"""The database URL's ``application_name`` (a libpq parameter, kept by the settings' normalisation)
reaches PostgreSQL: asyncpg refuses it as a keyword, so the engine passes it as a server setting."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from persistence.db import create_engine

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
