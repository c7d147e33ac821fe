"""While PostgreSQL cannot be reached, the API answers 503 with Retry-After and changes nothing; once it is
back, the same request goes through. The database is the real one, behind a TCP relay that the test cuts
(a network cut or a database restart, as the API sees it)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from tasks.scoring_queue import ScoringQueue
from tests.relay import Relay

pytestmark = pytest.mark.postgresql


@pytest.fixture
async def relay(_postgresql_database_url: str) -> AsyncIterator[Relay]:
    url = make_url(_postgresql_database_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    await relay.restore()
    yield relay
    with contextlib.suppress(Exception):
        await relay.cut()


@pytest.fixture
def database_url(_postgresql_database_url: str, relay: Relay) -> str:
    """The test's migrated PostgreSQL database, reached through the relay (overrides the conftest's)."""
    return make_url(_postgresql_database_url).set(port=relay.port).render_as_string(hide_password=False)


async def test_ingest_answers_503_while_the_database_is_down_and_goes_through_after(
    app: Starlette,
    client: httpx.AsyncClient,
    relay: Relay,
    service_account: Callable[..., Awaitable[Any]],
    register: Callable[..., Awaitable[Any]],
    ago: Callable[..., str],
    problem: Callable[..., dict[str, Any]],
) -> None:
    await register("ana")
    key = await service_account(["metrics:write"])
    events = [{"id": "down-1", "user": "ana", "metric": "reviews_done", "value": 1, "occurred_at": ago()}]
    queue: ScoringQueue = app.state.queue

    await relay.cut()
    refused = await client.post("/api/v1/metrics", json={"events": events}, headers=key.headers)
    body = problem(refused, 503)
    assert body["type"].endswith("/unavailable")
    assert refused.headers["Retry-After"] == "5"

    await relay.restore()
    accepted = await client.post("/api/v1/metrics", json={"events": events}, headers=key.headers)
    assert accepted.status_code == 202, accepted.text
    assert [e["status"] for e in accepted.json()["events"]] == ["accepted"]
    await queue.drain()
    mine = await client.get("/api/v1/me", headers=(await register("bo")).headers)
    assert mine.status_code == 200  # the pool works again


async def test_a_database_starting_up_answers_503_everywhere_with_one_log_line_each(
    app: Starlette,
    client: httpx.AsyncClient,
    relay: Relay,
    service_account: Callable[..., Awaitable[Any]],
    register: Callable[..., Awaitable[Any]],
    ago: Callable[..., str],
    problem: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL starting or stopping refuses connections with 57P03 (asyncpg's CannotConnectNowError,
    a plain DBAPIError to SQLAlchemy): a 503 with Retry-After like any outage, not a 500, and one
    warning line each, not a traceback."""
    ana = await register("ana")
    key = await service_account(["metrics:write"])
    events = [{"id": "starting-1", "user": "ana", "metric": "reviews_done", "value": 1, "occurred_at": ago()}]
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/v1/metrics", {"json": {"events": events}, "headers": key.headers}),
        ("GET", "/api/v1/me", {"headers": ana.headers}),
        ("GET", "/api/v1/me/ledger", {"headers": ana.headers}),
        ("GET", "/api/v1/teams", {"headers": ana.headers}),
        ("POST", "/api/v1/auth/login", {"json": {"login": "ana", "password": "whatever-it-is"}}),
    ]

    await relay.starting_up()
    caplog.set_level(logging.INFO)
    for method, path, options in requests:
        caplog.clear()
        response = await client.request(method, path, **options)
        body = problem(response, 503)
        assert body["type"].endswith("/unavailable"), (path, body)
        assert response.headers["Retry-After"] == "5"
        logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(logged) == 1, (path, [r.getMessage() for r in logged])
        assert logged[0].exc_info is None
        assert "CannotConnectNowError" in logged[0].getMessage() or "starting up" in logged[0].getMessage()
        assert "\n" not in logged[0].getMessage()
    # Answered, not re-raised to the server (which would log the traceback too, as uvicorn does).
    strict = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=strict, base_url="http://test") as http:
        assert (await http.get("/api/v1/me", headers=ana.headers)).status_code == 503

    await relay.restore()
    accepted = await client.post("/api/v1/metrics", json={"events": events}, headers=key.headers)
    assert accepted.status_code == 202, accepted.text
    assert (await client.get("/api/v1/me", headers=ana.headers)).status_code == 200
