"""POST /metrics: who may report what, idempotent scoring, a status per event (rejected events are never
written, and do not hold up the others), and requests refused whole (nothing written)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update

from persistence.models import LedgerEntry, MetricEventRow, ServiceAccount, User, UserStateRow

NOTHING = {"metric_events": 0, "xp_ledger": 0, "user_states": 0, "badges_earned": 0, "mission_progress": 0}


async def me(client, caller) -> dict:
    response = await client.get("/api/v1/me", headers=caller.headers)
    assert response.status_code == 200
    return response.json()


# -- accepted --------------------------------------------------------------------------------------


async def test_an_integration_reports_anyones_work(client, register, service_account, ingest, ago, db_counts):
    alice, bob = await register("alice"), await register("bob")
    key = await service_account(["metrics:write"])
    events = [
        {"id": "gh-1", "user": "alice", "metric": "commits", "value": 5, "occurred_at": ago()},
        {"id": "gh-2", "user": "alice", "metric": "reviews_done", "value": 10, "occurred_at": ago()},
        {
            "id": "gh-3",
            "user": "bob",
            "metric": "prs_merged",
            "value": 1,
            "occurred_at": ago(),
            "metadata": {"pr": 7},
        },
    ]

    response = await ingest(key.headers, events)

    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": 0,
        "rule_version": 1,
        "events": [
            {"id": f"gh-{i}", "status": "accepted", "code": None, "reason": None, "field": None}
            for i in (1, 2, 3)
        ],
    }
    assert (await db_counts())["metric_events"] == 3
    alice_me = await me(client, alice)
    # 5 commits x 2 + 10 reviews x 10 capped at 80 + the reviewer badge's 50 + the daily mission's 20
    # + the review marathon's 30
    assert alice_me["level"]["xp"] == 10 + 80 + 50 + 20 + 30
    assert alice_me["level"]["level"] == 2
    badges = {badge["badge_id"]: badge for badge in alice_me["badges"]}
    assert {"first-commit", "reviewer", "review-marathon"} <= set(badges)
    assert "reviews_done total 10" in badges["reviewer"]["explanation"]
    ledger = (await client.get("/api/v1/me/ledger", headers=alice.headers)).json()["items"]
    by_rule = {item["rule_id"]: item for item in ledger}
    assert "capped at 80 by the daily cap" in by_rule["metrics.reviews_done"]["explanation"]
    assert by_rule["badges.reviewer"]["event_ids"] == ["gh-2"]
    assert sum(item["amount"] for item in ledger) == alice_me["level"]["xp"]
    assert (await me(client, bob))["level"]["xp"] == 25


async def test_sending_the_same_events_again_changes_nothing(
    client, player, service_account, ingest, ago, db_counts
):
    key = await service_account(["metrics:write"])
    events = [
        {"id": "e-1", "user": "alice", "metric": "commits", "value": 2, "occurred_at": ago()},
        {"id": "e-2", "user": "alice", "metric": "tickets_closed", "value": 1, "occurred_at": ago()},
    ]
    assert (await ingest(key.headers, events)).json()["accepted"] == 2
    xp, counts = (await me(client, player))["level"]["xp"], await db_counts()

    again = await ingest(key.headers, events)

    assert again.status_code == 202
    body = again.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (0, 2, 0)
    assert [(e["status"], e["code"], e["field"]) for e in body["events"]] == [
        ("duplicate", "already_scored", "id")
    ] * 2
    assert all(e["reason"] == "already scored" for e in body["events"])
    assert (await me(client, player))["level"]["xp"] == xp
    assert await db_counts() == counts
    # A batch of old and new events: only the new one counts.
    mixed = (await ingest(key.headers, [*events, {**events[0], "id": "e-3"}])).json()
    assert [(e["id"], e["status"]) for e in mixed["events"]] == [
        ("e-1", "duplicate"),
        ("e-2", "duplicate"),
        ("e-3", "accepted"),
    ]
    assert (await me(client, player))["level"]["xp"] == xp + 4


async def test_a_player_reports_their_own_self_reportable_work(client, player, ingest, ago, app):
    events = [
        {"id": "mine-1", "metric": "tickets_closed", "value": 2, "occurred_at": ago()},
        {"id": "mine-2", "user": "alice", "metric": "focus_minutes", "value": 60, "occurred_at": ago()},
    ]

    response = await ingest(player.headers, events)

    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    assert (await me(client, player))["level"]["xp"] == 16 + 30
    ledger = (await client.get("/api/v1/me/ledger", headers=player.headers)).json()["items"]
    assert {item["metric"] for item in ledger} == {"tickets_closed", "focus_minutes"}
    async with app.state.services.sessions() as session:
        state = await session.get(UserStateRow, uuid.UUID(player.id))
    assert state is not None
    assert state.xp == 46


# -- who may report what ---------------------------------------------------------------------------


async def stored_ids(app) -> set[str]:
    async with app.state.services.sessions() as session:
        return set(await session.scalars(select(MetricEventRow.id)))


def statuses(response) -> list[tuple[str, str, str | None, str | None]]:
    """``(id, status, code, field)`` of each event of a 202 answer, checking that each has a reason."""
    assert response.status_code == 202, response.text
    body = response.json()
    for item in body["events"]:
        assert set(item) == {"id", "status", "code", "reason", "field"}
        assert (item["status"] == "accepted") == (item["reason"] is None) == (item["code"] is None)
    counts = {kind: sum(e["status"] == kind for e in body["events"]) for kind in ("accepted", "rejected")}
    assert (body["accepted"], body["rejected"]) == (counts["accepted"], counts["rejected"])
    return [(e["id"], e["status"], e["code"], e["field"]) for e in body["events"]]


async def test_what_a_caller_may_not_report_is_rejected_and_never_written(
    app, client, register, service_account, ingest, ago, db_counts, subtests
):
    alice, _ = await register("alice"), await register("bob")
    commits_only = await service_account(["metrics:write"], metrics=["commits"])

    def event(**changes: object) -> dict[str, object]:
        item = {"id": "x-1", "user": "alice", "metric": "commits", "value": 1, "occurred_at": ago()} | changes
        return {k: v for k, v in item.items() if v is not None}

    fine = {"id": "ok-1", "metric": "tickets_closed", "value": 1, "occurred_at": ago()}
    refused = {
        "a player reporting for someone else": (
            alice.headers,
            [fine, event(user="bob", metric="tickets_closed")],
            "not_yours",
            "user",
        ),
        "a player reporting an integration-only metric": (
            alice.headers,
            [fine, event(user=None)],
            "source_not_allowed",
            "metric",
        ),
        "a key limited to other metrics": (
            commits_only.headers,
            [fine | {"user": "alice", "metric": "commits"}, event(metric="reviews_done")],
            "scope",
            "metric",
        ),
    }
    for number, (name, (headers, events, code, field)) in enumerate(refused.items()):
        with subtests.test(name):
            good, bad = ({**item, "id": f"{item['id']}-{number}"} for item in events)
            response = await ingest(headers, [good, bad])
            assert statuses(response) == [
                (good["id"], "accepted", None, None),
                (bad["id"], "rejected", code, field),
            ]
            stored = await stored_ids(app)
            assert good["id"] in stored
            assert bad["id"] not in stored
    with subtests.test("the limited key may send what it is limited to"):
        assert statuses(await ingest(commits_only.headers, [event()])) == [("x-1", "accepted", None, None)]


async def test_refused_callers_get_401_or_403_and_nothing_is_written(
    app, client, register, service_account, ingest, ago, db_counts, problem, subtests
):
    await register("alice")
    read_only = await service_account(["metrics:read"])
    revoked = await service_account(["metrics:write"])
    async with app.state.services.sessions() as session, session.begin():
        await session.execute(
            update(ServiceAccount).where(ServiceAccount.name == revoked.handle).values(revoked_at=func.now())
        )
    forged = read_only.headers["X-API-Key"][:-4] + "AAAA"
    event = {"id": "x-1", "user": "alice", "metric": "commits", "value": 1, "occurred_at": ago()}
    with subtests.test("a key without metrics:write"):
        body = problem(await ingest(read_only.headers, [event]), 403)
        assert body["type"].endswith("/forbidden")
        assert await db_counts() == NOTHING
    unauthenticated = {
        "no credentials": {},
        "a malformed key": {"X-API-Key": "let-me-in"},
        "an unknown key": {"X-API-Key": forged},
        "a revoked key": revoked.headers,
        "a garbled bearer token": {"Authorization": "Bearer garbage"},
    }
    for name, headers in unauthenticated.items():
        with subtests.test(name):
            problem(await ingest(headers, [event]), 401)
            assert await db_counts() == NOTHING


# -- bad input ---------------------------------------------------------------------------------------


async def test_malformed_requests_are_refused_whole_and_write_nothing(
    client, register, service_account, ago, db_counts, problem, subtests
):
    await register("alice")
    key = await service_account(["metrics:write"])

    def event(index: int = 0, **changes: object) -> dict[str, object]:
        good = {"id": f"ev-{index}", "user": "alice", "metric": "commits", "value": 1, "occurred_at": ago()}
        return {k: v for k, v in (good | changes).items() if v is not None}

    # What does not fit the schema is no event at all: the request is refused (and the good events with it).
    cases: dict[str, tuple[object, str]] = {
        "value of the wrong type": ([event(), event(1, value="three")], "events.1.value"),
        "id of the wrong type": ([event(id=42)], "events.0.id"),
        "events not a list": ({"commits": 1}, "events"),
        "no events": ([], "events"),
        "naive timestamp": ([event(occurred_at="2026-01-05T10:00:00")], "events.0.occurred_at"),
        "not a timestamp": ([event(occurred_at="yesterday")], "events.0.occurred_at"),
        "unknown field of an event": ([event(points=100)], "events.0.points"),
        "id too long": ([event(id="x" * 129)], "events.0.id"),
    }
    for name, (events, field) in cases.items():
        with subtests.test(name):
            response = await client.post("/api/v1/metrics", json={"events": events}, headers=key.headers)
            problem(response, 422, field)
            assert await db_counts() == NOTHING
    with subtests.test("unknown top-level field"):
        response = await client.post(
            "/api/v1/metrics", json={"events": [event()], "dry_run": True}, headers=key.headers
        )
        problem(response, 422, "dry_run")
        assert await db_counts() == NOTHING


async def test_each_bad_event_is_rejected_with_its_reason_and_the_rest_is_scored(
    app, client, register, service_account, ingest, ago, subtests
):
    alice = await register("alice")
    await register("carol")
    async with app.state.services.sessions() as session, session.begin():
        await session.execute(update(User).where(User.handle == "carol").values(disabled_at=func.now()))
    key = await service_account(["metrics:write"])

    def event(index: int, **changes: object) -> dict[str, object]:
        good = {"id": f"ev-{index}", "user": "alice", "metric": "commits", "value": 1, "occurred_at": ago()}
        return {k: v for k, v in (good | changes).items() if v is not None}

    cases: dict[str, tuple[dict[str, object], str, str]] = {
        "unknown metric": (event(1, metric="deploys"), "unknown_metric", "metric"),
        "value above max_value": (event(2, value=501), "above_max_value", "value"),
        "negative value": (event(3, value=-3), "invalid_value", "value"),
        "fractional value of a whole metric": (event(4, value=1.5), "invalid_value", "value"),
        "timestamp too far ahead": (event(5, occurred_at=ago(seconds=-600)), "in_the_future", "occurred_at"),
        "timestamp too old": (event(6, occurred_at=ago(days=401)), "too_old", "occurred_at"),
        "unknown user": (event(7, user="nobody"), "unknown_user", "user"),
        "disabled user": (event(8, user="carol"), "unknown_user", "user"),
        "no user from an integration": (event(9, user=None), "missing", "user"),
    }
    for number, (name, (bad, code, field)) in enumerate(cases.items()):
        with subtests.test(name):
            good = event(100 + number, value=2)
            response = await ingest(key.headers, [bad, good])
            assert statuses(response) == [
                (bad["id"], "rejected", code, field),
                (good["id"], "accepted", None, None),
            ]
            stored = await stored_ids(app)
            assert good["id"] in stored
            assert bad["id"] not in stored
    with subtests.test("every bad event is answered, in order, and only the good ones count"):
        xp = (await me(client, alice))["level"]["xp"]
        events = [event(20, metric="deploys"), event(21), event(22, value=10_000), event(23, user="nobody")]
        response = await ingest(key.headers, events)
        assert statuses(response) == [
            ("ev-20", "rejected", "unknown_metric", "metric"),
            ("ev-21", "accepted", None, None),
            ("ev-22", "rejected", "above_max_value", "value"),
            ("ev-23", "rejected", "unknown_user", "user"),
        ]
        assert (response.json()["accepted"], response.json()["rejected"]) == (1, 3)
        assert {"ev-20", "ev-22", "ev-23"}.isdisjoint(await stored_ids(app))
        assert (await me(client, alice))["level"]["xp"] == xp + 2
    with subtests.test("a batch of nothing but bad events is still answered 202"):
        response = await ingest(key.headers, [event(30, metric="deploys"), event(31, user="nobody")])
        assert [status for _, status, _, _ in statuses(response)] == ["rejected", "rejected"]
        assert {"ev-30", "ev-31"}.isdisjoint(await stored_ids(app))


async def test_an_id_repeated_in_a_request_counts_once_the_first_time(app, player, ingest, ago):
    first = {"id": "rep-1", "metric": "tickets_closed", "value": 1, "occurred_at": ago()}
    events = [first, {**first, "id": "rep-2"}, {**first, "value": 5}, {**first, "metric": "deploys"}]

    response = await ingest(player.headers, events)

    assert statuses(response) == [
        ("rep-1", "accepted", None, None),
        ("rep-2", "accepted", None, None),
        ("rep-1", "duplicate", "duplicate_in_batch", "id"),
        ("rep-1", "duplicate", "duplicate_in_batch", "id"),
    ]
    assert (response.json()["accepted"], response.json()["duplicates"]) == (2, 2)
    async with app.state.services.sessions() as session:
        row = await session.get(MetricEventRow, ("rep-1", uuid.UUID(player.id), f"user:{player.id}"))
    assert row is not None
    assert row.value == 1  # the first of the repeated events, not a later one


async def test_a_body_that_is_not_json_is_refused(client, player, ingest, ago, db_counts, problem, subtests):
    event = {"id": "ev", "metric": "tickets_closed", "value": 1, "occurred_at": ago()}
    headers = player.headers | {"Content-Type": "application/json"}
    with subtests.test("malformed JSON"):
        response = await client.post("/api/v1/metrics", content=b'{"events": [', headers=headers)
        problem(response, 400)
    with subtests.test("not UTF-8"):
        response = await client.post("/api/v1/metrics", content=b'{"events": "\xff"}', headers=headers)
        problem(response, 400)
    with subtests.test("not an object"):
        response = await client.post("/api/v1/metrics", content=json.dumps([event]), headers=headers)
        problem(response, 422)
    with subtests.test("another content type"):
        response = await client.post(
            "/api/v1/metrics",
            content=json.dumps({"events": [event]}),
            headers=player.headers | {"Content-Type": "text/plain"},
        )
        problem(response, 415)
    with subtests.test("no content type"):
        response = await client.post(
            "/api/v1/metrics", content=json.dumps({"events": [event]}), headers=player.headers
        )
        problem(response, 415)
    assert await db_counts() == NOTHING


@pytest.mark.settings(max_body_bytes=1024, ingest_max_batch=3)
async def test_bodies_and_batches_over_the_limits_are_refused(
    client, player, ingest, ago, db_counts, problem, subtests
):
    def events(n: int) -> list[dict[str, object]]:
        return [
            {
                "id": f"ev-{i}",
                "metric": "tickets_closed",
                "value": 1,
                "occurred_at": ago(),
                "metadata": {"n": i},
            }
            for i in range(n)
        ]

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b'{"events": ['
        for item in events(20):
            yield json.dumps(item).encode() + b","
        yield b"]}"

    with subtests.test("a body over max_body_bytes"):
        assert len(json.dumps({"events": events(20)})) > 1024
        problem(await ingest(player.headers, events(20)), 413)
        assert await db_counts() == NOTHING
    with subtests.test("a streamed body over max_body_bytes"):
        headers = player.headers | {"Content-Type": "application/json"}
        response = await client.post("/api/v1/metrics", content=streamed(), headers=headers)
        assert "content-length" not in response.request.headers
        problem(response, 413)
        assert await db_counts() == NOTHING
    with subtests.test("a batch over ingest_max_batch"):
        body = problem(await ingest(player.headers, events(4)), 422, "events")
        assert "3" in next(e["message"] for e in body["errors"] if e["field"] == "events")
        assert await db_counts() == NOTHING
    with subtests.test("within both limits"):
        assert (await ingest(player.headers, events(3))).json()["accepted"] == 3


# -- concurrency -----------------------------------------------------------------------------------


async def test_concurrent_requests_with_the_same_ids_score_each_once(
    app, client, register, service_account, ingest, ago
):
    alice = await register("alice")
    key = await service_account(["metrics:write"])
    events = [
        {"id": f"c-{i}", "user": "alice", "metric": "tickets_closed", "value": 1, "occurred_at": ago(days=i)}
        for i in range(6)
    ]
    # Three overlapping batches, each sent twice, all at once.
    batches = [events[:4], events[2:], events[::-1]] * 2

    responses = await asyncio.gather(*(ingest(key.headers, batch) for batch in batches))

    assert [response.status_code for response in responses] == [202] * len(batches)
    # Requests racing each other may each have queued an id (it was not scored yet when they looked):
    # the scoring counts it once all the same.
    for response in responses:
        assert {status["status"] for status in response.json()["events"]} <= {"accepted", "duplicate"}
    async with app.state.services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MetricEventRow)) == len(events)
    xp = (await me(client, alice))["level"]["xp"]
    assert xp == 6 * 8
    async with app.state.services.sessions() as session:
        total = await session.scalar(select(func.sum(LedgerEntry.amount)))
        state = await session.scalar(select(UserStateRow.xp))
    assert total == state == xp
