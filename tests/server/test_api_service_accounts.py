"""POST /service-accounts: admins create integrations' API keys, shown once and stored hashed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from persistence.models import ServiceAccount


async def test_an_admin_creates_an_api_key(app, client, admin, register, ingest, ago):
    await register("alice")
    body = {
        "name": "GitHub",
        "scopes": ["metrics:write", "metrics:read", "metrics:write"],
        "metrics": ["commits"],
    }

    response = await client.post("/api/v1/service-accounts", json=body, headers=admin.headers)

    assert response.status_code == 201
    account = response.json()
    assert set(account) == {"id", "name", "scopes", "metrics", "created_at", "api_key"}
    assert uuid.UUID(account["id"])
    assert account["name"] == "GitHub"
    assert account["scopes"] == ["metrics:read", "metrics:write"]
    assert account["metrics"] == ["commits"]
    assert datetime.fromisoformat(account["created_at"]).tzinfo is not None
    key = account["api_key"]
    assert key.startswith("gmf_")
    async with app.state.services.sessions() as session:
        stored = await session.scalar(select(ServiceAccount))
    assert stored is not None
    assert key not in (stored.key_hash, stored.key_prefix)  # only its digest is kept
    event = {"id": "gh-1", "user": "alice", "metric": "commits", "value": 1, "occurred_at": ago()}
    assert (await ingest({"X-API-Key": key}, [event])).status_code == 202

    unlimited = {"name": "Jira", "scopes": ["metrics:write"]}
    response = await client.post("/api/v1/service-accounts", json=unlimited, headers=admin.headers)
    assert response.status_code == 201
    assert response.json()["metrics"] is None  # every metric
    assert response.json()["api_key"] != key


async def test_service_account_requests_are_validated(client, admin, problem, subtests):
    cases = {
        "unknown scope": ({"name": "x", "scopes": ["everything"]}, "scopes.0"),
        "no scopes": ({"name": "x", "scopes": []}, "scopes"),
        "no name": ({"scopes": ["metrics:write"]}, "name"),
        "unknown field": ({"name": "x", "scopes": ["metrics:write"], "owner": "me"}, "owner"),
        "metrics not a list": ({"name": "x", "scopes": ["metrics:write"], "metrics": "commits"}, "metrics"),
    }
    for name, (body, field) in cases.items():
        with subtests.test(name):
            response = await client.post("/api/v1/service-accounts", json=body, headers=admin.headers)
            problem(response, 422, field)


async def test_only_admins_create_api_keys(client, player, service_account, problem):
    key = await service_account(["admin"])
    body = {"name": "sneaky", "scopes": ["admin"]}

    problem(await client.post("/api/v1/service-accounts", json=body, headers=player.headers), 403)
    problem(await client.post("/api/v1/service-accounts", json=body, headers=key.headers), 403)
    problem(await client.post("/api/v1/service-accounts", json=body), 401)
