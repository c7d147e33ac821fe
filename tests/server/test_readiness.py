"""/readyz tells the truth when a store is down: 503 with a problem body naming it."""

from __future__ import annotations

import socket

from persistence.db import create_engine, session_factory
from server.app import mark_draining


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_readyz_reports_an_unreachable_database(app, client):
    assert (await client.get("/readyz")).status_code == 200
    dead = create_engine(
        f"postgresql+asyncpg://nobody@127.0.0.1:{closed_port()}/gone", connect_args={"timeout": 2}
    )
    healthy = app.state.services.sessions
    app.state.services.sessions = session_factory(dead)
    try:
        response = await client.get("/readyz")
    finally:
        app.state.services.sessions = healthy
        await dead.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/not-ready")
    assert "database" in body["detail"]
    assert (await client.get("/healthz")).status_code == 200  # alive, just not ready
    assert (await client.get("/readyz")).status_code == 200


async def test_readyz_answers_503_while_the_node_drains(app, client):
    """A draining node (SIGTERM, before its shutdown) is not ready, however healthy its stores."""
    assert (await client.get("/readyz")).status_code == 200
    mark_draining(app)
    try:
        response = await client.get("/readyz")
    finally:
        app.state.draining = False
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/draining")
    assert (await client.get("/healthz")).status_code == 200
