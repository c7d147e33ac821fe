"""Migrations on real PostgreSQL and SQLite: `gamif migrate`, models vs migrations, down and up again."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, inspect, text

from persistence.db import create_engine
from persistence.migrate import current, downgrade, heads, pending_diff, upgrade
from persistence.models import Base
from server.cli import main
from tests.services import free_port

TABLES = set(Base.metadata.tables)
CHALLENGE_TABLES = {"challenges", "challenge_scores", "challenge_goal_reached", "challenge_rewards"}


async def gamif(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the `gamif` CLI (it starts its own event loop, so in a thread of its own)."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_the_postgresql_tests_really_run_on_postgresql(postgres_url, database_url):
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            version = (await connection.execute(text("select version()"))).scalar_one()
    finally:
        await engine.dispose()
    assert version.startswith("PostgreSQL")
    assert database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))


async def test_migrate_creates_the_schema_on_an_empty_postgresql_database(capsys, make_postgres_db):
    url = await make_postgres_db()
    assert await tables(url) == set()

    code, out, err = await gamif(capsys, "migrate", "--database-url", url)

    assert (code, err) == (0, "")
    assert out.splitlines() == [f"migrating {url} from base (empty) to head", f"done: {heads()[0]}"]
    assert await tables(url) == TABLES | {"alembic_version"}
    assert await current(url) == heads()[0] == "0007_award_summaries"

    # Again: nothing to do.
    code, out, _ = await gamif(capsys, "migrate", "--database-url", url)
    assert code == 0
    assert out.splitlines()[0] == f"migrating {url} from 0007_award_summaries to head"


async def test_migrate_creates_the_schema_in_the_default_sqlite_file(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("GAMIF_DATABASE_URL", raising=False)
    monkeypatch.setenv("GAMIF_DATA_DIR", str(tmp_path / "data"))
    url = f"sqlite+aiosqlite:///{tmp_path}/data/gamif.db"

    code, out, err = await gamif(capsys, "migrate")

    assert (code, err) == (0, "")
    assert out.splitlines() == [f"migrating {url} from base (empty) to head", "done: 0007_award_summaries"]
    assert (tmp_path / "data" / "gamif.db").is_file()
    assert await tables(url) == TABLES | {"alembic_version"}


async def test_migrate_takes_the_url_from_the_environment(capsys, monkeypatch, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/env.db"
    monkeypatch.setenv("GAMIF_DATABASE_URL", url)
    code, out, _ = await gamif(capsys, "migrate", "--revision", "0001_initial")
    assert code == 0
    assert out.splitlines()[-1] == "done: 0001_initial"
    assert await tables(url) == TABLES - {
        "notifications",
        "queued_batches",
        "live_outbox",
        *CHALLENGE_TABLES,
    } | {"alembic_version"}  # as of that revision


async def test_migrate_reports_an_unreachable_database_and_exits_1(capsys):
    url = f"postgresql+asyncpg://gamif:s3cret@127.0.0.1:{free_port()}/gamif"

    code, out, err = await gamif(capsys, "migrate", "--database-url", url)

    assert code == 1
    assert out == ""
    shown = url.replace("s3cret", "***")
    assert err.startswith(f"gamif: cannot reach the database at {shown}: ")
    assert "s3cret" not in err
    assert len(err.splitlines()) == 1


async def test_migrate_refuses_what_is_not_a_database_url(capsys):
    code, out, err = await gamif(capsys, "migrate", "--database-url", "not a url")
    assert (code, out) == (1, "")
    assert err.startswith("gamif: not a URL: expected postgresql://")


async def test_migrate_rejects_an_unknown_revision(capsys, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    code, _, err = await gamif(capsys, "migrate", "--database-url", url, "--revision", "9999_nope")
    assert code == 1
    assert err.startswith(f"gamif: migrating {url} to 9999_nope failed: ")


async def test_the_models_and_the_migrations_agree(database_url):
    """Fails when a model changes without a migration: add one (see persistence/migrate.py)."""
    assert await pending_diff(database_url) == []
    assert await current(database_url) == heads()[0]


async def test_a_model_change_without_a_migration_is_noticed(database_url):
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["users"].append_column(Column("nickname", Integer, nullable=True))
    del_me = changed.tables["rule_sets"]
    changed.remove(del_me)

    diff = await pending_diff(database_url, changed)

    ops = {(entry[0], getattr(entry[-1], "name", None)) for entry in diff if isinstance(entry, tuple)}
    assert ("add_column", "nickname") in ops
    assert ("remove_table", "rule_sets") in ops


async def test_downgrade_to_base_and_upgrade_again(database_url):
    await downgrade(database_url, "base")
    assert await current(database_url) is None
    assert await tables(database_url) == {"alembic_version"}

    await upgrade(database_url)
    assert await current(database_url) == "0007_award_summaries"
    assert await tables(database_url) == TABLES | {"alembic_version"}
    assert await pending_diff(database_url) == []


async def test_the_schema_has_the_types_and_partial_index_of_each_database(database_url):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                index = (
                    await connection.execute(
                        text("select indexdef from pg_indexes where indexname = 'uq_team_memberships_open'")
                    )
                ).scalar_one()
                types = dict(
                    (
                        await connection.execute(
                            text(
                                "select column_name, data_type from information_schema.columns "
                                "where table_name = 'user_states'"
                            )
                        )
                    ).all()
                )
                assert types["state"] == "jsonb"
                assert types["updated_at"] == "timestamp with time zone"
                assert types["xp"] == "bigint"
            else:
                index = (
                    await connection.execute(
                        text("select sql from sqlite_master where name = 'uq_team_memberships_open'")
                    )
                ).scalar_one()
            assert "UNIQUE" in index.upper()
            assert "WHERE" in index.upper()
            assert "left_at IS NULL" in index
    finally:
        await engine.dispose()


def test_the_migration_files_import_no_model_code():
    versions = Path(__file__).resolve().parents[2] / "persistence" / "migrations" / "versions"
    revisions = sorted(versions.glob("[0-9]*.py"))
    assert revisions
    for path in revisions:
        imports = re.findall(r"^\s*(?:from|import)\s+(\S+)", path.read_text(), re.MULTILINE)
        assert not [name for name in imports if name.split(".")[0] in {"persistence", "game", "server"}], (
            f"{path.name} imports our code: a revision states its types itself"
        )
