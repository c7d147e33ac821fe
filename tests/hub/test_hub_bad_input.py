"""Hostile and broken clients get the documented error frame or close code (PROTOCOL.md §16, §17),
and the hub keeps serving everyone else: each test ends by checking that a bystander on the same node
still receives a fresh delta."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgpack
import pytest

from protocol import Delta, Encoding
from server.auth.tokens import issue_access_token
from server.hub.publish import TopicChange
from tests.hub.cluster import JWT_SECRET, Account, Raw
from tests.hub.conftest import Cluster

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
async def people(shared_cluster: Cluster) -> dict[str, Account]:
    accounts = {handle: await shared_cluster.register(handle) for handle in ("mia", "noah")}
    await shared_cluster.create_team("calm", ["mia"])
    return accounts


@pytest.fixture
async def bystander(
    shared_cluster: Cluster, people: dict[str, Account]
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A session on node A; calling the fixture's value checks that it still gets live deltas."""
    async with Raw.open(shared_cluster.a.ws) as raw:
        await raw.login(people["noah"].access_token)
        offset = (await raw.subscribe("team:calm")).offset

        async def still_served() -> None:
            nonlocal offset
            await shared_cluster.publisher.publish(
                [TopicChange("team:calm", [["set", ["description"], "ok"]])]
            )
            delta = await raw.expect("delta")
            assert isinstance(delta, Delta)
            assert delta.offset == offset + 1
            offset = delta.offset

        yield still_served


def token(user_id: str, ttl: timedelta, now: datetime | None = None) -> str:
    return issue_access_token(
        JWT_SECRET.encode(),
        subject=user_id,
        role="player",
        issuer="gamif",
        audience="gamif-api",
        ttl_seconds=max(1, int(ttl.total_seconds())),
        now=now or datetime.now(UTC),
    )


def nested(depth: int) -> bytes:
    """A map holding arrays nested `depth` deep (without building them in Python)."""
    return b"\x82\xa4type\xa4ping\xa1x" + b"\x91" * (depth - 1) + b"\x90"


FATAL: list[tuple[str, bytes | str, int, str]] = [
    ("not msgpack", b"\xc1\x00\x01", 4000, "bad_frame"),
    ("trailing bytes", msgpack.packb({"type": "auth", "token": "x"}) + b"\x00", 4000, "bad_frame"),
    ("not a map", msgpack.packb([1, 2, 3]), 4000, "bad_frame"),
    ("text frame on msgpack", '{"type": "ping"}', 1003, "wrong_frame_type"),
    ("deeply nested", nested(40), 4000, "too_deep"),
    ("a huge string header", b"\x81\xa4type\xdb\x7f\xff\xff\xff", 1009, "too_large"),
]


@pytest.mark.parametrize(("case", "frame", "code", "reason"), FATAL, ids=[case[0] for case in FATAL])
async def test_frames_that_cannot_be_read_close_the_connection(
    shared_cluster, people, bystander, case, frame, code, reason
):
    async with Raw.open(shared_cluster.a.ws) as raw:
        await raw.login(people["mia"].access_token)
        await raw.send_raw(frame)
        closed_code, closed_reason = await raw.closed()
        assert closed_code == code
        assert closed_reason.split(":")[0] == reason
    await bystander()


async def test_an_oversized_frame_is_refused_with_1009(shared_cluster, people, bystander):
    async with Raw.open(shared_cluster.a.ws, max_size=None) as raw:
        await raw.login(people["mia"].access_token)
        await raw.send_raw(msgpack.packb({"type": "ping", "pad": "x" * 70_000}))
        code, reason = await raw.closed()
        # Refused by the transport's frame parser, with the protocol's reason (PROTOCOL.md §16).
        assert code == 1009
        assert reason.startswith("too_large: "), reason
    await bystander()


async def test_requests_that_fail_get_an_error_and_the_session_goes_on(shared_cluster, people, bystander):
    mia, noah = people["mia"], people["noah"]
    async with Raw.open(shared_cluster.a.ws) as raw:
        await raw.login(mia.access_token)
        cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
            ({"type": "dance", "id": 3}, {"code": "unknown_type", "id": 3}),
            ({"type": "subscribe", "id": 4, "topic": 5}, {"code": "invalid_message", "field": "topic"}),
            (
                {"type": "subscribe", "id": 5, "topic": "team:x\n"},
                {"code": "invalid_message", "field": "topic"},
            ),
            (
                {"type": "subscribe", "id": 6, "topic": "team:calm", "since": {"epoch": "e", "offset": -1}},
                {"code": "invalid_message", "field": "since.offset"},
            ),
            ({"type": "subscribe", "id": 7, "topic": f"user:{noah.user_id}"}, {"code": "forbidden_topic"}),
            ({"type": "subscribe", "id": 8, "topic": "team:no-such-team"}, {"code": "unknown_topic"}),
            (
                {"type": "subscribe", "id": 9, "topic": "presence:team:no-such-team"},
                {"code": "unknown_topic"},
            ),
            ({"type": "subscribe", "id": 10, "topic": "challenge:c1"}, {"code": "unknown_topic"}),
            ({"type": "auth", "id": 11, "token": mia.access_token}, {"code": "already_authenticated"}),
            ({"type": "refresh", "id": 12, "token": "not.a.jwt"}, {"code": "auth_failed"}),
            ({"type": "refresh", "id": 13, "token": noah.access_token}, {"code": "auth_failed"}),
        ]
        for request, expected in cases:
            await raw.send(request)
            error = await raw.expect("error")
            for key, value in expected.items():
                assert getattr(error, key) == value, (request, error)
        # Still alive and well: a ping gets its pong, a subscription its snapshot.
        await raw.send({"type": "ping", "id": 99})
        assert (await raw.expect("pong")).id == 99
        assert (await raw.subscribe(f"user:{mia.user_id}")).snapshot["user_id"] == mia.user_id
    await bystander()


@pytest.mark.parametrize(
    ("first", "code", "reason"),
    [
        (lambda: {"type": "ping", "id": 1}, 4000, "not_authenticated"),
        (lambda: {"type": "auth", "id": 1, "token": "not.a.jwt"}, 4001, "auth_failed"),
        (
            # Signed when the test runs, not when it is collected: a suite longer than the token's
            # lifetime would otherwise get 4004 token_expired, not the unknown user's 4001.
            lambda: {
                "type": "auth",
                "id": 1,
                "token": token("9b0c2a3e-8f1d-4c6b-9a7e-2d4f6b8c0a1e", timedelta(minutes=5)),
            },
            4001,
            "auth_failed",
        ),
    ],
    ids=["not auth first", "a bad token", "an unknown user"],
)
async def test_authentication_failures_close_with_their_codes(shared_cluster, bystander, first, code, reason):
    async with Raw.open(shared_cluster.a.ws) as raw:
        await raw.send(first())
        closed = await raw.closed()
        assert closed[0] == code
        assert closed[1].startswith(reason)
    await bystander()


async def test_an_expired_token_and_no_auth_in_time(shared_cluster, people, bystander):
    expired = token(people["mia"].user_id, timedelta(minutes=5), datetime.now(UTC) - timedelta(minutes=10))
    async with Raw.open(shared_cluster.a.ws) as raw:
        await raw.send({"type": "auth", "id": 1, "token": expired})
        assert (await raw.closed()) == (4004, "token_expired: the access token has expired")
    async with Raw.open(shared_cluster.a.ws) as raw:
        # The cluster's auth timeout is 500 ms: the close is awaited, not slept for.
        assert await raw.closed(timeout=5) == (4002, "auth_timeout")
    await bystander()


async def test_a_token_expiring_on_a_live_session_closes_it_unless_refreshed(
    shared_cluster, people, bystander
):
    mia = people["mia"]
    async with Raw.open(shared_cluster.a.ws) as kept, Raw.open(shared_cluster.a.ws) as lapsed:
        short = token(mia.user_id, timedelta(seconds=2))
        await kept.login(short)
        welcome = await lapsed.login(short)
        assert welcome.expires_at_ms > 0
        await kept.send({"type": "refresh", "id": 2, "token": token(mia.user_id, timedelta(minutes=5))})
        refreshed = await kept.expect("refreshed")
        assert refreshed.expires_at_ms > welcome.expires_at_ms
        assert await lapsed.closed(timeout=10) == (4004, "token_expired")
        # The refreshed session outlived the first token.
        await kept.send({"type": "ping", "id": 3})
        assert (await kept.expect("pong")).id == 3
    await bystander()


async def test_a_flood_is_rate_limited_then_closed(shared_cluster, people, bystander):
    async with Raw.open(shared_cluster.a.ws) as raw:
        welcome = await raw.login(people["mia"].access_token)
        burst, rate = welcome.limits.rate_burst, welcome.limits.rate_per_second
        assert (burst, rate) == (40, 20)
        started = time.monotonic()
        for i in range(100):  # the bucket holds 40; a run of 40 refusals closes
            await raw.send({"type": "ping", "id": i})
        pongs, errors = 0, []
        while True:
            try:
                message = await raw.recv()
            except Exception:
                break
            if message.type == "pong":
                pongs += 1
            else:
                errors.append(message)
        elapsed = time.monotonic() - started
        # The burst (less the token the auth took, unless it refilled since), plus what refilled while
        # the server read the flood: it read it all within `elapsed`, so at most that much refill,
        # however slow the machine is.
        assert burst - 1 <= pongs <= burst + int(elapsed * rate), (pongs, elapsed)
        assert [e.code for e in errors] == ["rate_limited"]
        assert errors[0].retry_after_ms > 0
        assert raw.ws.protocol.close_rcvd.code == 4029
    await bystander()


async def test_too_many_subscriptions(embedded):
    from tests.hub.cluster import register

    eli = await register(embedded.http, "eli")
    async with Raw.open(embedded.ws, Encoding.JSON) as raw:
        await raw.login(eli.access_token)
        await raw.subscribe("presence:global", id=1)
        await raw.subscribe(f"user:{eli.user_id}", id=2)
        await raw.send({"type": "subscribe", "id": 3, "topic": "leaderboard:xp:weekly"})
        refused = await raw.expect("error")
        assert (refused.code, refused.id, refused.topic) == (
            "too_many_subscriptions",
            3,
            "leaderboard:xp:weekly",
        )
        # Subscribing again to a topic held is a resync, not one more.
        again = await raw.subscribe("presence:global", id=4)
        assert again.id == 4
        await raw.send({"type": "unsubscribe", "id": 5, "topic": "presence:global"})
        assert (await raw.expect("unsubscribed")).id == 5
        assert (await raw.subscribe("leaderboard:xp:weekly", id=6)).snapshot["board"] == "xp"


async def test_a_silent_client_is_dropped_after_two_heartbeats(embedded):
    from tests.hub.cluster import register

    fin = await register(embedded.http, "fin")
    async with Raw.open(embedded.ws) as raw:
        welcome = await raw.login(fin.access_token)
        assert welcome.heartbeat_ms == 1000
        started = asyncio.get_running_loop().time()
        assert await raw.closed(timeout=10) == (4002, "heartbeat_timeout")
        assert asyncio.get_running_loop().time() - started >= 1.9


async def test_an_auth_that_arrived_in_time_is_not_timed_out_while_it_is_checked(
    shared_cluster, people, bystander
):
    """The auth limit (500 ms here) is the client's: a storm of sessions queues their checks on the
    server, and one that arrived in time must not be closed with auth_timeout while it waits."""
    url = shared_cluster.env["GAMIF_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    blocker = await asyncpg.connect(url)
    try:
        async with Raw.open(shared_cluster.a.ws) as raw:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # the check now waits
            await raw.send({"type": "auth", "id": 1, "token": people["mia"].access_token})
            welcome = asyncio.ensure_future(raw.expect("welcome"))
            # Past the limit while the check waits for the lock: no close, no welcome yet.
            done, _ = await asyncio.wait([welcome], timeout=1.0)
            assert not done
            await transaction.rollback()
            assert (await welcome).user_id == people["mia"].user_id
    finally:
        await blocker.close()
    await bystander()
