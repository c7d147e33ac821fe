"""Fixtures of the HTTP API tests: a started app on a migrated database, and helpers to make callers.

Every API test runs twice, on SQLite and on PostgreSQL (through ``database_url``). The helpers are
fixtures, so that test modules never import this conftest by name:

- ``app_settings``: ``Settings(data_dir=tmp_path / "data", database_url=database_url)``; mark a test
  ``@pytest.mark.settings(name=value)`` to change some (``max_body_bytes``, ``ingest_max_batch``, ...).
- ``app``: ``create_app(app_settings)``, its lifespan entered (``app.state.services`` holds the services);
  ``client``: an ``httpx.AsyncClient`` talking to it in-process. A server error comes back as the
  500 response the app sends (the exception is logged), so that tests can check its body too.
- ``register(handle)``: a new player, logged in (a ``Caller`` with ``headers``, ``access``,
  ``refresh``); ``player``: one of them; ``admin``: a logged-in admin.
- ``service_account(scopes, metrics)``: a new integration's API key, created through the API by an admin.
- ``ago(minutes=5)``: an ISO 8601 timestamp that far before now (events may not lie in the future).
- ``db_counts()``: row counts of the scoring tables, to show that a refused request wrote nothing.
- ``ingest(headers, events)``: POST /api/v1/metrics.
- ``problem(response, status, *fields)``: assert an RFC 9457 problem body (naming those fields); return it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from starlette.applications import Starlette

from persistence.models import BadgeAward, LedgerEntry, MetricEventRow, MissionProgressRow, UserStateRow
from server.app import create_app
from server.auth import passwords
from server.config import Settings
from server.services.people.accounts import Accounts

PASSWORD = "correct horse battery"
PROBLEM_JSON = "application/problem+json"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**values): start the API test's app with these settings")


@dataclass
class Caller:
    """Someone who calls the API: a person (bearer token) or an integration (API key)."""

    handle: str
    id: str
    headers: dict[str, str]
    access: str = ""
    refresh: str = ""
    email: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """For an API key: the whole creation response."""


@pytest.fixture
def app_settings(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The app's settings: its own data directory and database, plus the test's ``settings`` marker."""
    for name in list(os.environ):  # GAMIF_* variables of the outer environment must not leak in
        if name.upper().startswith("GAMIF_") and not name.upper().startswith("GAMIF_TEST_"):
            monkeypatch.delenv(name)
    marker = request.node.get_closest_marker("settings")
    overrides = dict(marker.kwargs) if marker else {}
    return Settings(data_dir=tmp_path / "data", database_url=database_url, **overrides)


@pytest.fixture
async def app(app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Starlette]:
    # argon2id with its production cost takes ~0.2 s a hash; the API tests register and log in often.
    # The same algorithm with the smallest cost keeps them fast (test_auth_primitives covers the real one).
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    application = create_app(app_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def register(client: httpx.AsyncClient) -> Callable[..., Awaitable[Caller]]:
    """``await register("alice")``: a new player (via POST /auth/register), with its tokens."""

    async def make(handle: str | None = None, *, timezone: str = "UTC") -> Caller:
        handle = handle or f"p-{uuid.uuid4().hex[:10]}"
        email = f"{handle}@example.com"
        body = {
            "email": email,
            "password": PASSWORD,
            "handle": handle,
            "display_name": handle.title(),
            "timezone": timezone,
        }
        response = await client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        tokens = data["tokens"]
        return Caller(
            handle=handle,
            id=data["user"]["id"],
            headers=bearer(tokens["access_token"]),
            access=tokens["access_token"],
            refresh=tokens["refresh_token"],
            email=email,
        )

    return make


@pytest.fixture
async def player(register: Callable[..., Awaitable[Caller]]) -> Caller:
    return await register("alice")


@pytest.fixture
async def admin(app: Starlette) -> Caller:
    """An admin, registered with the admin role through the accounts service."""
    accounts: Accounts = app.state.services.accounts
    user, tokens = await accounts.register(
        email="root@example.com",
        password=PASSWORD,
        handle="root",
        display_name="Root",
        role="admin",
    )
    return Caller(
        handle=user.handle,
        id=str(user.id),
        headers=bearer(tokens.access_token),
        access=tokens.access_token,
        refresh=tokens.refresh_token,
        email=user.email,
    )


@pytest.fixture
def service_account(client: httpx.AsyncClient, admin: Caller) -> Callable[..., Awaitable[Caller]]:
    """``await service_account(["metrics:write"], metrics=None)``: an integration's API key."""

    async def make(scopes: list[str] | None = None, metrics: list[str] | None = None) -> Caller:
        body = {
            "name": f"ci-{uuid.uuid4().hex[:6]}",
            "scopes": scopes or ["metrics:write"],
            "metrics": metrics,
        }
        response = await client.post("/api/v1/service-accounts", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        data = response.json()
        return Caller(handle=data["name"], id=data["id"], headers={"X-API-Key": data["api_key"]}, extra=data)

    return make


@pytest.fixture
def ago() -> Callable[..., str]:
    """``ago(minutes=5)``: that long before now, as ISO 8601 with an offset (``ago(seconds=-600)``: ahead)."""

    def at(**delta: float) -> str:
        return (datetime.now(UTC) - timedelta(**(delta or {"minutes": 5}))).isoformat()

    return at


@pytest.fixture
def db_counts(app: Starlette) -> Callable[[], Awaitable[dict[str, int]]]:
    """``await db_counts()``: the number of rows in each table that scoring writes."""
    tables = {
        "metric_events": MetricEventRow,
        "xp_ledger": LedgerEntry,
        "user_states": UserStateRow,
        "badges_earned": BadgeAward,
        "mission_progress": MissionProgressRow,
    }

    async def count() -> dict[str, int]:
        async with app.state.services.sessions() as session:
            return {
                name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in tables.items()
            }

    return count


@pytest.fixture
def ingest(app: Any, client: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    """``await ingest(caller.headers, [event, ...])``: POST /api/v1/metrics, then wait until what it
    queued has been scored (the app is embedded: taskiq's in-memory broker scores in the background)."""

    async def post(headers: dict[str, str], events: list[dict[str, Any]]) -> httpx.Response:
        response = await client.post("/api/v1/metrics", json={"events": events}, headers=headers)
        await app.state.queue.drain()
        return response

    return post


@pytest.fixture
def problem() -> Callable[..., dict[str, Any]]:
    """``problem(response, 422, "events.0.metric")``: the response is that problem, naming those fields."""

    def check(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        assert body["type"].startswith("https://")
        assert body["title"]
        assert body["instance"] == response.request.url.path
        assert set(body) <= {"type", "title", "status", "detail", "instance", "errors"}
        named = [error["field"] for error in body.get("errors") or []]
        for error in body.get("errors") or []:
            assert set(error) == {"field", "message", "code"}
            assert error["message"]
        for name in fields:
            assert name in named, f"{name!r} not among the fields named: {named}"
        return body

    return check
