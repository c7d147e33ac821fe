"""Login throttling: password guessing gets slower per account and stops per client IP.

What it does (after OWASP's Authentication and Credential Stuffing cheat sheets):

- **Per account**, exponential lockout: ``max_failures`` failed logins in a row are free (typos);
  each further one locks the account's password logins for 1 s, then 2 s, 4 s, ... up to
  ``lockout_max_seconds``. The lock is bounded and the count is forgotten a day after the last
  failure, and a success resets it.
- **A victim is not locked out by an attacker**: a client IP from which the account logged in
  successfully (within 30 days) is not held by the account's lock, only by its own IP limit.
- **Per client IP**: at most ``ip_max_failures`` failed logins in 15 minutes over all accounts
  (credential stuffing tries many accounts once each); then that IP's logins wait for the window.

The account key is the account's id when the login names one, else the login as typed: unknown
logins are throttled exactly like real ones, so the answers do not tell which accounts exist. The
check runs *before* the password is verified, so a locked account answers the same (429) to the right
and the wrong password: guessing gains nothing while locked.

State lives in Redis when the deployment has it (shared by every node, under the key prefix), else in
this process's memory (embedded, one node).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

IP_WINDOW_SECONDS = 900
FORGET_FAILURES_SECONDS = 86_400
KNOWN_CLIENT_SECONDS = 30 * 86_400
FIRST_LOCK_SECONDS = 1.0


class LoginThrottled(Exception):
    """Logins are refused for now: retry after ``retry_after`` seconds (whole, at least 1)."""

    def __init__(self, retry_after: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_after = max(1, math.ceil(retry_after))
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_failures: int = 5
    lockout_max_seconds: float = 900
    ip_max_failures: int = 30

    def lock_seconds(self, failures: int) -> float:
        """How long the account is locked after its ``failures``-th failure in a row (0: not locked)."""
        beyond = failures - self.max_failures
        if beyond <= 0:
            return 0.0
        # min() before the power would overflow: 2 ** 60 s is far past any maximum anyway.
        return min(self.lockout_max_seconds, FIRST_LOCK_SECONDS * 2.0 ** min(beyond - 1, 60))


@dataclass(frozen=True, slots=True)
class Standing:
    """What the store knows of an (account, IP) pair at a moment."""

    locked_until: float
    """The account's lock, as a time (0: none)."""
    known_client: bool
    """This IP logged into this account successfully before."""
    ip_failures: int
    ip_window_ends: float


class ThrottleStore(Protocol):
    async def standing(self, account: str, ip: str, now: float) -> Standing: ...

    async def failed(self, account: str, ip: str, now: float, policy: ThrottlePolicy) -> None: ...

    async def succeeded(self, account: str, ip: str, now: float) -> None: ...


class LoginThrottle:
    def __init__(
        self, store: ThrottleStore, policy: ThrottlePolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock

    async def check(self, account: str, ip: str) -> None:
        """Raise LoginThrottled if this login attempt must wait."""
        now = self.clock()
        standing = await self.store.standing(account, ip, now)
        if standing.ip_failures >= self.policy.ip_max_failures:
            raise LoginThrottled(
                standing.ip_window_ends - now, "too many failed logins from your address: try again later"
            )
        if standing.locked_until > now and not standing.known_client:
            raise LoginThrottled(
                standing.locked_until - now, "too many failed logins for this account: try again later"
            )

    async def failed(self, account: str, ip: str) -> None:
        await self.store.failed(account, ip, self.clock(), self.policy)

    async def succeeded(self, account: str, ip: str) -> None:
        await self.store.succeeded(account, ip, self.clock())


@dataclass(slots=True)
class _Account:
    failures: int = 0
    locked_until: float = 0.0
    expires: float = 0.0


class MemoryThrottleStore:
    """One process's throttle state (embedded mode). Expired entries are dropped as they are met and
    in a sweep every few thousand writes, so an attacker cycling through logins cannot grow it forever."""

    SWEEP_EVERY = 4096

    def __init__(self) -> None:
        self._accounts: dict[str, _Account] = {}
        self._ips: dict[str, tuple[int, float]] = {}
        self._known: dict[tuple[str, str], float] = {}
        self._writes = 0

    async def standing(self, account: str, ip: str, now: float) -> Standing:
        entry = self._accounts.get(account)
        locked_until = entry.locked_until if entry is not None and entry.expires > now else 0.0
        failures, ends = self._ips.get(ip, (0, 0.0))
        if ends <= now:
            failures, ends = 0, 0.0
        known = self._known.get((account, ip), 0.0) > now
        return Standing(locked_until, known, failures, ends)

    async def failed(self, account: str, ip: str, now: float, policy: ThrottlePolicy) -> None:
        entry = self._accounts.get(account)
        if entry is None or entry.expires <= now:
            entry = self._accounts[account] = _Account()
        entry.failures += 1
        lock = policy.lock_seconds(entry.failures)
        if lock:
            entry.locked_until = now + lock
        entry.expires = now + FORGET_FAILURES_SECONDS
        failures, ends = self._ips.get(ip, (0, 0.0))
        if ends <= now:
            failures, ends = 0, now + IP_WINDOW_SECONDS
        self._ips[ip] = (failures + 1, ends)
        self._wrote(now)

    async def succeeded(self, account: str, ip: str, now: float) -> None:
        self._accounts.pop(account, None)
        self._known[account, ip] = now + KNOWN_CLIENT_SECONDS
        self._wrote(now)

    def _wrote(self, now: float) -> None:
        self._writes += 1
        if self._writes % self.SWEEP_EVERY:
            return
        self._accounts = {k: v for k, v in self._accounts.items() if v.expires > now}
        self._ips = {k: v for k, v in self._ips.items() if v[1] > now}
        self._known = {k: v for k, v in self._known.items() if v > now}


# KEYS: account hash, IP counter. ARGV: now (s), free failures, first lock (s), longest lock (s),
# forget (s), IP window (s). One script, so that concurrent failures on several nodes each count and the
# lock follows the count they reach (ThrottlePolicy.lock_seconds, in Lua).
_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local beyond = failures - tonumber(ARGV[2])
if beyond > 0 then
  local lock = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ math.min(beyond - 1, 60))
  redis.call('HSET', KEYS[1], 'locked_until', tostring(tonumber(ARGV[1]) + lock))
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[6]) end
return failures
"""


class RedisThrottleStore:
    """Throttle state shared by every node: ``<prefix>login:account:<key>`` (a hash: failures,
    locked_until), ``<prefix>login:ip:<ip>`` (a counter expiring with its window) and
    ``<prefix>login:known:<key>`` (a set of IPs that logged in, expiring 30 days after the last)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix + "login:"
        self._failed = redis.register_script(_FAILED)

    async def standing(self, account: str, ip: str, now: float) -> Standing:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._account(account), "locked_until")
            pipe.get(self._ip(ip))
            pipe.pttl(self._ip(ip))
            pipe.sismember(self._known(account), ip)
            locked, count, ttl_ms, known = await pipe.execute()
        ends = now + max(int(ttl_ms), 0) / 1000
        return Standing(float(locked or 0), bool(known), int(count or 0), ends)

    async def failed(self, account: str, ip: str, now: float, policy: ThrottlePolicy) -> None:
        await self._failed(
            keys=[self._account(account), self._ip(ip)],
            args=[
                repr(now),
                policy.max_failures,
                repr(FIRST_LOCK_SECONDS),
                repr(float(policy.lockout_max_seconds)),
                FORGET_FAILURES_SECONDS,
                IP_WINDOW_SECONDS,
            ],
        )

    async def succeeded(self, account: str, ip: str, now: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._account(account))
            pipe.sadd(self._known(account), ip)
            pipe.expire(self._known(account), KNOWN_CLIENT_SECONDS)
            await pipe.execute()

    def _account(self, account: str) -> str:
        return f"{self.prefix}account:{account}"

    def _ip(self, ip: str) -> str:
        return f"{self.prefix}ip:{ip}"

    def _known(self, account: str) -> str:
        return f"{self.prefix}known:{account}"
