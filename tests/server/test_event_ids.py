"""Event ids through POST /api/v1/metrics: scoped to the sender and the user (the issue: a player who
reports an id an integration will send later for someone else must not make it `already_scored`)."""

from __future__ import annotations


def event(event_id: str, ago: str, user: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"id": event_id, "metric": "tickets_closed", "value": 2, "occurred_at": ago}
    if user is not None:
        body["user"] = user
    return body


def outcome(response) -> list[tuple[str, str | None]]:
    assert response.status_code == 202, response.text
    return [(e["status"], e["code"]) for e in response.json()["events"]]


async def xp(client, caller) -> int:
    return int((await client.get("/api/v1/me", headers=caller.headers)).json()["level"]["xp"])


async def test_a_players_id_cannot_take_an_integrations_event(client, register, service_account, ingest, ago):
    alice, mallory = await register("alice"), await register("mallory")
    jira = await service_account(["metrics:write"])
    when = ago()

    # Mallory reports, as her own, the id the integration will send for alice.
    assert outcome(await ingest(mallory.headers, [event("JIRA-1234", when)])) == [("accepted", None)]
    # The integration's real event is scored, for alice.
    assert outcome(await ingest(jira.headers, [event("JIRA-1234", when, "alice")])) == [("accepted", None)]
    assert await xp(client, alice) == 16

    # Sent again by the same integration for alice: already scored, as ever.
    again = await ingest(jira.headers, [event("JIRA-1234", when, "alice")])
    assert outcome(again) == [("duplicate", "already_scored")]
    # Another integration's id space is its own too.
    other = await service_account(["metrics:write"])
    assert outcome(await ingest(other.headers, [event("JIRA-1234", when, "alice")])) == [("accepted", None)]
    # And mallory's own id stays hers: re-sent, a duplicate.
    assert outcome(await ingest(mallory.headers, [event("JIRA-1234", when)])) == [
        ("duplicate", "already_scored")
    ]
    assert await xp(client, alice) == 32
