"""The rules' bounds on self-reports, through POST /api/v1/metrics (the issue's back-dating exploit:
1,197 self-reports over 399 days, in two requests, reached level 83)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def me_report(n: int, metric: str, when: datetime) -> dict[str, object]:
    return {"id": f"self-{metric}-{n}", "metric": metric, "value": 1, "occurred_at": when.isoformat()}


async def xp(client, caller) -> int:
    response = await client.get("/api/v1/me", headers=caller.headers)
    return int(response.json()["level"]["xp"])


async def test_back_dating_a_year_of_self_reports_earns_nothing(client, player, ingest, db_counts, problem):
    now = datetime.now(UTC)
    metrics = ("tickets_closed", "focus_minutes", "docs_written")
    # A minute inside each day's boundary, so that day 7 is still within the week when the server looks.
    days = [now - timedelta(days=day) + timedelta(minutes=1) for day in range(1, 400)]
    year = [me_report(n, metric, when) for n, when in enumerate(days, 1) for metric in metrics]
    assert len(year) == 1197

    # The two requests are each over the per-request cap: refused whole, nothing written.
    before = await db_counts()
    refused = await ingest(player.headers, year[:600])
    body = problem(refused, 422, "events")
    assert body["errors"][0]["code"] == "too_many_self_reports"
    assert await db_counts() == before

    # Within the cap, a back-dated report is rejected with its own code; the last week's are scored.
    answer = await ingest(player.headers, year[:50])
    assert answer.status_code == 202, answer.text
    out = answer.json()
    week = [e for e in year[:50] if datetime.fromisoformat(str(e["occurred_at"])) >= now - timedelta(days=7)]
    assert out["accepted"] == len(week) == 21  # days 1 to 7, three metrics
    old = [e for e in out["events"] if e["status"] == "rejected"]
    assert {(e["code"], e["field"]) for e in old} == {("self_report_too_old", "occurred_at")}
    assert len(old) == 29
    assert await xp(client, player) < 500  # a week of honest-looking reports, not level 83


async def test_a_metric_takes_ten_self_reports_a_day_counting_earlier_requests(client, player, ingest):
    when = datetime.now(UTC) - timedelta(minutes=5)
    first = await ingest(player.headers, [me_report(n, "tickets_closed", when) for n in range(7)])
    assert first.json()["accepted"] == 7

    second = await ingest(player.headers, [me_report(n, "tickets_closed", when) for n in range(7, 12)])
    statuses = [(e["status"], e["code"]) for e in second.json()["events"]]
    assert statuses == [("accepted", None)] * 3 + [("rejected", "self_report_daily_limit")] * 2

    # Re-sent reports are duplicates (not counted twice, not refused by the limit).
    again = await ingest(player.headers, [me_report(n, "tickets_closed", when) for n in range(3)])
    assert [e["code"] for e in again.json()["events"]] == ["already_scored"] * 3
    # Another metric has its own count.
    other = await ingest(player.headers, [me_report(0, "docs_written", when)])
    assert other.json()["accepted"] == 1


@pytest.mark.settings(ingest_max_batch=2000)
async def test_integrations_are_not_bounded_by_the_self_report_rules(register, service_account, ingest):
    alice = await register("alice")
    key = await service_account(["metrics:write"])
    now = datetime.now(UTC)
    events = [
        {
            "id": f"ci-{n}",
            "user": alice.handle,
            "metric": "tickets_closed",
            "value": 1,
            "occurred_at": (now - timedelta(days=30, minutes=n)).isoformat(),
        }
        for n in range(60)
    ]
    answer = await ingest(key.headers, events)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 60
