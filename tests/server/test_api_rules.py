"""/rules: the current rule set and its versions; admins publish new, validated versions."""

from __future__ import annotations

from datetime import datetime

from game import default_rules_text

DEFAULT = default_rules_text()


def version(number: int, text: str = DEFAULT) -> str:
    assert "\nversion: 1\n" in text
    return text.replace("\nversion: 1\n", f"\nversion: {number}\n")


# Commits are worth 3 XP instead of 2.
RICHER = version(2).replace("xp_per_unit: 2\n", "xp_per_unit: 3\n", 1)


async def test_the_current_rules(client, player):
    response = await client.get("/api/v1/rules", headers=player.headers)

    assert response.status_code == 200
    rules = response.json()
    assert set(rules) == {"version", "ruleset", "fingerprint", "created_at", "created_by", "yaml", "summary"}
    assert rules["version"] == 1
    assert rules["ruleset"] == "software-teams"
    assert rules["yaml"] == DEFAULT
    assert rules["created_by"] == "bootstrap"
    assert len(rules["fingerprint"]) == 16
    assert datetime.fromisoformat(rules["created_at"]).tzinfo is not None
    summary = rules["summary"]
    assert summary["metrics"] == sorted(summary["metrics"])
    assert {"commits", "reviews_done", "tickets_closed"} <= set(summary["metrics"])
    assert summary["metric_names"]["prs_merged"] == "Pull requests merged"
    assert set(summary["metric_names"]) == set(summary["metrics"])
    assert "night-shift" in summary["badges"]
    assert summary["streaks"] == ["reviewing", "shipping"]
    assert summary["levels"] == 100
    assert summary["top_level_xp"] > 0

    versions = await client.get("/api/v1/rules/versions", headers=player.headers)
    assert versions.status_code == 200
    assert versions.json() == {
        "versions": [
            {key: rules[key] for key in ("version", "ruleset", "fingerprint", "created_at", "created_by")}
        ]
    }


async def test_an_admin_publishes_a_new_version(client, admin, player, service_account, ingest, ago):
    response = await client.put("/api/v1/rules", json={"yaml": RICHER}, headers=admin.headers)

    assert response.status_code == 201
    published = response.json()
    assert published["version"] == 2
    assert "xp_per_unit: 3\n" in published["yaml"]
    assert published["created_by"] == f"user:{admin.id}"
    current = (await client.get("/api/v1/rules", headers=player.headers)).json()
    assert current == published
    versions = (await client.get("/api/v1/rules/versions", headers=player.headers)).json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["fingerprint"] == published["fingerprint"] != versions[1]["fingerprint"]
    assert (await client.get("/api/v1/me", headers=player.headers)).json()["rule_version"] == 2

    # New events are scored by the new version.
    key = await service_account(["metrics:write"])
    event = {"id": "c1", "user": "alice", "metric": "commits", "value": 4, "occurred_at": ago()}
    assert (await ingest(key.headers, [event])).json()["rule_version"] == 2
    ledger = (await client.get("/api/v1/me/ledger", headers=player.headers)).json()["items"]
    commits = next(item for item in ledger if item["rule_id"] == "metrics.commits")
    assert (commits["amount"], commits["rule_version"]) == (12, 2)


async def test_the_yaml_is_kept_as_submitted(client, admin, problem):
    """An indented document is valid YAML; the text is stored byte for byte (comments, final newline)."""
    lines = [line for line in RICHER.splitlines(keepends=True) if not line.startswith("#")]
    indented = "".join(f"  {line}" if line.strip() else line for line in lines)

    response = await client.put("/api/v1/rules", json={"yaml": indented}, headers=admin.headers)

    assert response.status_code == 201, response.text
    assert response.json()["yaml"] == indented
    assert (await client.get("/api/v1/rules", headers=admin.headers)).json()["yaml"] == indented


async def test_invalid_rules_are_refused_naming_the_yaml_path(client, admin, player, problem, subtests):
    unknown_metric = version(2).replace(
        "criteria: {kind: event_count, metric: commits, count: 1}",
        "criteria: {kind: event_count, metric: deploys, count: 1}",
    )
    cases = {
        "badge on an unknown metric": (unknown_metric, "yaml.badges.first-commit.criteria.metric"),
        "not YAML": ("ruleset: [unclosed\n", "yaml"),
        "missing sections": ("ruleset: tiny\nversion: 2\n", "yaml.metrics"),
        "negative XP": (
            version(2).replace("xp_per_unit: 25\n", "xp_per_unit: -25\n"),
            "yaml.metrics.prs_merged",
        ),
    }
    for name, (text, field) in cases.items():
        with subtests.test(name):
            body = problem(await client.put("/api/v1/rules", json={"yaml": text}, headers=admin.headers), 422)
            named = [error["field"] for error in body["errors"]]
            assert any(f == field or f.startswith(field + ".") for f in named), named
    with subtests.test("empty"):
        problem(await client.put("/api/v1/rules", json={"yaml": ""}, headers=admin.headers), 422, "yaml")
    with subtests.test("unknown field"):
        response = await client.put(
            "/api/v1/rules", json={"yaml": RICHER, "force": True}, headers=admin.headers
        )
        problem(response, 422, "force")
    assert (await client.get("/api/v1/rules", headers=player.headers)).json()["version"] == 1


async def test_a_version_must_be_new(client, admin, problem):
    problem(await client.put("/api/v1/rules", json={"yaml": DEFAULT}, headers=admin.headers), 409)
    assert (
        await client.put("/api/v1/rules", json={"yaml": RICHER}, headers=admin.headers)
    ).status_code == 201
    problem(await client.put("/api/v1/rules", json={"yaml": RICHER}, headers=admin.headers), 409)
    older = version(1).replace("xp_per_unit: 2\n", "xp_per_unit: 5\n", 1)
    problem(await client.put("/api/v1/rules", json={"yaml": older}, headers=admin.headers), 409)
    # The same rules under a new number change nothing: refused too.
    renumbered = RICHER.replace("\nversion: 2\n", "\nversion: 3\n")
    problem(await client.put("/api/v1/rules", json={"yaml": renumbered}, headers=admin.headers), 409)
    versions = (await client.get("/api/v1/rules/versions", headers=admin.headers)).json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]


async def test_only_admins_publish_rules(client, player, service_account, problem):
    key = await service_account(["admin"])

    problem(await client.put("/api/v1/rules", json={"yaml": RICHER}, headers=player.headers), 403)
    problem(await client.put("/api/v1/rules", json={"yaml": RICHER}, headers=key.headers), 403)
    problem(await client.put("/api/v1/rules", json={"yaml": RICHER}), 401)
    problem(await client.get("/api/v1/rules"), 401)
    problem(await client.get("/api/v1/rules/versions"), 401)
    assert (await client.get("/api/v1/rules", headers=player.headers)).json()["version"] == 1
