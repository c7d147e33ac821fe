"""Odd but well-formed input (tampered cursors, NUL characters) gets a 4xx problem, never a 500.

The same request must fare the same on SQLite and PostgreSQL: PostgreSQL refuses NUL in text and
JSONB, and bigint is bounded, so the API has to check before the database does.
"""

from __future__ import annotations

import base64


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_a_ledger_cursor_that_is_not_a_plain_number_is_422(client, player, problem, subtests):
    cases = {
        "superscript digit": cursor("v1:²"),
        "beyond 64 bits": cursor("v1:99999999999999999999999"),
    }
    for name, value in cases.items():
        with subtests.test(name):
            response = await client.get("/api/v1/me/ledger", params={"cursor": value}, headers=player.headers)
            problem(response, 422, "cursor")


async def test_nul_characters_are_refused_or_stored_never_a_500(
    client, admin, player, service_account, ago, db_counts, problem, subtests
):
    key = await service_account(["metrics:write"])
    await client.post("/api/v1/teams", json={"slug": "core", "name": "Core"}, headers=admin.headers)

    def event(**changes: object) -> dict[str, object]:
        return {"id": "nul", "user": "alice", "metric": "commits", "value": 1, "occurred_at": ago()} | changes

    def refused_or_done(response, ok: int, field: str) -> None:
        if response.status_code != ok:
            problem(response, 422, field)

    writes = {
        "register: display name": (
            "POST",
            "/api/v1/auth/register",
            {"email": "n@example.com", "password": "x" * 12, "handle": "nul", "display_name": "N\x00"},
            admin.headers,
            201,
            "display_name",
        ),
        "create team: name": (
            "POST",
            "/api/v1/teams",
            {"slug": "nul", "name": "N\x00"},
            admin.headers,
            201,
            "name",
        ),
        "metric event: id": (
            "POST",
            "/api/v1/metrics",
            {"events": [event(id="a\x00b")]},
            key.headers,
            200,
            "events.0.id",
        ),
        "metric event: metadata": (
            "POST",
            "/api/v1/metrics",
            {"events": [event(metadata={"branch": "main\x00"})]},
            key.headers,
            200,
            "events.0.metadata",
        ),
    }
    for name, (method, path, body, headers, ok, field) in writes.items():
        with subtests.test(name):
            before = await db_counts()
            response = await client.request(method, path, json=body, headers=headers)
            refused_or_done(response, ok, field)
            if response.status_code != ok:
                assert await db_counts() == before
    with subtests.test("login"):
        response = await client.post("/api/v1/auth/login", json={"login": "ali\x00ce", "password": "x" * 12})
        assert response.status_code in (401, 422), response.text
    reads = {
        "a user": ("GET", "/api/v1/users/ali%00ce"),
        "a team": ("GET", "/api/v1/teams/co%00re"),
        "a member": ("PUT", "/api/v1/teams/core/members/ali%00ce"),
    }
    for name, (method, path) in reads.items():
        with subtests.test(name):
            problem(await client.request(method, path, headers=admin.headers), 404)
    with subtests.test("a team cursor"):
        response = await client.get(
            "/api/v1/teams", params={"cursor": cursor("v1:\x00")}, headers=player.headers
        )
        refused_or_done(response, 200, "cursor")
