"""The `ingest` message: a player reports their own work over the socket, as with POST /metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from protocol import Delta, TopicMirror
from tests.hub.cluster import Raw, register
from tests.polling import until


async def test_a_player_ingests_over_the_socket_and_sees_the_result(embedded):
    gil = await register(embedded.http, "gil")
    async with Raw.open(embedded.ws) as raw:
        await raw.login(gil.access_token)
        mirror = TopicMirror(f"user:{gil.user_id}")
        mirror.apply_subscribed(await raw.subscribe(mirror.topic))
        now_ms = int(time.time() * 1000)
        await raw.send(
            {
                "type": "ingest",
                "id": 7,
                "events": [
                    {"id": "ws-1", "metric": "tickets_closed", "value": 2, "occurred_at_ms": now_ms - 60_000}
                ],
            }
        )
        reply = await raw.expect("ingested")
        assert (reply.id, reply.accepted, reply.duplicates, reply.rejected) == (7, 1, 0, 0)
        assert [(e.id, e.status, e.code) for e in reply.events] == [("ws-1", "accepted", None)]
        while not (mirror.document and mirror.document["xp"] > 0):  # scored in the background
            message = await raw.recv()
            if isinstance(message, Delta):
                mirror.apply_delta(message)
        # The same rules as the HTTP API: a player may not report what only integrations report, nor
        # anything dated in the future. Each such event is rejected (not queued), and the others go on.
        await raw.send(
            {
                "type": "ingest",
                "id": 8,
                "events": [
                    {"id": "ws-2", "metric": "commits", "value": 1, "occurred_at_ms": now_ms - 60_000},
                    {
                        "id": "ws-3",
                        "metric": "tickets_closed",
                        "value": 1,
                        "occurred_at_ms": now_ms + 3_600_000,
                    },
                    {"id": "ws-4", "metric": "tickets_closed", "value": 1, "occurred_at_ms": now_ms - 60_000},
                ],
            }
        )
        while (partly := await raw.recv()).type != "ingested":
            pass
        assert (partly.id, partly.accepted, partly.duplicates, partly.rejected) == (8, 1, 0, 2)
        assert [(e.id, e.status, e.code, e.field) for e in partly.events] == [
            ("ws-2", "rejected", "source_not_allowed", "metric"),
            ("ws-3", "rejected", "in_the_future", "occurred_at_ms"),  # named as on the socket
            ("ws-4", "accepted", None, None),
        ]
        assert all(e.reason for e in partly.events[:2])
        # And the same ids count once.
        await raw.send(
            {
                "type": "ingest",
                "id": 9,
                "events": [
                    {"id": "ws-1", "metric": "tickets_closed", "value": 2, "occurred_at_ms": now_ms - 60_000}
                ],
            }
        )
        while (again := await raw.recv()).type != "ingested":
            pass
        assert (again.accepted, again.duplicates, again.rejected) == (0, 1, 0)
        assert [(e.status, e.code) for e in again.events] == [("duplicate", "already_scored")]


async def test_what_happened_while_away_reaches_the_next_screen(embedded):
    hal = await register(embedded.http, "hal")
    auth = {"Authorization": f"Bearer {hal.access_token}"}
    events = [
        {
            "id": f"away-{day}",
            "metric": "tickets_closed",
            "value": 10,
            "occurred_at": (datetime.now(UTC) - timedelta(days=day)).isoformat(),
        }
        for day in (1, 2)
    ]
    async with httpx.AsyncClient(base_url=embedded.http, timeout=30) as http:
        assert (await http.post("/api/v1/metrics", json={"events": events}, headers=auth)).status_code == 202

        async def notified() -> bool:
            return bool((await http.get("/api/v1/me/notifications", headers=auth)).json()["items"])

        await until(notified, "the level-up notification (scored in the background)")
        # No screen was open: the next one gets the level-up, as the event it was, once.
        async with Raw.open(embedded.ws) as raw:
            await raw.login(hal.access_token)
            await raw.subscribe(f"user:{hal.user_id}")
            await raw.send({"type": "ping", "id": 4})
            caught_up = []
            while (message := await raw.recv()).type != "pong":
                caught_up.append(message)
            [event] = [m for m in caught_up if m.type == "event" and m.name == "level_up"]
            assert event.data["level"] == 2
            note = event.data["notification_id"]
            await raw.subscribe(f"user:{hal.user_id}", id=3)  # a resync does not repeat them
            await raw.send({"type": "ping", "id": 6})
            assert (await raw.recv()).type == "pong"
        read = await http.post(f"/api/v1/me/notifications/{note}/read", headers=auth)
        assert read.status_code == 204
        async with Raw.open(embedded.ws) as raw:  # read: not sent again (the others still are)
            await raw.login(hal.access_token)
            await raw.subscribe(f"user:{hal.user_id}")
            await raw.send({"type": "ping", "id": 5})
            again = []
            while (message := await raw.recv()).type != "pong":
                again.append(message)
            assert note not in [m.data.get("notification_id") for m in again if m.type == "event"]
            assert len(again) == len(caught_up) - 1


async def test_a_refusal_of_the_whole_ingest_is_an_invalid_message_naming_its_field(embedded):
    # The service refuses the request as a whole (`Invalid`: more self-reports than the rules allow in
    # one request); the hub's table answers `invalid_message` at the service's field, and nothing is queued.
    ida = await register(embedded.http, "ida")
    limit = 50  # the default rules' self_reports.max_per_request (under the protocol's 100 events)
    now_ms = int(time.time() * 1000)
    events = [
        {"id": f"many-{n}", "metric": "tickets_closed", "value": 1, "occurred_at_ms": now_ms - 60_000}
        for n in range(limit + 1)
    ]
    async with Raw.open(embedded.ws) as raw:
        await raw.login(ida.access_token)
        await raw.send({"type": "ingest", "id": 11, "events": events})
        refused = await raw.expect("error")
        assert (refused.id, refused.code, refused.field) == (11, "invalid_message", "events")
        assert refused.message == f"events: at most {limit} self-reports a request"
        # Nothing was queued: the first of them, sent alone, is new.
        await raw.send({"type": "ingest", "id": 12, "events": events[:1]})
        alone = await raw.expect("ingested")
        assert (alone.id, alone.accepted, alone.duplicates) == (12, 1, 0)
