"""POST /rules/validate: what PUT /rules would say of a rule set, without publishing it."""

from __future__ import annotations

from game import default_rules_text

DEFAULT = default_rules_text()


def version(number: int, text: str = DEFAULT) -> str:
    assert "\nversion: 1\n" in text
    return text.replace("\nversion: 1\n", f"\nversion: {number}\n")


RICHER = version(2).replace("xp_per_unit: 2\n", "xp_per_unit: 3\n", 1)


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


async def versions(client, headers) -> list[int]:
    response = await client.get("/api/v1/rules/versions", headers=headers)
    return [v["version"] for v in response.json()["versions"]]


async def test_a_valid_rule_set_gets_its_summary_and_is_not_published(client, admin):
    current = (await client.get("/api/v1/rules", headers=admin.headers)).json()

    response = await client.post("/api/v1/rules/validate", json={"yaml": RICHER}, headers=admin.headers)

    assert response.status_code == 200
    assert response.json() == {"valid": True, "version": 2, "summary": current["summary"], "problems": []}
    assert (await client.get("/api/v1/rules", headers=admin.headers)).json() == current
    assert await versions(client, admin.headers) == [1]
    # And PUT still publishes it, as validate said it would.
    assert (
        await client.put("/api/v1/rules", json={"yaml": RICHER}, headers=admin.headers)
    ).status_code == 201


async def test_invalid_rules_come_back_as_problems_with_their_line(client, admin):
    text = version(2).replace(
        "criteria: {kind: event_count, metric: commits, count: 1}",
        "criteria: {kind: event_count, metric: deploys, count: 1}",
    )

    response = await client.post("/api/v1/rules/validate", json={"yaml": text}, headers=admin.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["summary"] is None
    assert body["version"] is None
    [problem] = body["problems"]
    assert set(problem) == {"path", "line", "message"}
    assert problem["path"] == "badges.first-commit.criteria.metric"
    assert problem["line"] == line_of(text, "metric: deploys")
    assert "deploys" in problem["message"]
    assert await versions(client, admin.headers) == [1]


async def test_malformed_yaml_names_its_line(client, admin):
    text = "ruleset: tiny\nversion: 2\nmetrics: [unclosed\n"

    body = (await client.post("/api/v1/rules/validate", json={"yaml": text}, headers=admin.headers)).json()

    assert body["valid"] is False
    [problem] = body["problems"]
    assert problem["path"] == ""
    assert "malformed YAML" in problem["message"]
    assert isinstance(problem["line"], int)


async def test_the_version_must_increase_is_a_problem_too(client, admin):
    body = (await client.post("/api/v1/rules/validate", json={"yaml": DEFAULT}, headers=admin.headers)).json()

    assert body["valid"] is False
    assert body["problems"] == [
        {
            "path": "version",
            "line": line_of(DEFAULT, "version: 1"),
            "message": "version must be greater than the current version 1, got 1",
        }
    ]
    # The same rules under a new number: what PUT answers with 409, as a problem of the whole document.
    renumbered = version(2)
    body = (
        await client.post("/api/v1/rules/validate", json={"yaml": renumbered}, headers=admin.headers)
    ).json()
    assert body["valid"] is False
    assert body["problems"] == [
        {"path": "", "line": None, "message": "this rule set is identical to version 1 except for the number"}
    ]
    assert await versions(client, admin.headers) == [1]


async def test_the_body_is_checked_like_put(client, admin, problem):
    response = await client.post("/api/v1/rules/validate", json={"yaml": ""}, headers=admin.headers)
    problem(response, 422, "yaml")
    response = await client.post(
        "/api/v1/rules/validate", json={"yaml": RICHER, "force": True}, headers=admin.headers
    )
    problem(response, 422, "force")


async def test_only_admins_validate_rules(client, player, service_account, problem):
    key = await service_account(["admin"])

    for headers, status in ((player.headers, 403), (key.headers, 403), ({}, 401)):
        response = await client.post("/api/v1/rules/validate", json={"yaml": RICHER}, headers=headers)
        problem(response, status)
    assert await versions(client, player.headers) == [1]
