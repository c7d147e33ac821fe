"""Settings: embedded defaults, URL normalisation, errors that name the variable, the generated secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from server.config import ConfigError, Settings, load_settings, settings_table

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No GAMIF_* variable from the outer environment, and a scratch working directory."""
    for name in list(os.environ):
        if name.upper().startswith("GAMIF_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return str(caught.value)


def test_defaults_run_embedded() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("gamif-data")
    assert settings.database_url is None
    assert settings.effective_database_url == "sqlite+aiosqlite:///gamif-data/gamif.db"
    assert settings.redis_url is None
    assert settings.embedded
    assert settings.jwt_secret is None
    assert (settings.jwt_issuer, settings.jwt_audience) == ("gamif", "gamif-api")
    assert settings.access_token_ttl_seconds == 900
    assert settings.refresh_token_ttl_seconds == 30 * 86_400
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.effective_public_url == "http://127.0.0.1:8000"
    assert settings.max_body_bytes == 1_048_576
    assert settings.ingest_max_batch == 1000
    assert settings.ingest_max_future_seconds == 300
    assert settings.ingest_max_age_days == 400
    assert settings.rules_file is None
    assert settings.log_level == "info"


def test_environment_overrides_and_derived_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("ruleset: x\n")
    monkeypatch.setenv("GAMIF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAMIF_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("GAMIF_PORT", "9000")
    monkeypatch.setenv("GAMIF_HOST", "0.0.0.0")
    monkeypatch.setenv("GAMIF_RULES_FILE", str(rules))
    monkeypatch.setenv("GAMIF_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("GAMIF_UNRELATED", "ignored")
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{(tmp_path / 'data').as_posix()}/gamif.db"
    assert not settings.embedded
    assert settings.port == 9000
    assert settings.effective_public_url == "http://127.0.0.1:9000"
    assert settings.rules_file == rules
    assert settings.log_level == "debug"


@pytest.mark.parametrize(
    ("host", "shown"),
    [("::", "[::1]"), ("::1", "[::1]"), ("gamif.internal", "gamif.internal")],
)
def test_public_url_from_host(host: str, shown: str) -> None:
    assert Settings(host=host, port=81).effective_public_url == f"http://{shown}:81"


def test_configured_public_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMIF_PUBLIC_URL", "https://gamif.example.com/")
    assert load_settings().effective_public_url == "https://gamif.example.com"


def test_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMIF_REDIS_URL", "")
    monkeypatch.setenv("GAMIF_DATABASE_URL", "")
    settings = load_settings()
    assert settings.embedded
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")


@pytest.mark.parametrize(
    ("given", "effective"),
    [
        ("postgresql://u:p@db:5432/gamif", "postgresql+asyncpg://u:p@db:5432/gamif"),
        ("postgres://u:p@db/gamif", "postgresql+asyncpg://u:p@db/gamif"),
        ("postgresql://u:p@db/gamif?ssl=require", "postgresql+asyncpg://u:p@db/gamif?ssl=require"),
        ("postgresql+asyncpg://u:p@db/gamif", "postgresql+asyncpg://u:p@db/gamif"),
        (
            "postgresql://u:p@db/gamif?sslmode=require&application_name=gamif",
            "postgresql+asyncpg://u:p@db/gamif?ssl=require&application_name=gamif",
        ),
        (
            "postgresql://u:p@db/gamif?ssl=verify-full&sslmode=require",
            "postgresql+asyncpg://u:p@db/gamif?ssl=verify-full",
        ),
        ("sqlite:///var/gamif.db", "sqlite+aiosqlite:///var/gamif.db"),
        ("sqlite+aiosqlite:////abs/gamif.db", "sqlite+aiosqlite:////abs/gamif.db"),
    ],
)
def test_database_url_normalisation(monkeypatch: pytest.MonkeyPatch, given: str, effective: str) -> None:
    monkeypatch.setenv("GAMIF_DATABASE_URL", given)
    settings = load_settings()
    assert settings.database_url == effective
    assert settings.effective_database_url == effective


@pytest.mark.parametrize("url", ["mysql://root:hunter2@db/gamif", "postgresql+psycopg2://u:hunter2@db/g"])
def test_unsupported_database_scheme_is_named_without_the_password(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    message = config_error(monkeypatch, GAMIF_DATABASE_URL=url)
    assert message.startswith("GAMIF_DATABASE_URL: unsupported database URL scheme")
    assert "postgresql://" in message
    assert "hunter2" not in message


def test_database_url_that_is_no_url(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, GAMIF_DATABASE_URL="db.example.com")
    assert message.startswith("GAMIF_DATABASE_URL: not a URL")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "GAMIF_PORT: Input should be a valid integer"),
        ("0", "GAMIF_PORT: Input should be greater than or equal to 1"),
        ("70000", "GAMIF_PORT: Input should be less than or equal to 65535"),
    ],
)
def test_bad_port_names_the_variable_and_the_value(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    message = config_error(monkeypatch, GAMIF_PORT=value)
    assert message.startswith(expected)
    assert message.endswith(f"(got {value!r})")


def test_short_secret_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, GAMIF_JWT_SECRET="tooshort-but-secret")
    assert message.startswith("GAMIF_JWT_SECRET: too short (19 bytes)")
    assert "tooshort-but-secret" not in message


def test_every_problem_is_reported_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch,
        GAMIF_PORT="x",
        GAMIF_LOG_LEVEL="verbose",
        GAMIF_INGEST_MAX_BATCH="0",
        GAMIF_ACCESS_TOKEN_TTL_SECONDS="10",
        GAMIF_REDIS_URL="http://cache",
        GAMIF_PUBLIC_URL="https://",
        GAMIF_RULES_FILE="missing.yaml",
    )
    named = [line.split(":", 1)[0] for line in message.splitlines()]
    assert named == [
        "GAMIF_REDIS_URL",
        "GAMIF_ACCESS_TOKEN_TTL_SECONDS",
        "GAMIF_PORT",
        "GAMIF_PUBLIC_URL",
        "GAMIF_INGEST_MAX_BATCH",
        "GAMIF_RULES_FILE",
        "GAMIF_LOG_LEVEL",
    ]
    assert "GAMIF_RULES_FILE: no such file: missing.yaml" in message


def test_refresh_tokens_must_outlive_access_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch, GAMIF_ACCESS_TOKEN_TTL_SECONDS="7200", GAMIF_REFRESH_TOKEN_TTL_SECONDS="3600"
    )
    assert message == (
        "GAMIF_REFRESH_TOKEN_TTL_SECONDS: must be longer than GAMIF_ACCESS_TOKEN_TTL_SECONDS (7200), got 3600"
    )


def test_configured_secret_is_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GAMIF_JWT_SECRET", SECRET)
    monkeypatch.setenv("GAMIF_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.jwt_key() == SECRET.encode()
    assert SECRET not in repr(settings)
    assert not (tmp_path / "data").exists()


def test_generated_secret_is_private_persistent_and_reused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "nested" / "data"
    monkeypatch.setenv("GAMIF_DATA_DIR", str(data))
    key = load_settings().jwt_key()
    secret_file = data / "jwt-secret"
    assert len(key) >= 32
    assert secret_file.read_text().strip().encode() == key
    if os.name == "posix":
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert load_settings().jwt_key() == key  # a restart reuses it
    assert sorted(p.name for p in data.iterdir()) == ["jwt-secret"]  # no temporary file left behind
    # Moving to an explicit secret: the file's content, set as GAMIF_JWT_SECRET, is the same key.
    monkeypatch.setenv("GAMIF_JWT_SECRET", secret_file.read_text().strip())
    assert load_settings().jwt_key() == key


def test_default_data_dir_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    key = Settings().jwt_key()
    assert (tmp_path / "gamif-data" / "jwt-secret").read_text().strip().encode() == key


def test_two_generations_are_different(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path / "a").jwt_key() != Settings(data_dir=tmp_path / "b").jwt_key()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    settings.jwt_key()
    (tmp_path / "jwt-secret").chmod(0o644)
    with pytest.raises(ConfigError, match=r"^GAMIF_JWT_SECRET: .*accessible to other users \(mode 644\)"):
        settings.jwt_key()


def test_damaged_secret_file_is_refused(tmp_path: Path) -> None:
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text("short\n")
    secret_file.chmod(0o600)
    with pytest.raises(ConfigError, match=r"^GAMIF_JWT_SECRET: .*shorter than 32 bytes"):
        Settings(data_dir=tmp_path).jwt_key()


def test_settings_table_covers_every_field() -> None:
    table = settings_table()
    assert [name for name, _, _ in table] == [f"GAMIF_{field.upper()}" for field in Settings.model_fields]
    assert all(description for _, _, description in table)
    rows = {name: default for name, default, _ in table}
    assert rows["GAMIF_PORT"] == "8000"
    assert rows["GAMIF_DATA_DIR"] == "gamif-data"
    assert rows["GAMIF_DATABASE_URL"] == "sqlite+aiosqlite:///<data_dir>/gamif.db"
    assert rows["GAMIF_PUBLIC_URL"] == "http://<host>:<port>"
    assert rows["GAMIF_REFRESH_TOKEN_TTL_SECONDS"] == "2592000"
    assert "None" not in rows.values()


def test_concurrent_first_start_keeps_the_winners_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two nodes generating at once: the loser of the race reads the winner's secret, not its own."""
    winner = "w" * 43
    real_link = os.link

    def link_after_another_process(src: str, dst: str) -> None:
        Path(dst).write_text(winner + "\n")
        Path(dst).chmod(0o600)
        real_link(src, dst)

    monkeypatch.setattr("server.config.os.link", link_after_another_process)
    assert Settings(data_dir=tmp_path).jwt_key() == winner.encode()
    assert [p.name for p in tmp_path.iterdir()] == ["jwt-secret"]


def test_ws_origins_default_to_the_public_urls_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    local = load_settings()  # 127.0.0.1:8000, no public URL: how a local server is opened
    assert local.effective_ws_origins == {
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
    }
    monkeypatch.setenv("GAMIF_PUBLIC_URL", "https://Gamif.example.com:443/app")
    monkeypatch.setenv("GAMIF_CORS_ORIGINS", "http://localhost:3000")
    assert load_settings().effective_ws_origins == {"https://gamif.example.com", "http://localhost:3000"}
    monkeypatch.setenv("GAMIF_WS_ORIGINS", "https://dash.example.com, http://wall.example.com:80/")
    assert load_settings().effective_ws_origins == {"https://dash.example.com", "http://wall.example.com"}


def test_abuse_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMIF_REGISTRATION", "sometimes")
    monkeypatch.setenv("GAMIF_WS_ORIGINS", "evil.example")
    monkeypatch.setenv("GAMIF_CLIENT_IP_HEADER", "X Real IP")
    monkeypatch.setenv("GAMIF_BODY_READ_TIMEOUT_SECONDS", "0")
    with pytest.raises(ConfigError) as error:
        load_settings()
    named = {line.split(":", 1)[0] for line in str(error.value).splitlines()}
    assert named == {
        "GAMIF_REGISTRATION",
        "GAMIF_WS_ORIGINS",
        "GAMIF_CLIENT_IP_HEADER",
        "GAMIF_BODY_READ_TIMEOUT_SECONDS",
    }
