"""gamif's settings, read from ``GAMIF_*`` environment variables.

Every setting has a default, so that with none set gamif runs embedded: SQLite in ``gamif-data/``,
no Redis, a JWT secret generated on first start and kept in the data directory. ``load_settings()``
is the entry point: it reports every invalid setting at once, one line each, named by its
environment variable (``GAMIF_PORT: ...``), and never echoes a secret. ``settings_table()`` lists the
variables with their defaults and descriptions, for the README.

No ``.env`` file is read unless one is passed explicitly (``Settings(_env_file=...)``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "GAMIF_"
MIN_JWT_SECRET_BYTES = 32
JWT_SECRET_FILE = "jwt-secret"
SQLITE_FILE = "gamif.db"

# Settings whose values may hold credentials: an error about them never shows the value.
_SENSITIVE = frozenset({"database_url", "redis_url", "jwt_secret", "metrics_token"})

_DEFAULT_TEXT = "default_text"


def _shown_default(text: str) -> dict[str, Any]:
    """How a derived default reads in the settings table (instead of ``None``)."""
    return {_DEFAULT_TEXT: text}


class ConfigError(ValueError):
    """Invalid settings: the message has one line per problem, each naming its environment variable."""


def _lowercase(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


LogLevel = Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lowercase)]
LogFormat = Annotated[Literal["text", "json"], BeforeValidator(_lowercase)]


class Settings(BaseSettings):
    """The configuration of a gamif node. Build it with ``load_settings()``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=None,
        extra="ignore",
        # `GAMIF_REDIS_URL=` (as compose files write for an unset variable) means "not set".
        env_ignore_empty=True,
        frozen=True,
    )

    data_dir: Path = Field(
        default=Path("gamif-data"),
        description=(
            "Directory for the embedded SQLite database and generated secrets, created if missing "
            "(relative paths are relative to the working directory)."
        ),
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "Database URL: `postgresql://user:password@host:5432/dbname` (driven by asyncpg; "
            "`sslmode` is passed on as asyncpg's `ssl`) or `sqlite+aiosqlite:///path/to/file.db`. "
            "Unset: SQLite in the data directory."
        ),
        json_schema_extra=_shown_default(f"sqlite+aiosqlite:///<data_dir>/{SQLITE_FILE}"),
    )
    redis_url: str | None = Field(
        default=None,
        description=(
            "Redis URL (`redis://host:6379/0`) for leaderboards, presence and the cross-node bus. "
            "Unset: embedded mode, a single node without Redis."
        ),
        json_schema_extra=_shown_default("(unset: embedded, single node)"),
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        description=(
            f"Secret that signs access tokens (HS256), at least {MIN_JWT_SECRET_BYTES} bytes. "
            f"Unset: generated once and kept in `<data_dir>/{JWT_SECRET_FILE}`. "
            "Every node of a cluster needs the same secret: set it explicitly when running several."
        ),
        json_schema_extra=_shown_default(f"(generated into <data_dir>/{JWT_SECRET_FILE})"),
    )
    jwt_issuer: str = Field(default="gamif", min_length=1, description="`iss` claim of access tokens.")
    jwt_audience: str = Field(default="gamif-api", min_length=1, description="`aud` claim of access tokens.")
    access_token_ttl_seconds: int = Field(
        default=900, ge=60, le=86_400, description="Lifetime of an access token, in seconds (60 to 86400)."
    )
    refresh_token_ttl_seconds: int = Field(
        default=30 * 86_400,
        ge=3_600,
        description=(
            "Lifetime of a refresh token, in seconds (at least 3600, and longer than an access token)."
        ),
    )
    host: str = Field(default="127.0.0.1", min_length=1, description="Interface the HTTP server listens on.")
    port: int = Field(default=8000, ge=1, le=65_535, description="TCP port the HTTP server listens on.")
    public_url: str | None = Field(
        default=None,
        description=(
            "Base URL under which clients reach gamif, used in printed and generated links. "
            "Unset: `http://<host>:<port>` (a wildcard host shows as 127.0.0.1)."
        ),
        json_schema_extra=_shown_default("http://<host>:<port>"),
    )
    drain_seconds: float = Field(
        default=5,
        ge=0,
        le=300,
        allow_inf_nan=False,
        description=(
            "On SIGTERM, `gamif serve` first drains for this many seconds: `/readyz` answers 503 at once "
            "(a load balancer's health check takes the node out of rotation) while its sessions and "
            "requests go on; then it closes its sessions with 1012 and stops. A second SIGTERM (or a "
            "SIGINT) ends the drain early. 0: no drain."
        ),
    )
    client_dir: Path | None = Field(
        default=None,
        description=(
            "Directory of the built web client (`client/out`, made by `make client`), served at `/`. "
            "Unset: the source checkout's `client/out` when it has been built."
        ),
        json_schema_extra=_shown_default("client/out (when built)"),
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Browser origins, comma-separated, that may call the HTTP API from another origin: the web "
            "client's `npm run dev` (e.g. `http://localhost:3000`). Unset: same origin only."
        ),
        json_schema_extra=_shown_default("(none)"),
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1_024, description="Largest accepted HTTP request body, in bytes."
    )
    body_read_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=300,
        allow_inf_nan=False,
        description=(
            "An HTTP request body must arrive in full within this many seconds, or the request is "
            "answered 408 (a client that announces more than it sends cannot hold a connection)."
        ),
    )
    registration: Literal["open", "closed", "invite"] = Field(
        default="open",
        description=(
            "Who may create an account with `POST /api/v1/auth/register`: `open` (anyone), `invite` "
            "(only with an invitation an admin made for that email, `POST /api/v1/auth/invites`) or "
            "`closed` (nobody: admins create players)."
        ),
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=1_000,
        description=(
            "Failed logins in a row an account allows before each further one locks it for a while "
            "(1 s, doubling per failure, at most `GAMIF_LOGIN_LOCKOUT_MAX_SECONDS`); a success resets it, "
            "and a client that logged into the account before is not locked out."
        ),
    )
    login_lockout_max_seconds: int = Field(
        default=900,
        ge=1,
        le=86_400,
        description="The longest an account's logins are locked after repeated failures, in seconds.",
    )
    login_ip_max_failures: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description=(
            "Failed logins one client IP may make in 15 minutes (over all accounts) before its logins "
            "are refused until the window ends."
        ),
    )
    client_ip_header: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description=(
            "Behind a reverse proxy: the request header it puts the client's IP in (e.g. `X-Real-IP`, or "
            "`X-Forwarded-For`, of which the last entry counts). Only set it when every request comes "
            "through that proxy: a client could otherwise choose its IP. Unset: the connection's peer."
        ),
        json_schema_extra=_shown_default("(unset: the connection's peer)"),
    )
    ws_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Browser origins, comma-separated, whose pages may open `/ws` (a request without an `Origin` "
            "header, i.e. not from a browser, is always let through). Unset: the public URL's origin "
            "and the `GAMIF_CORS_ORIGINS`."
        ),
        json_schema_extra=_shown_default("(the public URL and GAMIF_CORS_ORIGINS)"),
    )
    ingest_max_batch: int = Field(
        default=1_000, ge=1, le=10_000, description="Most metric events in one ingest request (1 to 10000)."
    )
    ingest_max_future_seconds: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="Events timestamped more than this many seconds in the future are rejected (clock skew).",
    )
    ingest_max_age_days: int = Field(
        default=400, ge=1, description="Events older than this many days are rejected."
    )
    rules_file: Path | None = Field(
        default=None,
        description="YAML rule set loaded on first start. Unset: the embedded default rules.",
        json_schema_extra=_shown_default("(embedded default rules)"),
    )
    rules_recheck_ms: int = Field(
        default=1_000,
        ge=0,
        le=60_000,
        description=(
            "How stale this process's view of the current rule set may be: it asks the database for a "
            "newer version at most this often (0: on every use). A version published on this process "
            "applies at once."
        ),
    )
    redis_prefix: str = Field(
        default="gamif:",
        pattern=r"^[A-Za-z0-9_.:-]{0,64}$",
        description=(
            "Prefix of every Redis key and channel gamif uses, so that several deployments (or test runs) "
            "can share one Redis."
        ),
    )
    hub_heartbeat_ms: int = Field(
        default=25_000,
        ge=1_000,
        le=300_000,
        description=(
            "WebSocket clients send a message at least this often (announced in `welcome`); a session "
            "silent for twice as long is closed with 4002."
        ),
    )
    hub_auth_timeout_ms: int = Field(
        default=10_000, ge=100, le=60_000, description="A WebSocket must send `auth` within this many ms."
    )
    hub_max_subscriptions: int = Field(
        default=100, ge=1, le=10_000, description="Most topics one WebSocket session may hold at once."
    )
    hub_rate_per_second: int = Field(
        default=20, ge=1, le=10_000, description="Messages per second a WebSocket client may send (refill)."
    )
    hub_rate_burst: int = Field(
        default=40, ge=1, le=100_000, description="Burst of messages a WebSocket client may send at once."
    )
    hub_send_buffer_bytes: int = Field(
        default=1_048_576,
        ge=65_536,
        description=(
            "Bytes queued for one slow WebSocket client before it is closed with 4008 (slow consumer)."
        ),
    )
    hub_history_max_len: int = Field(
        default=1_000, ge=1, description="Deltas kept per topic for resuming clients (at least)."
    )
    hub_history_max_age_seconds: float = Field(
        default=900, gt=0, description="Deltas older than this are dropped from a topic's history."
    )
    hub_presence_ttl_seconds: float = Field(
        default=20,
        ge=1,
        le=30,
        description=(
            "A node's sessions count as online this long after its last refresh: the sessions of a node "
            "that died without closing them leave presence within this TTL plus a quarter of it."
        ),
    )
    hub_presence_grace_ms: int = Field(
        default=3_000,
        ge=0,
        le=300_000,
        description=(
            "A user who closes their last session stays online this long, so that a reload does not "
            "flicker on everyone's screen."
        ),
    )
    team_push_ms: int = Field(
        default=1000,
        ge=10,
        le=60_000,
        description=(
            "A team topic and the activity feed get at most one delta per this many ms from each process "
            "that changes them (changes in between are coalesced into it); a player's own topic is never "
            "held back."
        ),
    )
    leaderboard_push_ms: int = Field(
        default=250,
        ge=10,
        le=60_000,
        description=(
            "With Redis: a leaderboard topic gets at most one delta per this many ms (changes in between "
            "are coalesced into it), whatever the rate of events."
        ),
    )
    worker_claim_idle_ms: int = Field(
        default=30_000,
        ge=100,
        description=(
            "A queued batch a worker took but has not finished after this long (the worker died or hangs) "
            "is taken over by another worker. Longer than the slowest batch, or it may run twice (safely)."
        ),
    )
    worker_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description=(
            "A queued batch that fails this many times for another reason than a store being down goes to "
            "the dead-letter stream (`gamif queue`). Store outages are retried without limit."
        ),
    )
    worker_max_group_events: int = Field(
        default=20_000,
        ge=1,
        le=100_000,
        description=(
            "A worker scores the queued batches it holds at once in one transaction, up to this many events "
            "(a larger batch alone): fewer, larger transactions under load; no wait when the queue is quiet."
        ),
    )
    embedded_max_group_events: int = Field(
        default=250,
        ge=1,
        le=100_000,
        description=(
            "Embedded (no Redis): the most events the server scores in one transaction; a larger ingest is "
            "scored in slices of this size, and the event loop that also serves the WebSockets gets control "
            "between them. Smaller: shorter pauses for the sockets; larger: fewer transactions."
        ),
    )
    demo_pulse_seconds: float = Field(
        default=5,
        ge=0,
        le=3_600,
        allow_inf_nan=False,
        description=(
            "`gamif run` / `gamif demo` only: the server ingests one sample event for a random demo person "
            "this often, so that the dashboards and the demo challenge's scoreboard move (0: off)."
        ),
    )
    log_level: LogLevel = Field(
        default="info",
        description=(
            "Log level of gamif's own loggers, and of uvicorn's and taskiq's: debug, info, warning or error "
            "(other libraries log warnings and errors). `--log-level` on the command line wins over it."
        ),
    )
    log_format: LogFormat = Field(
        default="text",
        description=(
            "How every gamif process (server, worker, CLI) writes its log lines, on stderr: `text` (one "
            "line each: level, time, logger, message) or `json` (one JSON object a line, for log shippers)."
        ),
    )

    metrics: bool = Field(
        default=True,
        description=(
            "Whether this process serves Prometheus metrics: `GET /metrics` on `gamif serve` and "
            "`gamif run`, and the port of `gamif worker` (`GAMIF_WORKER_METRICS_PORT`). Off (`0`, "
            "`false`): `/metrics` answers 404 and the worker opens no port."
        ),
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description=(
            "A bearer token that scrapes of `/metrics` (server and worker) must send "
            "(`Authorization: Bearer <token>`, at least 16 characters); without it they are answered 401. "
            "Unset: the metrics are open to whoever reaches the port."
        ),
        json_schema_extra=_shown_default("(unset: open)"),
    )
    worker_metrics_port: int = Field(
        default=9101,
        ge=0,
        le=65_535,
        description=(
            "TCP port on which `gamif worker` serves its Prometheus metrics at `/metrics` (on the "
            "interface `GAMIF_HOST` names), for all its worker processes together (0: no port)."
        ),
    )

    # ------------------------------------------------------------------ validators

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        return None if value is None else normalise_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _check_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            length = len(value.get_secret_value().encode("utf-8"))
            if length < MIN_JWT_SECRET_BYTES:
                raise ValueError(
                    f"too short ({length} bytes): use at least {MIN_JWT_SECRET_BYTES} random bytes, "
                    'e.g. python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
                )
        return value

    @field_validator("refresh_token_ttl_seconds")
    @classmethod
    def _refresh_outlives_access(cls, value: int, info: ValidationInfo) -> int:
        access = info.data.get("access_token_ttl_seconds")
        if access is not None and value <= access:
            raise ValueError(
                f"must be longer than {ENV_PREFIX}ACCESS_TOKEN_TTL_SECONDS ({access}), got {value}"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.lower().startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("client_dir")
    @classmethod
    def _check_client_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "index.html").is_file():
            raise ValueError(f"no built client there (no index.html in {value}): run `make client`")
        return value

    @field_validator("cors_origins", "ws_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for origin in value:
                if not isinstance(origin, str) or not origin.lower().startswith(("http://", "https://")):
                    raise ValueError(f"expected origins like http://localhost:3000, got {origin!r}")
            return [origin.rstrip("/") for origin in value]
        return value

    @field_validator("rules_file")
    @classmethod
    def _check_rules_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    # ------------------------------------------------------------------ derived values

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL to connect to: the configured one, else SQLite in the data directory."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / SQLITE_FILE).as_posix()}"

    @property
    def effective_client_dir(self) -> Path | None:
        """The built web client to serve at `/`: the configured one, else the checkout's if built."""
        if self.client_dir is not None:
            return self.client_dir
        built = Path(__file__).resolve().parent.parent / "client" / "out"
        return built if (built / "index.html").is_file() else None

    @property
    def embedded(self) -> bool:
        """True without Redis: a single node, with in-process leaderboards and bus."""
        return self.redis_url is None

    @property
    def effective_public_url(self) -> str:
        """The base URL to print and link: the configured one, else derived from host and port."""
        if self.public_url is not None:
            return self.public_url
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "[::1]"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def effective_ws_origins(self) -> frozenset[str]:
        """The browser origins whose pages may open `/ws` (scheme://host[:port], lower case)."""
        if self.ws_origins:
            return frozenset(origin_of(origin) for origin in self.ws_origins)
        origins = {origin_of(self.effective_public_url), *(origin_of(o) for o in self.cors_origins)}
        if self.public_url is None and self.host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""):
            # A local server is opened as localhost as often as by its address.
            origins |= {f"http://{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        return frozenset(origins)

    def jwt_key(self) -> bytes:
        """The HMAC key for access tokens.

        The configured secret if any; otherwise the one in ``<data_dir>/jwt-secret``, generated
        (32 random bytes, URL-safe text, mode 0600) on first use and reused afterwards. Both are
        used as their UTF-8 bytes, so copying the file's content into ``GAMIF_JWT_SECRET`` keeps
        every issued token valid. Call it once at startup; it creates the data directory if needed.
        """
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value().encode("utf-8")
        return _load_or_create_secret(self.data_dir / JWT_SECRET_FILE)


def normalise_database_url(url: str) -> str:
    """A supported database URL in the form SQLAlchemy's async engine takes, or ValueError.

    ``postgresql://`` and ``postgres://`` become ``postgresql+asyncpg://`` (with libpq's
    ``sslmode=`` renamed to asyncpg's ``ssl=``); ``sqlite://`` becomes ``sqlite+aiosqlite://``.
    The message of the error never contains the URL, which may hold a password.
    """
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not scheme:
        raise ValueError(
            "not a URL: expected postgresql://user:password@host:5432/dbname "
            "or sqlite+aiosqlite:///path/to/file.db"
        )
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return "postgresql+asyncpg://" + _libpq_ssl_to_asyncpg(rest)
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return "sqlite+aiosqlite://" + rest
    raise ValueError(
        f"unsupported database URL scheme {scheme!r}: use postgresql://... (PostgreSQL, via asyncpg) "
        "or sqlite+aiosqlite:///path (embedded SQLite)"
    )


def _libpq_ssl_to_asyncpg(rest: str) -> str:
    """Rename ``sslmode`` (libpq's name, in the URLs hosted PostgreSQL hands out) to ``ssl`` (asyncpg's
    name, which takes the same values): asyncpg refuses an ``sslmode`` argument."""
    base, sep, query = rest.partition("?")
    if not sep:
        return rest
    params = parse_qsl(query, keep_blank_values=True)
    if not any(key == "sslmode" for key, _ in params):
        return rest
    if any(key == "ssl" for key, _ in params):  # both given: `ssl` wins
        renamed = [(key, value) for key, value in params if key != "sslmode"]
    else:
        renamed = [("ssl" if key == "sslmode" else key, value) for key, value in params]
    return f"{base}?{urlencode(renamed)}"


def _load_or_create_secret(path: Path) -> bytes:
    """Read the secret at `path`, creating it atomically (mode 0600) if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Write a temporary file, then hard-link it into place: a concurrent start either wins the
        # link or reads the winner's complete file, never a half-written one or a second secret.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(MIN_JWT_SECRET_BYTES) + "\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    if os.name == "posix":
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(
                f"{ENV_PREFIX}JWT_SECRET: the generated secret {path} is accessible to other users "
                f"(mode {mode:03o}): chmod 600 it"
            )
    key = path.read_text(encoding="utf-8").strip().encode("utf-8")
    if len(key) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"{ENV_PREFIX}JWT_SECRET: the generated secret {path} is shorter than "
            f"{MIN_JWT_SECRET_BYTES} bytes (damaged?): delete it to generate a new one"
        )
    return key


def origin_of(url: str) -> str:
    """The browser origin of a URL, as an `Origin` header says it: lower-case scheme and host, the port
    only when it is not the scheme's default, no path."""
    scheme, _, rest = url.strip().lower().partition("://")
    host = rest.split("/", 1)[0]
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default is not None and host.endswith(default):
        host = host.removesuffix(default)
    return f"{scheme}://{host}"


def env_var(field_name: str) -> str:
    """The environment variable of a setting: ``port`` -> ``GAMIF_PORT``."""
    return ENV_PREFIX + field_name.upper()


def load_settings() -> Settings:
    """The settings from the environment, or ConfigError listing every problem (one line each)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


class LogSettings(BaseSettings):
    """The logging settings alone, read as ``Settings`` reads them: every gamif process configures its
    logging first, whether or not it goes on to read (and needs) the other settings."""

    model_config = Settings.model_config

    log_level: LogLevel = Settings.model_fields["log_level"].default
    log_format: LogFormat = Settings.model_fields["log_format"].default


def load_log_settings() -> LogSettings:
    """``GAMIF_LOG_LEVEL`` and ``GAMIF_LOG_FORMAT``, or ConfigError naming the invalid one(s)."""
    try:
        return LogSettings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        field = str(loc[0]) if loc else ""
        message = error["msg"].removeprefix("Value error, ")
        if field and field not in _SENSITIVE and error["type"] != "value_error":
            message = f"{message} (got {error['input']!r})"
        lines.append(f"{env_var(field)}: {message}" if field else message)
    return "\n".join(lines)


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, default as text, description) for every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra
        shown = extra.get(_DEFAULT_TEXT) if isinstance(extra, dict) else None
        default = str(shown) if shown is not None else str(field.default)
        rows.append((env_var(name), default, field.description or ""))
    return rows
