"""The hub end to end: real `gamif serve` processes sharing PostgreSQL and Redis, driven over real
WebSockets. Every server frame is decoded strictly (`sender="server"`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgpack
import pytest

from protocol import Batch, Delta, Encoding, Event, Outcome, Subscribed, TopicMirror
from server.hub.publish import TopicChange
from tests.hub.cluster import Raw
from tests.hub.conftest import Cluster

pytestmark = pytest.mark.postgresql


async def follow(
    raw: Raw, mirror: TopicMirror, until: int | Callable[[Any], bool], timeout: float = 15
) -> list[Event]:
    """Apply the deltas that arrive to `mirror` until it reaches offset `until` (or its document
    satisfies `until`); the events seen meanwhile."""
    events: list[Event] = []

    def done() -> bool:
        if callable(until):
            return mirror.document is not None and until(mirror.document)
        return mirror.offset is not None and mirror.offset >= until

    async with asyncio.timeout(timeout):
        while not done():
            message = await raw.recv()
            if isinstance(message, Delta):
                assert mirror.apply_delta(message) is Outcome.APPLIED
            elif isinstance(message, Batch):
                assert set(mirror.apply_batch(message)) == {Outcome.APPLIED}
            elif isinstance(message, Subscribed):
                assert mirror.apply_subscribed(message) is Outcome.APPLIED
            elif isinstance(message, Event):
                events.append(message)
    return events


async def announce(cluster: Cluster, base: str, team: str, title: str) -> None:
    headers = {"Authorization": f"Bearer {cluster.admin}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        posted = await http.post("/api/v1/announcements", json={"title": title, "text": "…", "team": team})
        assert posted.status_code == 202, posted.text
        assert posted.json() == {"audience": f"team:{team}", "topics": 1}


async def test_a_delta_published_through_one_node_reaches_a_subscriber_of_the_other(shared_cluster):
    cluster = shared_cluster
    ana = await cluster.register("ana-x")
    await cluster.create_team("cross", ["ana-x"])
    async with Raw.open(cluster.a.ws) as raw:
        welcome = await raw.login(ana.access_token)
        assert welcome.user_id == ana.user_id
        subscribed = await raw.subscribe("team:cross")
        assert subscribed.recovered is False
        assert subscribed.snapshot["slug"] == "cross"
        assert set(subscribed.snapshot["members"]) == {ana.user_id}
        mirror = TopicMirror("team:cross")
        mirror.apply_subscribed(subscribed)
        # The admin API of node B publishes; node A's subscriber gets the delta, then the event.
        await announce(cluster, cluster.b.http, "cross", "Docs week")
        events = await follow(raw, mirror, subscribed.offset + 1)
        if not events:
            events = [await raw.expect("event")]
        assert events[0].name == "announcement"
        assert events[0].data["title"] == "Docs week"
        assert events[0].offset == subscribed.offset + 1
        # A worker (any process with the Redis URL) publishes the same way.
        await cluster.publisher.publish([TopicChange("team:cross", [["set", ["name"], "Cross-node"]])])
        await follow(raw, mirror, subscribed.offset + 2)
        assert mirror.document is not None
        assert mirror.document["name"] == "Cross-node"
    # Node A wrote those frames straight to the idle connection (the broadcast fast path).
    headers = {"Authorization": f"Bearer {cluster.admin}"}
    async with httpx.AsyncClient(base_url=cluster.a.http, headers=headers, timeout=30) as http:
        stats = (await http.get("/api/v1/hub")).json()
    assert stats["deltas_received"] >= 2
    assert stats["direct_writes"] >= 3  # the welcome, the snapshot and the deltas


async def test_resume_recovers_the_missed_deltas_then_falls_back_to_a_snapshot(shared_cluster):
    cluster = shared_cluster
    ben = await cluster.register("ben-r")
    await cluster.create_team("resume", ["ben-r"])
    mirror = TopicMirror("team:resume")
    async with Raw.open(cluster.a.ws) as raw:
        await raw.login(ben.access_token)
        mirror.apply_subscribed(await raw.subscribe("team:resume"))
    start = mirror.offset
    assert start is not None
    # Disconnected: three changes happen.
    for i in range(3):
        await cluster.publisher.publish([TopicChange("team:resume", [["set", ["description"], f"v{i}"]])])
    since = mirror.since()
    assert since is not None
    async with Raw.open(cluster.b.ws) as raw:  # resumes on the other node
        await raw.login(ben.access_token)
        resumed = await raw.subscribe("team:resume", {"epoch": since.epoch, "offset": since.offset})
        assert resumed.recovered is True
        assert [d.offset for d in resumed.deltas] == [start + 1, start + 2, start + 3]
        assert mirror.apply_subscribed(resumed) is Outcome.APPLIED
        assert mirror.document is not None
        assert mirror.document["description"] == "v2"
    # Disconnected for longer than the history (50 deltas here): a snapshot instead, the same state
    # a new subscriber gets.
    note = ("announcement", {"title": "t", "text": "x", "severity": "info"})
    await cluster.publisher.publish(TopicChange("team:resume", events=[note]) for i in range(400))
    since = mirror.since()
    assert since is not None
    async with Raw.open(cluster.a.ws) as raw:
        await raw.login(ben.access_token)
        resumed = await raw.subscribe("team:resume", {"epoch": since.epoch, "offset": since.offset})
        assert resumed.recovered is False
        assert resumed.offset == start + 403
        assert mirror.apply_subscribed(resumed) is Outcome.APPLIED
        fresh = await raw.subscribe("team:resume", id=3)
        assert (fresh.recovered, fresh.offset, fresh.snapshot) == (False, resumed.offset, resumed.snapshot)


async def test_presence_counts_people_not_tabs_across_nodes(shared_cluster):
    cluster = shared_cluster
    cleo = await cluster.register("cleo-p")
    dan = await cluster.register("dan-p")
    dee = await cluster.register("dee-p")
    async with Raw.open(cluster.b.ws) as watcher:
        await watcher.login(dan.access_token)
        mirror = TopicMirror("presence:global")
        mirror.apply_subscribed(await watcher.subscribe("presence:global"))
        assert mirror.document is not None
        assert dan.user_id in mirror.document["people"]
        async with (
            Raw.open(cluster.a.ws) as tab1,
            Raw.open(cluster.b.ws) as tab2,
            Raw.open(cluster.a.ws) as control,
        ):
            await tab1.login(cleo.access_token)
            await follow(watcher, mirror, lambda doc: cleo.user_id in doc["people"])
            assert mirror.document["people"][cleo.user_id]["handle"] == "cleo-p"
            await tab2.login(cleo.access_token)  # a second tab on the other node: still one person
            await control.login(dee.access_token)  # someone with one tab, on tab1's node
            await follow(watcher, mirror, lambda doc: dee.user_id in doc["people"])
            await tab1.ws.close()
            await control.ws.close()
            # Dee leaves once her grace is over, in a sweep (one delta per scope) that also ends tab1's
            # count, whose grace ended first: had Cleo counted as tab1 alone, she would leave with Dee.
            await follow(watcher, mirror, lambda doc: dee.user_id not in doc["people"])
            assert cleo.user_id in mirror.document["people"]
            await tab2.send({"type": "ping", "id": 9})  # the tab that kept her online is still served
            await tab2.expect("pong")
        await follow(watcher, mirror, lambda doc: cleo.user_id not in doc["people"])
        assert mirror.document["count"] == len(mirror.document["people"])


async def test_sigkill_purges_presence_within_the_ttl_and_clients_resume_elsewhere(cluster):
    eve = await cluster.register("eve-k")
    fay = await cluster.register("fay-k")
    await cluster.create_team("crash", ["eve-k"])
    async with Raw.open(cluster.b.ws) as watcher:
        await watcher.login(fay.access_token)
        presence = TopicMirror("presence:global")
        presence.apply_subscribed(await watcher.subscribe("presence:global", id=3))
        team = TopicMirror("team:crash")
        async with Raw.open(cluster.a.ws) as doomed:
            await doomed.login(eve.access_token)
            team.apply_subscribed(await doomed.subscribe("team:crash"))
            await follow(watcher, presence, lambda doc: eve.user_id in doc["people"])
            await cluster.a.stop(signal.SIGKILL)
            killed_at = time.monotonic()
            # Changes keep coming while eve's client is cut off.
            for i in range(5):
                change = TopicChange("team:crash", [["set", ["description"], f"{i}"]])
                await cluster.publisher.publish([change])
            # Node A never said goodbye: the other node's sweep removes eve within the TTL (2 s here,
            # swept every 0.5 s).
            await follow(watcher, presence, lambda doc: eve.user_id not in doc["people"])
            assert time.monotonic() - killed_at < 2 * 1.25 + 1.0
        # Eve's client resumes on node B, with exactly the deltas it missed.
        since = team.since()
        async with Raw.open(cluster.b.ws) as resumed:
            await resumed.login(eve.access_token)
            reply = await resumed.subscribe("team:crash", {"epoch": since.epoch, "offset": since.offset})
            assert reply.recovered is True
            assert [d.offset for d in reply.deltas] == [since.offset + i for i in range(1, 6)]
            assert team.apply_subscribed(reply) is Outcome.APPLIED
            assert team.document["description"] == "4"


async def test_sigterm_closes_every_session_with_1012_and_exits_promptly(cluster):
    gus = await cluster.register("gus-t")
    async with Raw.open(cluster.a.ws) as one, Raw.open(cluster.a.ws) as two:
        await one.login(gus.access_token)
        await two.login(gus.access_token)
        started = time.monotonic()
        stopping = asyncio.create_task(cluster.a.stop(signal.SIGTERM))
        assert await one.closed() == (1012, "service_restart")
        assert await two.closed() == (1012, "service_restart")
        # An orderly stop: exit status 0, once the application's shutdown ran to the end.
        assert await stopping == 0
        assert "Application shutdown complete" in "".join(cluster.a.output)
        assert time.monotonic() - started < 10  # the README's bound


async def test_a_slow_consumer_is_closed_while_a_hundred_others_keep_up(shared_cluster):
    cluster = shared_cluster
    hal = await cluster.register("hal-s")
    await cluster.create_team("firehose", ["hal-s"])
    readers = []
    async with contextlib.AsyncExitStack() as stack:
        slow = await stack.enter_async_context(Raw.open(cluster.b.ws, max_queue=1, rcvbuf=8192))
        await slow.login(hal.access_token)
        start = (await slow.subscribe("team:firehose")).offset
        for _ in range(100):
            raw = await stack.enter_async_context(Raw.open(cluster.b.ws))
            await raw.login(hal.access_token)
            await raw.subscribe("team:firehose")
            readers.append(raw)
        payload = "x" * 16_000
        total = 400  # ~6.4 MB: well over what the slow client's socket and its 1 MiB send buffer hold

        async def drain(raw: Raw) -> int:
            last = start
            while last < start + total:
                async with asyncio.timeout(60):
                    message = msgpack.unpackb(await raw.ws.recv())  # fast: 100 readers, 6 MB each
                deltas = message["deltas"] if message["type"] == "batch" else [message]
                for delta in deltas:
                    assert delta["offset"] == last + 1
                    last = delta["offset"]
            return last

        draining = [asyncio.create_task(drain(raw)) for raw in readers]
        for i in range(0, total, 20):
            await cluster.publisher.publish(
                TopicChange("team:firehose", [["set", ["description"], f"{n}{payload}"]])
                for n in range(i, i + 20)
            )
        assert await asyncio.gather(*draining) == [start + total] * 100
        # Torn down when its buffer overflowed: it reads the 4008 close if it was back in time, else
        # finds its connection reset (tests/hub/test_session_lifecycle.py follows that case closely).
        code, reason = await slow.closed(timeout=30)
        assert (code, reason) in {(4008, "slow_consumer"), (None, "")}


async def test_json_subprotocol_and_a_missing_subprotocol(shared_cluster):
    cluster = shared_cluster
    ivy = await cluster.register("ivy-j")
    async with Raw.open(cluster.a.ws, Encoding.JSON) as raw:
        assert raw.ws.subprotocol == "gamif.v1.json"
        await raw.login(ivy.access_token)
        await raw.send({"type": "ping", "id": "p-1"})
        pong = await raw.expect("pong")
        assert pong.id == "p-1"
    async with httpx.AsyncClient(timeout=10) as http:
        refused = await http.get(
            cluster.a.http + "/ws",
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
    assert refused.status_code == 400
    assert "gamif.v1.msgpack" in refused.json()["detail"]


async def test_an_ingested_event_reaches_the_players_screen_with_its_explanation(shared_cluster):
    cluster = shared_cluster
    kim = await cluster.register("kim-i")
    mirror = TopicMirror(f"user:{kim.user_id}")
    async with Raw.open(cluster.a.ws) as raw:
        await raw.login(kim.access_token)
        mirror.apply_subscribed(await raw.subscribe(mirror.topic))
        assert mirror.document is not None
        assert mirror.document["xp"] == 0
        # Kim reports her own work through node B's HTTP API.
        when = datetime.now(UTC) - timedelta(minutes=1)
        event = {"id": "kim-1", "metric": "tickets_closed", "value": 3, "occurred_at": when.isoformat()}
        async with httpx.AsyncClient(base_url=cluster.b.http, timeout=30) as http:
            posted = await http.post(
                "/api/v1/metrics",
                json={"events": [event]},
                headers={"Authorization": f"Bearer {kim.access_token}"},
            )
        assert posted.status_code == 202, posted.text
        events = await follow(raw, mirror, lambda doc: doc["xp"] > 0)
        while not any(e.name == "xp_awarded" for e in events):
            events.append(await raw.expect("event"))
        awarded = next(e for e in events if e.name == "xp_awarded")
        assert awarded.data["xp"] == mirror.document["xp"]
        assert awarded.data["rule_id"] == "metrics.tickets_closed"
        assert "3" in awarded.data["explanation"]
        assert awarded.data["summary"] == "Closed 3 tickets"  # and in a person's words
        assert awarded.offset == mirror.offset
        # The live document is exactly what a fresh subscriber (on the other node) gets.
        async with Raw.open(cluster.b.ws) as other:
            await other.login(kim.access_token)
            fresh = await other.subscribe(mirror.topic)
        # Rank notices may follow the award (event-only entries, after the leaderboards are recorded):
        # catch up to the fresh subscriber's position first.
        await follow(raw, mirror, fresh.offset)
        assert (fresh.offset, fresh.snapshot) == (mirror.offset, mirror.document)


async def test_the_activity_feed_shows_a_level_up_to_any_player(shared_cluster):
    cluster = shared_cluster
    lea, max_ = await cluster.register("lea-a"), await cluster.register("max-a")
    mirror = TopicMirror("activity:global")
    async with Raw.open(cluster.a.ws) as raw:
        await raw.login(max_.access_token)  # anyone may read the feed
        mirror.apply_subscribed(await raw.subscribe(mirror.topic))
        assert mirror.document is not None
        when = datetime.now(UTC) - timedelta(minutes=1)
        events = [  # 80 + 30 XP: level 2
            {"id": "lea-1", "metric": "tickets_closed", "value": 10, "occurred_at": when.isoformat()},
            {"id": "lea-2", "metric": "focus_minutes", "value": 60, "occurred_at": when.isoformat()},
        ]
        async with httpx.AsyncClient(base_url=cluster.b.http, timeout=30) as http:
            posted = await http.post(
                "/api/v1/metrics",
                json={"events": events},
                headers={"Authorization": f"Bearer {lea.access_token}"},
            )
        assert posted.status_code == 202, posted.text
        await follow(raw, mirror, lambda doc: any(row["user_id"] == lea.user_id for row in doc["items"]))
        head = mirror.document["items"][0]
        assert (head["user_id"], head["handle"]) == (lea.user_id, "lea-a")
        async with Raw.open(cluster.b.ws) as other:
            await other.login(lea.access_token)
            fresh = await other.subscribe(mirror.topic)
        # The feed kept by deltas, once at the fresh snapshot's offset, is that snapshot.
        await follow(raw, mirror, fresh.offset)
        assert (fresh.offset, fresh.snapshot) == (mirror.offset, mirror.document)
