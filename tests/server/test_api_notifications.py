"""Notifications: what a player earns is kept (with its explanation) until they mark it read."""

from __future__ import annotations


async def level_up(ingest, player, ago) -> None:
    # Tickets pay 8 XP each, at most 80 a day: two days of ten reach level 2 (100 XP).
    events = [
        {"id": f"t-{day}", "metric": "tickets_closed", "value": 10, "occurred_at": ago(days=day)}
        for day in (1, 2)
    ]
    assert (await ingest(player.headers, events)).status_code == 202


async def test_a_level_up_is_kept_until_read(client, register, ingest, ago):
    ana, ben = await register("ana"), await register("ben")
    await level_up(ingest, ana, ago)

    listed = await client.get("/api/v1/me/notifications", headers=ana.headers)
    assert listed.status_code == 200
    [note] = [item for item in listed.json()["items"] if item["kind"] == "level_up"]
    assert note["data"]["level"] == 2
    assert "level 2" in note["data"]["explanation"]
    assert note["data"]["summary"] == "Reached level 2"
    assert note["read_at"] is None

    # Only its owner may mark it; marking twice is harmless.
    other = await client.post(f"/api/v1/me/notifications/{note['id']}/read", headers=ben.headers)
    assert other.status_code == 404
    for _ in range(2):
        read = await client.post(f"/api/v1/me/notifications/{note['id']}/read", headers=ana.headers)
        assert read.status_code == 204
    unread = (await client.get("/api/v1/me/notifications", headers=ana.headers)).json()["items"]
    assert note["id"] not in [item["id"] for item in unread]
    everything = await client.get("/api/v1/me/notifications", params={"unread": "false"}, headers=ana.headers)
    [kept] = [item for item in everything.json()["items"] if item["id"] == note["id"]]
    assert kept["read_at"] is not None
    assert (await client.get("/api/v1/me/notifications", headers=ben.headers)).json()["items"] == []


async def test_unknown_notifications_and_bad_queries(client, register, problem):
    ana = await register("ana")
    problem(await client.post("/api/v1/me/notifications/999/read", headers=ana.headers), 404)
    problem(await client.get("/api/v1/me/notifications", params={"limit": 0}, headers=ana.headers), 422)
    problem(await client.post("/api/v1/me/notifications/999/read"), 401)
