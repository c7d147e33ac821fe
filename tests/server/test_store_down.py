"""While PostgreSQL cannot be reached, the API answers 503 with Retry-After and changes nothing; once it is
back, the same request goes through. The database is the real one, behind a TCP relay that the test cuts
(a network cut or a database restart, as the API sees it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from server.services.scoring_queue import ScoringQueue

pytestmark = pytest.mark.postgresql


class Relay:
    """Forwards TCP connections from a local port to ``target``; ``cut`` drops them all and refuses new
    ones until ``restore``."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.pipes: set[asyncio.Task[None]] = set()

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for pipe in list(self.pipes):
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self.pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self.pipes.difference_update(pipes)
            for end in (writer, upstream_writer):
                end.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


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
