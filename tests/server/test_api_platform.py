"""Health checks, the OpenAPI document and docs page, and problem bodies for routing and server errors."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.routing import Mount, Route, WebSocketRoute

from persistence.db import session_factory
from server.app import create_app

DOC_ROUTES = {"/api/v1/openapi.json", "/api/v1/docs"}
PROBLEM_REF = "#/components/schemas/ProblemBody"


def api_operations(app) -> list[tuple[str, str]]:
    """(OpenAPI path, lower-case method) of every API route of the app, HEAD aside."""
    operations = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            continue  # /ws speaks PROTOCOL.md, not HTTP
        if isinstance(route, Mount) and route.name == "client":
            continue  # the web client's static files (test_web_client.py)
        assert isinstance(route, Route)
        path = route.path
        if path in DOC_ROUTES or not (path.startswith("/api/v1/") or path in ("/healthz", "/readyz")):
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                operations.append((re.sub(r"\{(\w+):\w+\}", r"{\1}", path), method.lower()))
    return operations


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


# -- health ----------------------------------------------------------------------------------------


async def test_health_and_readiness(app, client, monkeypatch, tmp_path: Path, problem):
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}

    # Without a database: alive, but not ready.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    engine = create_async_engine(f"sqlite+aiosqlite:///{blocker / 'gamif.db'}")
    monkeypatch.setattr(app.state.services, "sessions", session_factory(engine))
    try:
        body = problem(await client.get("/readyz"), 503)
    finally:
        await engine.dispose()
    assert "database" in body["detail"]
    assert (await client.get("/healthz")).status_code == 200


async def test_before_it_has_started_the_app_answers_503_problems(app_settings, problem):
    """Its services exist once its lifespan has opened the stores, the queue and the hub: until then
    each endpoint that needs one answers 503 (with Retry-After) as the hub's WebSocket does, not a 500."""
    app = create_app(app_settings)  # not started
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/healthz")).status_code == 200
        for response in (
            await http.get("/readyz"),
            await http.get("/api/v1/me", headers={"Authorization": "Bearer x"}),
            await http.post("/api/v1/auth/login", json={"login": "alice", "password": "x" * 12}),
        ):
            body = problem(response, 503)
            assert body["type"].endswith("/unavailable")
            assert "starting" in body["detail"]
            assert response.headers["retry-after"] == "1"


async def test_while_the_hub_is_away_its_stats_answer_503_and_the_boards_still_read(
    app, client, admin, problem
):
    services = app.state.services
    hub, services.hub = services.hub, None  # as while the app stops
    try:
        stats = await client.get("/api/v1/hub", headers=admin.headers)
        # The leaderboards read the live services (the directory and the boards), which outlive the hub.
        board = await client.get("/api/v1/leaderboards/xp/weekly", headers=admin.headers)
    finally:
        services.hub = hub
    assert "the hub is starting or stopping" in problem(stats, 503)["detail"]
    assert board.status_code == 200
    assert (await client.get("/api/v1/hub", headers=admin.headers)).status_code == 200


# -- OpenAPI and docs ------------------------------------------------------------------------------


async def test_the_openapi_document_describes_every_route_and_resolves(app, client):
    response = await client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "gamif"
    operations = api_operations(app)
    assert len(operations) >= 20
    for path, method in operations:
        assert method in document["paths"].get(path, {}), f"{method.upper()} {path} is not documented"
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == set(operations)  # and nothing that does not exist
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    # Every reference resolves inside the document.
    schemas = document["components"]["schemas"]
    found = refs(document)
    assert PROBLEM_REF in found
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, f"{ref} does not resolve"
    for item in document["paths"].values():
        for operation in item.values():
            for scheme in operation["security"]:
                assert set(scheme) <= set(document["components"]["securitySchemes"])


async def test_every_operation_documents_its_problems(client):
    document = (await client.get("/api/v1/openapi.json")).json()

    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            expected = set()
            if "requestBody" in operation:
                expected |= {"400", "413", "415", "422"}
            if operation["security"]:
                expected |= {"401"}
            assert expected <= set(responses), f"{where} documents {sorted(responses)}"
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": PROBLEM_REF}, where
            success = [status for status in responses if status.startswith("2")]
            assert len(success) == 1, where
            for name in re.findall(r"\{(\w+)\}", path):
                [declared] = [p for p in operation["parameters"] if p["name"] == name]
                assert (declared["in"], declared["required"]) == ("path", True), where
                # What the route takes: any non-empty segment, digits (an id), or one of a few words.
                assert declared["schema"] in (
                    {"type": "string", "minLength": 1},
                    {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                ) or set(declared["schema"]) == {"type", "enum"}, where


async def test_every_403_the_api_answers_is_documented(app, client, service_account, register):
    """An API key sent to an endpoint that is for people is refused with 403: that must be documented."""
    await register("alice")
    key = await service_account(["admin"])
    document = (await client.get("/api/v1/openapi.json")).json()
    undocumented = []
    for path, method in api_operations(app):
        operation = document["paths"][path][method]
        if not operation["security"]:
            continue
        concrete = path.replace("{slug}", "core").replace("{handle}", "alice")
        response = await client.request(method.upper(), concrete, json={}, headers=key.headers)
        if response.status_code == 403 and "403" not in operation["responses"]:
            undocumented.append(f"{method.upper()} {path}")
    assert not undocumented, f"answered 403 but not documented: {', '.join(undocumented)}"


async def test_the_docs_page_lists_every_operation(client):
    document = (await client.get("/api/v1/openapi.json")).json()

    response = await client.get("/api/v1/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'href="openapi.json"' in page
    for path, item in document["paths"].items():
        for method, operation in item.items():
            row = f"<td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
            assert row in page, f"{method.upper()} {path} is not on the docs page"
            assert html.escape(operation["summary"]) in page


# -- problems for everything -----------------------------------------------------------------------


async def test_unknown_routes_and_wrong_methods_are_problems(client, player, problem):
    for path in ("/api/v1/nope", "/api/v2/me", "/api"):  # `/` is the web client (test_web_client.py)
        body = problem(await client.get(path), 404)
        assert body["type"].endswith("/not-found")

    response = await client.delete("/api/v1/me", headers=player.headers)

    body = problem(response, 405)
    assert body["type"].endswith("/method-not-allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    problem(await client.put("/api/v1/metrics", json={}), 405)


async def test_an_unexpected_error_is_a_500_problem_that_tells_nothing(
    app, client, player, monkeypatch, problem
):
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 at db-internal:5432")

    monkeypatch.setattr(app.state.services.profiles, "me", broken)

    response = await client.get("/api/v1/me", headers=player.headers)

    body = problem(response, 500)
    assert "hunter2" not in response.text
    assert "db-internal" not in response.text
    assert body["type"].endswith("/internal")
