"""Two hubs behind HAProxy, the compose stack's topology without Docker (tests/cluster/balancer.py):
a hub that gets SIGTERM drains (its /readyz fails, HAProxy takes it out of rotation, its sessions go
on), then closes its sessions with 1012, and their clients resume through the balancer on the other
hub with nothing missed; a draining hub gets no new sessions; the client IP gamif throttles on is
the one HAProxy saw, whatever a client claims."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from persistence.db import create_engine, session_factory
from persistence.models import MetricEventRow
from protocol import Subscribed
from protocol.client import Client, Update
from tests.cluster.balancer import Balanced, balanced
from tests.hub.cluster import HubProcess, Raw, register
from tests.polling import until

pytestmark = pytest.mark.postgresql

DRAIN_SECONDS = "60"
"""Longer than any test: a test ends a drain with a second SIGTERM once it has checked what it wants
(HAProxy marking the hub down), so that nothing depends on how fast the machine is."""


@pytest.fixture
async def stack(
    make_postgres_db, redis_server: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[Balanced, str]]:
    """The stack on a new, empty database (migrated by `gamif migrate`), and that database's URL."""
    url = await make_postgres_db()
    async with balanced(
        url,
        redis_server,
        redis_prefix,
        tmp_path,
        GAMIF_DRAIN_SECONDS=DRAIN_SECONDS,
        GAMIF_LOGIN_IP_MAX_FAILURES="3",
    ) as started:
        yield started, url


async def readyz(hub: HubProcess) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{hub.http}/readyz")).status_code


async def drain(stack: Balanced, name: str) -> None:
    """SIGTERM the hub: its /readyz fails at once, and HAProxy soon marks it DOWN."""
    hub = stack.hubs[name]
    assert hub.process is not None
    hub.process.send_signal(signal.SIGTERM)

    async def not_ready() -> bool:
        return await readyz(hub) == 503

    await until(not_ready, f"{name}'s /readyz answering 503 while it drains")

    async def down() -> bool:
        return (await stack.lb.status(name)).startswith("DOWN")

    await until(down, f"HAProxy marking the draining {name} DOWN")


async def scored(database_url: str, user_id: str) -> int:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(MetricEventRow)
                .where(MetricEventRow.user_id == uuid.UUID(user_id))
            )
    finally:
        await engine.dispose()
    return int(count or 0)


async def test_a_hub_that_stops_hands_its_client_over_to_the_other_with_nothing_missed(stack):
    stack, database_url = stack
    ana = await register(stack.lb.http, "ana-lb")
    key = await stack.api_key()

    async def token() -> str:
        return ana.access_token

    applied: list[int] = []
    """The offsets of user:{ana}'s deltas as the client applied them, over every connection."""
    posted = 0
    stop_posting = asyncio.Event()

    async def post_events() -> None:
        """One event at a time through the balancer (the way an integration reports), until told."""
        nonlocal posted
        now = datetime.now(UTC)
        async with httpx.AsyncClient(base_url=stack.lb.http, headers={"X-API-Key": key}, timeout=30) as http:
            while not stop_posting.is_set():
                # Four hours apart: no day's XP cap is reached, so every event moves the user's state.
                occurred = now - timedelta(hours=1 + 4 * posted)
                event = {
                    "id": f"lb-{posted}",
                    "user": "ana-lb",
                    "metric": "reviews_done",
                    "value": 1,
                    "occurred_at": occurred.isoformat(),
                }
                response = await http.post("/api/v1/metrics", json={"events": [event]})
                assert response.status_code == 202, response.text
                assert response.json()["events"][0]["status"] == "accepted", response.text
                posted += 1
                await asyncio.sleep(0.1)  # a steady trickle, not a flood

    async with Client(stack.lb.ws, token) as client:
        topic = f"user:{ana.user_id}"
        mirror = await client.subscribe(topic)
        updates = client.updates()  # from the first snapshot on (nothing arrives in between: no await)
        start = mirror.offset
        assert start is not None

        async def follow() -> None:
            async for update in updates:
                record(update)

        def record(update: Update) -> None:
            if update.topic != topic:
                return
            if update.kind == "delta":
                applied.append(update.message.offset)  # type: ignore[union-attr]
            elif update.kind == "recovered":
                assert isinstance(update.message, Subscribed)
                last = applied[-1] if applied else start
                applied.extend(d.offset for d in update.message.deltas if d.offset > last)
            elif update.kind == "snapshot":
                raise AssertionError(f"a snapshot instead of the missed deltas: {update.message}")

        following = asyncio.create_task(follow())
        posting = asyncio.create_task(post_events())
        try:
            sessions = await stack.hub_sessions()
            assert sorted(sessions.values()) == [0, 1], sessions
            first = next(name for name, count in sessions.items() if count == 1)
            other = next(name for name in sessions if name != first)
            await until(lambda: len(applied) >= 3, "deltas reaching the client")

            # SIGTERM: the hub drains; HAProxy takes it out of rotation, and its session goes on.
            await drain(stack, first)
            during = len(applied)
            await until(lambda: len(applied) >= during + 3, "deltas reaching the client on the draining hub")
            assert client.stats.connects == 1  # still the first connection, on the draining hub

            # The drain ends (a second SIGTERM, rather than waiting for it): the session is closed with
            # 1012, and the client comes back through the balancer, on the other hub, and resumes.
            stopping = stack.hubs[first]
            assert stopping.process is not None
            stopping.process.send_signal(signal.SIGTERM)
            await client.wait_for(lambda: client.stats.connects == 2 and client.state == "live", timeout=30)
            assert client.last_close is not None
            assert (client.last_close.code, client.last_close.reason) == (1012, "service_restart")
            async with asyncio.timeout(30):
                assert await stopping.process.wait() == 0, "".join(stopping.output)
            assert await stack.hub_sessions() == {other: 1}
            after = len(applied)
            await until(lambda: len(applied) >= after + 3, "deltas reaching the client on the other hub")
        finally:
            stop_posting.set()
            await posting

        # Everything posted is scored, and the client's state is the server's.
        async def all_scored() -> bool:
            return await scored(database_url, ana.user_id) == posted

        await until(all_scored, f"the worker scoring all {posted} events")
        async with httpx.AsyncClient(base_url=stack.lb.http, timeout=30) as http:
            me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {ana.access_token}"})
        assert me.status_code == 200, me.text
        xp = me.json()["level"]["xp"]
        await client.wait_for(lambda: mirror.document is not None and mirror.document["xp"] == xp, timeout=30)
        async with Raw.open(stack.lb.ws) as raw:
            await raw.login(ana.access_token)
            fresh = await raw.subscribe(topic)
        await client.wait_for(lambda: mirror.offset == fresh.offset, timeout=30)
        assert mirror.document == fresh.snapshot
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following

    # Every delta exactly once, in order, with no gap: across the hand-over too.
    assert applied == list(range(start + 1, fresh.offset + 1))
    assert client.stats.gaps == client.stats.diverged == 0
    assert client.stats.snapshots == 1  # the first subscription's; the resume recovered the deltas
    assert client.stats.recovered >= 1
    assert xp >= 10 * posted  # each review's XP (and what badges and missions added)


async def test_a_draining_hub_gets_no_new_sessions_through_the_balancer(stack):
    stack, _ = stack
    bo = await register(stack.lb.http, "bo-lb")
    async with contextlib.AsyncExitStack() as exits:

        async def connect() -> Raw:
            raw = await exits.enter_async_context(Raw.open(stack.lb.ws))
            await raw.login(bo.access_token)
            return raw

        before = [await connect() for _ in range(2)]
        assert await stack.hub_sessions() == {"hub1": 1, "hub2": 1}  # leastconn: one each
        await drain(stack, "hub1")
        newcomers = [await connect() for _ in range(4)]
        # All on hub2, while hub1 still runs and serves the session it had.
        assert await stack.hub_sessions() == {"hub1": 1, "hub2": 5}
        assert stack.hubs["hub1"].process is not None
        assert stack.hubs["hub1"].process.returncode is None
        for raw in [*before, *newcomers]:
            await raw.send({"type": "ping", "id": 9})
            assert (await raw.expect("pong")).id == 9


async def test_the_login_throttle_counts_the_ip_haproxy_saw_not_the_one_a_client_claims(stack):
    """haproxy.cfg replaces X-Forwarded-For, which the hubs read (GAMIF_CLIENT_IP_HEADER): failed
    logins through the balancer count against this client's own address, whatever it sends."""
    stack, _ = stack
    await register(stack.lb.http, "cy-lb")
    good = {"login": "cy-lb", "password": "a fine long password"}
    bad = {"login": "cy-lb", "password": "not the password"}
    async with httpx.AsyncClient(base_url=stack.lb.http, timeout=30) as http:
        for attempt in range(3):  # GAMIF_LOGIN_IP_MAX_FAILURES
            claimed = {"X-Forwarded-For": f"198.51.100.{attempt}"}
            refused = await http.post("/api/v1/auth/login", json=bad, headers=claimed)
            assert refused.status_code == 401, refused.text
        spoofed = await http.post("/api/v1/auth/login", json=good, headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429, spoofed.text
    # The hubs do read the header: straight to a hub (not through the balancer), another address is
    # another count. (Which is why the hubs' own ports must not be reachable by clients.)
    async with httpx.AsyncClient(base_url=stack.hubs["hub2"].http, timeout=30) as http:
        direct = await http.post("/api/v1/auth/login", json=good, headers={"X-Forwarded-For": "203.0.113.9"})
        assert direct.status_code == 200, direct.text
