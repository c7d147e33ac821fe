"""The `ingest` message: a player reports their own work over the socket, as with POST /metrics."""

from __future__ import annotations

import time

from protocol import Delta, TopicMirror
from tests.hub.cluster import Raw, register


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
        assert (reply.id, reply.accepted, reply.duplicates) == (7, 1, 0)
        assert [(e.id, e.status) for e in reply.events] == [("ws-1", "accepted")]
        while not (mirror.document and mirror.document["xp"] > 0):  # scored in the background
            message = await raw.recv()
            if isinstance(message, Delta):
                mirror.apply_delta(message)
        # The same rules as the HTTP API: a player may not report what only integrations report.
        await raw.send(
            {
                "type": "ingest",
                "id": 8,
                "events": [
                    {"id": "ws-2", "metric": "commits", "value": 1, "occurred_at_ms": now_ms - 60_000}
                ],
            }
        )
        while (refused := await raw.recv()).type != "error":
            pass
        assert (refused.id, refused.code, refused.field) == (8, "invalid_message", "events.0.metric")
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
        assert (again.accepted, again.duplicates) == (0, 1)
