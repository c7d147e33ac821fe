"""Login throttling through the real app (POST /api/v1/auth/login), and its Redis store on real Redis.

Time is the throttle's clock, moved by the test (no sleeping): ``at.now`` is what the throttle reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.services.people.login_throttle import (
    LoginThrottle,
    LoginThrottled,
    MemoryThrottleStore,
    RedisThrottleStore,
    ThrottlePolicy,
    ThrottleStore,
)

PASSWORD = "correct horse battery"  # tests/server/conftest.py's


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def at(app: Starlette) -> Clock:
    clock = Clock()
    app.state.services.accounts.throttle.clock = clock
    return clock


@pytest.fixture
def login(client: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    async def post(who: str, password: str, ip: str = "198.51.100.7") -> httpx.Response:
        body = {"login": who, "password": password}
        return await client.post("/api/v1/auth/login", json=body, headers={"X-Real-IP": ip})

    return post


def throttled(response: httpx.Response, problem: Callable[..., dict[str, Any]]) -> int:
    """The response is a 429 problem with Retry-After: its seconds."""
    body = problem(response, 429)
    assert body["type"].endswith("/too-many-requests")
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert f"in {retry_after} s" in body["detail"]
    return retry_after


pytestmark = pytest.mark.settings(client_ip_header="X-Real-IP")


async def test_failures_in_a_row_lock_the_account_for_doubling_times(login, register, at, problem):
    alice = await register("alice")
    for _ in range(5):  # the free ones (GAMIF_LOGIN_MAX_FAILURES)
        assert (await login("alice", "wrong password!")).status_code == 401
    assert (await login("alice", "wrong password!")).status_code == 401  # the 6th: locks for 1 s

    # Locked: even the right password is refused, and says when to come back.
    assert throttled(await login("alice", PASSWORD), problem) == 1
    at.now += 1
    assert (await login("alice", "wrong password!")).status_code == 401  # the 7th: locks for 2 s
    assert throttled(await login(alice.email, PASSWORD), problem) == 2  # by email: the same account
    at.now += 1
    assert throttled(await login("alice", PASSWORD), problem) == 1
    at.now += 1
    assert (await login("alice", PASSWORD)).status_code == 200

    # A success starts the count again: five free failures.
    for _ in range(5):
        assert (await login("alice", "wrong password!")).status_code == 401
    assert (await login("alice", PASSWORD)).status_code == 200


@pytest.mark.settings(client_ip_header="X-Real-IP", login_max_failures=1, login_lockout_max_seconds=60)
async def test_the_lock_is_bounded(login, register, at, problem):
    await register("alice")
    assert (await login("alice", "wrong password!")).status_code == 401  # the free one
    waits = []
    for _ in range(10):
        assert (await login("alice", "wrong password!")).status_code == 401
        waits.append(throttled(await login("alice", "wrong password!"), problem))
        at.now += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert (await login("alice", PASSWORD)).status_code == 200


async def test_an_attacker_cannot_lock_out_an_address_that_logged_in_before(login, register, at, problem):
    await register("alice")
    assert (await login("alice", PASSWORD, ip="203.0.113.1")).status_code == 200  # alice's laptop
    for _ in range(8):
        await login("alice", "guess!guess!", ip="192.0.2.66")
    throttled(await login("alice", PASSWORD, ip="192.0.2.66"), problem)  # the attacker waits
    throttled(await login("alice", PASSWORD, ip="203.0.113.99"), problem)  # so does any new address

    assert (await login("alice", PASSWORD, ip="203.0.113.1")).status_code == 200


async def test_unknown_logins_are_throttled_like_real_ones(login, at, problem):
    for _ in range(6):
        assert (await login("nobody-here", "wrong password!")).status_code == 401
    assert throttled(await login("nobody-here", "wrong password!"), problem) == 1


@pytest.mark.settings(client_ip_header="X-Real-IP", login_ip_max_failures=3)
async def test_an_address_failing_on_many_accounts_is_stopped(login, register, at, problem):
    await register("alice")
    for who in ("bob", "carol", "dave"):  # one guess each: no account reaches its own limit
        assert (await login(who, "wrong password!", ip="192.0.2.66")).status_code == 401
    assert throttled(await login("alice", PASSWORD, ip="192.0.2.66"), problem) == 900

    assert (await login("alice", PASSWORD, ip="203.0.113.1")).status_code == 200  # others are not held
    at.now += 900
    assert (await login("alice", PASSWORD, ip="192.0.2.66")).status_code == 200  # the window ended


@pytest.mark.settings
async def test_without_a_proxy_header_setting_the_peer_counts_not_the_header(app, client, register, problem):
    app.state.services.accounts.throttle.clock = Clock()
    await register("alice")
    for n in range(6):  # a new X-Real-IP each time: it must not matter
        body = {"login": "alice", "password": "wrong password!"}
        await client.post("/api/v1/auth/login", json=body, headers={"X-Real-IP": f"192.0.2.{n}"})
    body = {"login": "alice", "password": PASSWORD}
    response = await client.post("/api/v1/auth/login", json=body, headers={"X-Real-IP": "192.0.2.200"})
    throttled(response, problem)


# -- the stores, side by side: the same behaviour in memory and on Redis ---------------------------


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_server: str, redis_prefix: str) -> Any:
    if request.param == "memory":
        yield MemoryThrottleStore()
        return
    redis = Redis.from_url(redis_server)
    try:
        yield RedisThrottleStore(redis, redis_prefix)
    finally:
        await redis.aclose()


async def test_each_store_locks_bounds_forgets_and_remembers_known_clients(store: ThrottleStore):
    clock = Clock()
    throttle = LoginThrottle(store, ThrottlePolicy(max_failures=2, lockout_max_seconds=5), clock)
    for _ in range(2):
        await throttle.check("user:a", "10.0.0.1")
        await throttle.failed("user:a", "10.0.0.1")
    await throttle.check("user:a", "10.0.0.1")  # two free failures: not locked yet
    await throttle.failed("user:a", "10.0.0.1")
    with pytest.raises(LoginThrottled) as locked:
        await throttle.check("user:a", "10.0.0.1")
    assert locked.value.retry_after == 1
    for expected in (2, 4, 5, 5):  # doubling, up to the bound
        clock.now += 5
        await throttle.failed("user:a", "10.0.0.1")
        with pytest.raises(LoginThrottled) as locked:
            await throttle.check("user:a", "10.0.0.2")
        assert locked.value.retry_after == expected
    await throttle.check("user:b", "10.0.0.1")  # other accounts are not held

    clock.now += 5
    await throttle.succeeded("user:a", "10.0.0.1")  # resets, and remembers the address
    await throttle.failed("user:a", "10.0.0.9")
    await throttle.failed("user:a", "10.0.0.9")
    await throttle.failed("user:a", "10.0.0.9")
    with pytest.raises(LoginThrottled):
        await throttle.check("user:a", "10.0.0.9")
    await throttle.check("user:a", "10.0.0.1")  # the known address passes the account's lock


async def test_each_store_limits_an_address_over_accounts(store: ThrottleStore):
    clock = Clock()
    throttle = LoginThrottle(store, ThrottlePolicy(ip_max_failures=3), clock)
    for n in range(3):
        await throttle.check(f"login:x{n}", "10.0.0.1")
        await throttle.failed(f"login:x{n}", "10.0.0.1")
    with pytest.raises(LoginThrottled) as held:
        await throttle.check("user:a", "10.0.0.1")
    assert 899 <= held.value.retry_after <= 900
    await throttle.check("user:a", "10.0.0.2")


@pytest.mark.settings(client_ip_header="X-Forwarded-For", login_ip_max_failures=3)
async def test_a_proxy_that_adds_its_own_header_line_is_the_one_that_counts(client, register, at, problem):
    """Some proxies add a second X-Forwarded-For line instead of extending the client's: the last
    entry over every line counts, never the client's own first line."""
    await register("alice")

    def forwarded(claimed: str, seen: str) -> list[tuple[str, str]]:
        return [("X-Forwarded-For", claimed), ("X-Forwarded-For", seen)]

    for who in ("bob", "carol", "dave"):
        body = {"login": who, "password": "wrong password!"}
        headers = forwarded(f"198.51.100.{len(who)}", "192.0.2.66")
        assert (await client.post("/api/v1/auth/login", json=body, headers=headers)).status_code == 401
    good = {"login": "alice", "password": PASSWORD}
    refused = await client.post(
        "/api/v1/auth/login", json=good, headers=forwarded("203.0.113.1", "192.0.2.66")
    )
    assert throttled(refused, problem) == 900
    other = await client.post("/api/v1/auth/login", json=good, headers=forwarded("192.0.2.66", "203.0.113.1"))
    assert other.status_code == 200
