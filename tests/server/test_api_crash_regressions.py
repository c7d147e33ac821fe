"""Inputs that used to crash a handler (a 500 and a traceback) get their problem answer instead, on SQLite
and on PostgreSQL alike: a control character in a YAML rule set, an id beyond 64 bits, a body nested
100,000 deep, NUL characters and lone surrogates, times no calendar holds. Nothing is written."""

from __future__ import annotations

import json

import pytest

from server.api.endpoints import MAX_JSON_DEPTH


@pytest.mark.parametrize(
    ("yaml_text", "line", "says"),
    [
        ("version: 2\u0001", 1, "U+0001 is not allowed"),
        ("ruleset: x\nversion: 2\x1b", 2, "U+001B is not allowed"),
        ("[" * 100_000, 1, "nested deeper than 64 levels"),
        (
            "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 9)}]\n" for i in range(8)),
            6,  # l5: 9^6 copies of x
            "expands to more than 100,000 values",
        ),
        ("a: &a [*a]", 1, "an alias refers to a value that contains it"),
    ],
    ids=[
        "a control character",
        "escape, on line 2",
        "100,000 brackets",
        "billion laughs",
        "a recursive alias",
    ],
)
async def test_malformed_yaml_is_a_rule_problem_not_a_500(client, admin, problem, yaml_text, line, says):
    checked = await client.post("/api/v1/rules/validate", json={"yaml": yaml_text}, headers=admin.headers)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["valid"] is False
    [found] = body["problems"]
    assert (found["path"], found["line"]) == ("", line)
    assert says in found["message"]
    before = (await client.get("/api/v1/rules/versions", headers=admin.headers)).json()
    published = await client.put("/api/v1/rules", json={"yaml": yaml_text}, headers=admin.headers)
    refused = problem(published, 422, "yaml")
    assert refused["type"].endswith("/invalid-rules")
    assert says in refused["errors"][0]["message"]
    assert (await client.get("/api/v1/rules/versions", headers=admin.headers)).json() == before


@pytest.mark.parametrize(
    "notification_id",
    ["99999999999999999999", str(2**63), str(2**63 - 1), "0"],
    ids=["20 digits", "2^63", "the largest id", "zero"],
)
async def test_a_notification_id_beyond_any_row_is_404(client, player, problem, notification_id):
    response = await client.post(f"/api/v1/me/notifications/{notification_id}/read", headers=player.headers)
    assert problem(response, 404)["detail"] == f"notification {notification_id} does not exist"


async def test_a_deeply_nested_body_is_malformed_json(client, problem):
    for depth in (100_000, 1_000, MAX_JSON_DEPTH + 1):
        body = ("[" * depth + "]" * depth).encode()
        response = await client.post(
            "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
        )
        refused = problem(response, 400)
        assert refused["type"].endswith("/malformed-json")
        assert f"deeper than {MAX_JSON_DEPTH} levels" in refused["detail"]
    # At the limit, the body is parsed and judged on what it says (the metadata of an event, here).
    nested: object = "x"
    for _ in range(MAX_JSON_DEPTH - 4):  # body, events, event, metadata: 4 levels
        nested = [nested]
    event = {"id": "e", "metric": "commits", "value": 1, "occurred_at": "2026-01-01T00:00:00Z"}
    body = json.dumps({"events": [event | {"metadata": {"deep": nested}}]}).encode()
    response = await client.post(
        "/api/v1/metrics", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 401  # no credentials: past parsing and validation


async def test_http_ingest_refuses_unstorable_text_and_impossible_times(
    client, service_account, ago, db_counts, problem
):
    key = await service_account(["metrics:write"])

    def event(**changes: object) -> dict[str, object]:
        return {
            "id": "e-1",
            "user": "nobody",
            "metric": "commits",
            "value": 1,
            "occurred_at": ago(),
        } | changes

    refused = {
        "NUL in the id": (event(id="a\x00b"), "events.0.id"),
        "NUL in a metadata value": (event(metadata={"branch": "main\x00"}), "events.0.metadata"),
        "NUL in a metadata key": (event(metadata={"bra\x00nch": "main"}), "events.0.metadata"),
        "NUL deep in metadata": (event(metadata={"a": [{"b": ["\x00"]}]}), "events.0.metadata"),
        "a lone surrogate in the id": (event(id="a\ud800b"), "events.0.id"),
        "a lone surrogate in metadata": (event(metadata={"k": "\udfff"}), "events.0.metadata"),
        "the year 10000": (event(occurred_at="10000-01-01T00:00:00Z"), "events.0.occurred_at"),
        "a huge value": (event(value=10**400), "events.0.value"),
    }
    before = await db_counts()
    for name, (sent, field) in refused.items():
        # json.dumps escapes the surrogates as \ud800, which JSON allows and Python decodes as is.
        body = json.dumps({"events": [sent]}).encode()
        response = await client.post(
            "/api/v1/metrics", content=body, headers=key.headers | {"content-type": "application/json"}
        )
        assert response.status_code == 422, (name, response.text)
        problem(response, 422, field)
    # The last moments a calendar holds are answered per event: far in the future, or too old.
    edges = [
        event(id="late", user="root", occurred_at="9999-12-31T23:59:59.999-23:59"),
        event(id="early", user="root", occurred_at="0001-01-01T00:00:00+23:59"),
    ]
    answered = await client.post("/api/v1/metrics", json={"events": edges}, headers=key.headers)
    assert answered.status_code == 202, answered.text
    assert [(e["id"], e["status"], e["code"]) for e in answered.json()["events"]] == [
        ("late", "rejected", "in_the_future"),
        ("early", "rejected", "too_old"),
    ]
    assert await db_counts() == before


async def test_a_timezone_that_names_a_directory_of_zones_is_422(client, admin, problem):
    body = {"email": "z@example.com", "password": "a long password", "handle": "zed", "display_name": "Zed"}
    response = await client.post("/api/v1/auth/register", json=body | {"timezone": "America"})
    assert "unknown timezone 'America'" in problem(response, 422, "timezone")["errors"][0]["message"]
    users = {"users": [{"handle": "zed", "display_name": "Zed", "timezone": "Europe"}]}
    problem(
        await client.post("/api/v1/admin/users", json=users, headers=admin.headers), 422, "users.0.timezone"
    )


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_numbers_json_has_not_are_malformed_json(client, service_account, db_counts, problem, number):
    key = await service_account(["metrics:write"])
    event = (
        '{"id": "n", "user": "root", "metric": "commits", "value": 1, "occurred_at": "2026-01-01T00:00:00Z"'
    )
    body = '{"events": [' + event + ', "metadata": {"x": ' + number + "}}]}"
    before = await db_counts()
    response = await client.post(
        "/api/v1/metrics", content=body.encode(), headers=key.headers | {"content-type": "application/json"}
    )
    refused = problem(response, 400)
    assert refused["type"].endswith("/malformed-json")
    assert number.lstrip("-") in refused["detail"]
    assert await db_counts() == before
