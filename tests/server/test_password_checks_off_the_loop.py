"""argon2 runs in a thread, never on the event loop, and outside any database transaction (on SQLite
a transaction would hold the write lock for the whole verification)."""

from __future__ import annotations

import asyncio
import threading

from server.auth import passwords
from server.services.people import accounts as accounts_module

PASSWORD = "correct horse battery"


class CountingSessions:
    """The accounts service's session factory, counting the sessions it holds open. (The engine's
    pool is shared with the app's background work, so its own count says nothing about login.)"""

    def __init__(self, sessions):
        self.sessions = sessions
        self.open = 0

    def __call__(self):
        return _Counted(self, self.sessions())


class _Counted:
    def __init__(self, owner: CountingSessions, session):
        self.owner, self.session = owner, session

    async def __aenter__(self):
        self.owner.open += 1
        return await self.session.__aenter__()

    async def __aexit__(self, *exc):
        try:
            return await self.session.__aexit__(*exc)
        finally:
            self.owner.open -= 1


async def test_login_verifies_in_a_thread_holding_no_connection(app, client, register, monkeypatch):
    await register("alice")
    counting = CountingSessions(app.state.services.accounts.sessions)
    monkeypatch.setattr(app.state.services.accounts, "sessions", counting)
    loop = asyncio.get_running_loop()
    seen: list[dict[str, object]] = []

    def verify(password_hash: str, password: str) -> bool:
        # The loop must keep running while this runs: ask it to do something, and wait until it has
        # (a verification on the loop itself would wait in vain and fail the test).
        done = threading.Event()
        loop.call_soon_threadsafe(done.set)
        seen.append(
            {
                "loop_ran_meanwhile": done.wait(timeout=10),
                "on_loop_thread": threading.current_thread() is threading.main_thread(),
                "connections_held": counting.open,
            }
        )
        return passwords.verify_password(password_hash, password)

    monkeypatch.setattr(accounts_module, "verify_password", verify)
    ok = await client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    wrong = await client.post("/api/v1/auth/login", json={"login": "alice", "password": "not the password"})

    assert (ok.status_code, wrong.status_code) == (200, 401)
    assert seen == [{"loop_ran_meanwhile": True, "on_loop_thread": False, "connections_held": 0}] * 2


async def test_registering_hashes_the_password_in_a_thread(app, client, monkeypatch):
    threads: list[bool] = []

    def hash_password(password: str) -> str:
        threads.append(threading.current_thread() is threading.main_thread())
        return passwords.hash_password(password)

    monkeypatch.setattr(accounts_module, "hash_password", hash_password)
    body = {"email": "bob@example.com", "password": PASSWORD, "handle": "bob", "display_name": "Bob"}
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
    assert threads == [False]
