"""The Python client SDK (`protocol.client`) against real hub processes: live XP with its explanation,
failover to another node with resume, in-band token refresh, refusals."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from protocol import event_data
from protocol.client import Client, ClientClosed, ClientError
from server.hub.publish import TopicChange
from tests.hub.test_hub_bad_input import token

pytestmark = pytest.mark.postgresql
TIMEOUT = 15


def tokens_of(access_token: str):
    async def provide() -> str:
        return access_token

    return provide


async def test_xp_arrives_live_with_its_explanation(shared_cluster):
    cluster = shared_cluster
    lea = await cluster.register("lea-c")
    async with Client(cluster.a.ws, tokens_of(lea.access_token)) as client:
        me = await client.subscribe(f"user:{lea.user_id}", timeout=TIMEOUT)
        updates = client.updates()
        when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        event = {"id": "lea-1", "metric": "tickets_closed", "value": 2, "occurred_at": when}
        async with httpx.AsyncClient(base_url=cluster.b.http, timeout=30) as http:
            posted = await http.post(
                "/api/v1/metrics",
                json={"events": [event]},
                headers={"Authorization": f"Bearer {lea.access_token}"},
            )
        assert posted.status_code == 202, posted.text
        async for update in updates:
            if update.kind == "event" and update.message.name == "xp_awarded":
                break
        awarded = event_data(update.message)
        assert awarded.xp == me.document["xp"] > 0
        assert awarded.rule_id == "metrics.tickets_closed"
        assert awarded.summary == "Closed 2 tickets"  # the SDK keeps the summary
        async with Client(cluster.b.ws, tokens_of(lea.access_token)) as other:
            fresh = await other.subscribe(f"user:{lea.user_id}", timeout=TIMEOUT)
        # Rank notices may follow the award (event-only entries, after the leaderboards are recorded), on
        # either side of the fresh snapshot: they move positions, never the document.
        await client.wait_for(lambda: me.offset >= fresh.offset, timeout=TIMEOUT)
        assert fresh.document == me.document


async def test_refusals_are_typed_errors_and_a_bad_token_ends_the_client(shared_cluster):
    cluster = shared_cluster
    max_ = await cluster.register("max-c")
    other = await cluster.register("ola-c")
    async with Client(cluster.a.ws, tokens_of(max_.access_token)) as client:
        with pytest.raises(ClientError) as refused:
            await client.subscribe(f"user:{other.user_id}", timeout=TIMEOUT)
        assert refused.value.code == "forbidden_topic"
        with pytest.raises(ClientError) as unknown:
            await client.subscribe("team:nobody-here", timeout=TIMEOUT)
        assert unknown.value.code == "unknown_topic"
    async with Client(cluster.a.ws, tokens_of("not-a-token")) as client:
        with pytest.raises(ClientClosed) as closed:
            await client.wait_for(lambda: False, timeout=TIMEOUT)
        assert closed.value.code == 4001


async def test_the_token_is_refreshed_in_band_without_reconnecting(shared_cluster):
    cluster = shared_cluster
    pia = await cluster.register("pia-c")
    minted: list[str] = []

    async def short_lived() -> str:  # 3-second tokens: several refreshes in a few seconds
        minted.append(token(pia.user_id, timedelta(seconds=3)))
        return minted[-1]

    async with Client(cluster.b.ws, short_lived) as client:
        await client.subscribe("presence:global", timeout=TIMEOUT)
        await client.wait_for(lambda: client.stats.refreshes >= 3, timeout=TIMEOUT)
        # Well past the first token's expiry, on the same connection.
        assert client.stats.connects == 1
        assert client.state == "live"
        assert len(minted) >= 4


async def test_a_client_fails_over_to_another_node_and_resumes(cluster):
    rex = await cluster.register("rex-c")
    await cluster.create_team("failover", ["rex-c"])
    async with Client([cluster.a.ws, cluster.b.ws], tokens_of(rex.access_token)) as client:
        team = await client.subscribe("team:failover", timeout=TIMEOUT)
        start = team.offset
        assert client.url == cluster.a.ws
        await cluster.a.stop(signal.SIGKILL)
        await cluster.publisher.publish(
            TopicChange("team:failover", [["set", ["description"], f"after the crash {i}"]]) for i in range(5)
        )
        await client.wait_for(lambda: client.state == "live" and team.offset == start + 5, timeout=TIMEOUT)
        assert client.url == cluster.b.ws
        assert client.stats.reconnects == 1
        assert client.stats.recovered == 1  # exactly the missed deltas, no snapshot
        assert team.document["description"] == "after the crash 4"
