"""A team challenge's whole life with real processes: `gamif serve` (the admin API, ingest and the hub)
and `gamif worker` processes (scoring, and each one running the challenges' lifecycle clock) on a
PostgreSQL database and a Redis prefix of their own. A spectator watches ``challenge:{id}`` over /ws;
the database shows the results frozen once and every reward paid once, also when the worker finishing
the challenge is killed mid-transaction."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from persistence.db import create_engine, session_factory
from persistence.models import Challenge, ChallengeReward, ChallengeScore, LedgerEntry, MetricEventRow
from protocol import Batch, Delta, Event, Outcome, Subscribed, TopicMirror
from tests.hub.cluster import Account, HubProcess, Raw, Worker, admin_token, hub_env, register
from tests.polling import until

pytestmark = pytest.mark.postgresql


@dataclass
class Setup:
    hub: HubProcess
    env: dict[str, str]
    admin: str
    """An admin's access token."""
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    workers: list[Worker] = field(default_factory=list)

    async def worker(self) -> Worker:
        worker = Worker(self.env)
        self.workers.append(worker)
        await worker.start()
        return worker

    def admin_api(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.admin}"}
        return httpx.AsyncClient(base_url=self.hub.http, headers=headers, timeout=30)

    async def team(self, slug: str, members: list[Account]) -> None:
        async with self.admin_api() as http:
            created = await http.post("/api/v1/teams", json={"slug": slug, "name": slug.title()})
            assert created.status_code == 201, created.text
            for member in members:
                added = await http.put(f"/api/v1/teams/{slug}/members/{member.handle}")
                assert added.status_code == 204, added.text

    async def challenge(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self.admin_api() as http:
            created = await http.post("/api/v1/challenges", json=body)
        assert created.status_code == 201, created.text
        out: dict[str, Any] = created.json()
        return out

    async def api_key(self) -> str:
        """An integration's API key, allowed to report anyone's work."""
        async with self.admin_api() as http:
            created = await http.post(
                "/api/v1/service-accounts", json={"name": "ci", "scopes": ["metrics:write"]}
            )
        assert created.status_code == 201, created.text
        return str(created.json()["api_key"])

    async def report(self, key: str, events: list[dict[str, Any]]) -> None:
        """One batch from an integration: one scoring task, so one transaction."""
        async with httpx.AsyncClient(base_url=self.hub.http, timeout=30) as http:
            posted = await http.post("/api/v1/metrics", json={"events": events}, headers={"X-API-Key": key})
        assert posted.status_code == 202, posted.text
        statuses = [item["status"] for item in posted.json()["events"]]
        assert statuses == ["accepted"] * len(events), posted.text


@pytest.fixture
async def setup(
    _postgresql_database_url: str, redis_server: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[Setup]:
    env = hub_env(_postgresql_database_url, redis_server, redis_prefix, tmp_path)
    hub = HubProcess("serve", env)
    engine = create_engine(_postgresql_database_url)
    made = Setup(hub, env, "", engine, session_factory(engine))
    try:
        await hub.start()
        made.admin = await admin_token(hub.http, env)
        yield made
    finally:
        for worker in made.workers:
            await worker.kill()
        await hub.stop()
        for n, process in enumerate([hub, *made.workers]):  # shown by pytest when the test fails
            print(f"--- process {n} output ---\n" + "".join(process.output))
        await engine.dispose()


def iso(at: datetime) -> str:
    return at.isoformat()


def definition(
    challenge_id: str, starts: datetime, ends: datetime, grace: int, teams: list[str]
) -> dict[str, Any]:
    return {
        "id": challenge_id,
        "name": f"Ticket sprint {challenge_id}",
        "metrics": ["tickets_closed"],
        "scoring": "sum",
        "mode": "highest",
        "starts_at": iso(starts),
        "ends_at": iso(ends),
        "timezone": "Europe/Paris",
        "teams": teams,
        "rewards": [{"rank": 1, "xp": 100}],
        "grace_seconds": grace,
    }


def tickets(event_id: str, who: Account, value: int, at: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "user": who.handle,
        "metric": "tickets_closed",
        "value": value,
        "occurred_at": iso(at),
    }


@dataclass
class Seen:
    event: Event
    received: float
    """Wall-clock seconds (time.time()) when it arrived."""


class Spectator:
    """A mirror of a ``challenge:{id}`` topic fed by a raw connection, keeping the events it saw."""

    def __init__(self, raw: Raw, topic: str) -> None:
        self.raw = raw
        self.mirror = TopicMirror(topic)
        self.events: list[Seen] = []

    @property
    def document(self) -> dict[str, Any]:
        assert self.mirror.document is not None
        return self.mirror.document

    async def subscribe(self) -> Subscribed:
        subscribed: Subscribed = await self.raw.subscribe(self.mirror.topic)
        assert self.mirror.apply_subscribed(subscribed) is Outcome.APPLIED
        return subscribed

    async def _next(self) -> None:
        message = await self.raw.recv(timeout=30)
        if isinstance(message, Delta):
            assert self.mirror.apply_delta(message) is Outcome.APPLIED
        elif isinstance(message, Batch):
            assert set(self.mirror.apply_batch(message)) == {Outcome.APPLIED}
        elif isinstance(message, Event):
            assert message.topic == self.mirror.topic
            self.events.append(Seen(message, time.time()))
        else:
            raise AssertionError(f"unexpected {message!r}")

    async def event(self, name: str, timeout: float = 20, **data: Any) -> Seen:
        """The first event ``name`` seen (whose data has the items ``data``, if given)."""
        async with asyncio.timeout(timeout):
            while True:
                for seen in self.events:
                    if seen.event.name == name and data.items() <= seen.event.data.items():
                        return seen
                await self._next()

    async def until_scores(self, scores: dict[str, float], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while {slug: team["score"] for slug, team in self.document["teams"].items()} != scores:
                await self._next()


async def poll(
    sessions: async_sessionmaker[AsyncSession], query: Any, expected: Any, timeout: float = 30
) -> None:
    """Until the scalar ``query`` reads ``expected`` (the outcome is in the database: nothing to await)."""
    last = None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                async with sessions() as session:
                    last = await session.scalar(query)
                if last == expected:
                    return
                await asyncio.sleep(0.05)
    raise AssertionError(f"{query} stayed {last!r}, not {expected!r}, for {timeout} s")


async def logged_once(processes: list[Worker], line: str, timeout: float = 10) -> bool:
    """Whether exactly one of the processes printed ``line`` (once it has reached the test's reader)."""

    def count() -> int:
        return sum(1 for process in processes for printed in process.output if line in printed)

    # The line is in the pipe: the reader task gets it soon.
    await until(lambda: count() > 0, f"a worker logging {line!r}", timeout=timeout)
    return count() == 1


async def challenge_state(sessions: async_sessionmaker[AsyncSession], challenge_id: str) -> str | None:
    async with sessions() as session:
        return await session.scalar(select(Challenge.state).where(Challenge.id == challenge_id))


async def assert_paid_once(
    sessions: async_sessionmaker[AsyncSession],
    challenge_id: str,
    winners: list[Account],
    losers: list[Account],
) -> None:
    """One finished row with results; one rank reward and one ledger line per winner; none for the rest."""
    async with sessions() as session:
        rows = list(await session.scalars(select(Challenge).where(Challenge.id == challenge_id)))
        assert len(rows) == 1
        [row] = rows
        assert row.state == "finished"
        assert row.results is not None
        assert row.finished_at is not None
        rewards = list(
            await session.execute(
                select(ChallengeReward.user_id, ChallengeReward.kind, ChallengeReward.xp).where(
                    ChallengeReward.challenge_id == challenge_id
                )
            )
        )
        assert sorted((str(u), kind, xp) for u, kind, xp in rewards) == sorted(
            (w.user_id, "rank", 100) for w in winners
        )
        ledger = list(
            await session.execute(
                select(LedgerEntry.user_id, LedgerEntry.amount, LedgerEntry.source).where(
                    LedgerEntry.rule_id == f"challenges.{challenge_id}"
                )
            )
        )
        assert sorted((str(u), amount, source) for u, amount, source in ledger) == sorted(
            (w.user_id, 100, "challenge") for w in winners
        )
        assert not {str(u) for u, _, _ in ledger} & {loser.user_id for loser in losers}


async def test_a_challenge_runs_its_whole_life_with_real_workers(setup: Setup) -> None:
    await asyncio.gather(setup.worker(), setup.worker())  # both run the lifecycle clock
    ana, ari, bob, bea, sam = [
        await register(setup.hub.http, handle) for handle in ("ana", "ari", "bob", "bea", "sam")
    ]
    await setup.team("red", [ana, ari])
    await setup.team("blue", [bob, bea])
    key = await setup.api_key()
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    ends = starts + timedelta(seconds=4)
    closes = ends + timedelta(seconds=1)
    created = await setup.challenge(definition("sprint", starts, ends, 1, ["red", "blue"]))
    assert created["state"] == "scheduled"

    async with Raw.open(setup.hub.ws) as raw, Raw.open(setup.hub.ws) as ana_raw:
        await ana_raw.login(ana.access_token)  # a winner, watching her own dashboard
        dashboard = Spectator(ana_raw, f"user:{ana.user_id}")
        await dashboard.subscribe()
        await raw.login(sam.access_token)  # a spectator: in neither team
        watcher = Spectator(raw, "challenge:sprint")
        await watcher.subscribe()
        assert time.time() < starts.timestamp(), "the subscription came too late to see the start"
        assert watcher.document["state"] == "scheduled"
        assert set(watcher.document["teams"]) == {"red", "blue"}
        assert watcher.document["results"] is None

        started = await watcher.event("challenge_started")
        assert started.received >= starts.timestamp()
        assert started.event.data["challenge_id"] == "sprint"
        assert started.event.data["ends_at_ms"] == int(ends.timestamp() * 1000)
        assert watcher.document["state"] == "live"  # the event follows the delta it describes

        now = datetime.now(UTC)
        assert now < ends
        # One request per player, at once: two workers score batches of one team's members concurrently
        # (the team's row is locked FOR NO KEY UPDATE, so a challenge score's foreign key to it does not
        # deadlock them; a deadlock would be retried anyway).
        await asyncio.gather(
            setup.report(key, [tickets("ana-1", ana, 3, now)]),
            setup.report(key, [tickets("ari-1", ari, 2, now)]),
            setup.report(key, [tickets("bob-1", bob, 1, now)]),
            setup.report(key, [tickets("bob-late", bob, 40, ends)]),  # at the end: outside the window
            setup.report(key, [tickets("bea-early", bea, 40, starts - timedelta(milliseconds=1))]),  # before
        )
        await watcher.until_scores({"red": 5.0, "blue": 1.0})
        red = watcher.document["teams"]["red"]
        assert red["rank"] == 1
        assert red["members"][ana.user_id]["contribution"] == 3.0
        assert red["members"][ari.user_id]["display_name"] == "Ari"
        assert watcher.document["teams"]["blue"]["rank"] == 2
        # Every event was scored (XP), the two outside the window too: they just do not count here.
        await poll(setup.sessions, select(func.count()).select_from(MetricEventRow), 5)
        assert time.time() < closes.timestamp(), "scored too late for this test to say anything"

        finished = await watcher.event("challenge_finished")
        assert finished.received >= closes.timestamp()
        results = finished.event.data["results"]
        assert finished.event.data["state"] == "finished"
        assert results["winners"] == ["red"]
        assert watcher.document["state"] == "finished"
        assert watcher.document["results"] == results
        assert {slug: team["score"] for slug, team in watcher.document["teams"].items()} == {
            "red": 5.0,
            "blue": 1.0,
        }
        assert [seen.event.name for seen in watcher.events] == ["challenge_started", "challenge_finished"]
        # The reward lands on the winner's dashboard live (a worker published it through Redis).
        rule = "challenges.sprint"
        reward = await dashboard.event("xp_awarded", rule_id=rule)
        assert reward.event.data["amount"] == 100
        assert reward.event.data["xp"] == dashboard.document["xp"]  # the event follows its delta
        async with setup.sessions() as session:
            explained = await session.scalar(
                select(LedgerEntry.explanation).where(
                    LedgerEntry.user_id == uuid.UUID(ana.user_id), LedgerEntry.rule_id == rule
                )
            )
        assert explained is not None
        assert explained.startswith("reward for rank 1 of 2 in Ticket sprint")
        assert reward.event.data["explanation"] == explained
        async with Raw.open(setup.hub.ws) as fresh:
            await fresh.login(ana.access_token)
            snapshot = TopicMirror(dashboard.mirror.topic)
            assert snapshot.apply_subscribed(await fresh.subscribe(snapshot.topic)) is Outcome.APPLIED
        assert dashboard.document == snapshot.document
        # Both workers' clocks ran; one of them made each transition.
        for line in ("challenges started: sprint", "challenges finished: sprint"):
            assert await logged_once(setup.workers, line), line
        print(
            f"challenge_started {started.received - starts.timestamp():.3f} s after starts_at, "
            f"challenge_finished {finished.received - closes.timestamp():.3f} s after closes_at"
        )

    await assert_paid_once(setup.sessions, "sprint", winners=[ana, ari], losers=[bob, bea, sam])
    async with setup.sessions() as session:
        scores = await session.execute(
            select(ChallengeScore.user_id, ChallengeScore.total).where(
                ChallengeScore.challenge_id == "sprint"
            )
        )
        totals = {str(user): total for user, total in scores}
    assert totals == {ana.user_id: 3.0, ari.user_id: 2.0, bob.user_id: 1.0}


async def test_a_worker_killed_while_finishing_still_gives_one_result(setup: Setup) -> None:
    first = await setup.worker()
    ana, ari, bob = [await register(setup.hub.http, handle) for handle in ("kana", "kari", "kbob")]
    await setup.team("red", [ana, ari])
    await setup.team("blue", [bob])
    now = datetime.now(UTC)
    starts, ends = now - timedelta(seconds=1), now + timedelta(seconds=3)
    await setup.challenge(definition("killed", starts, ends, 0, ["red", "blue"]))
    await setup.report(
        await setup.api_key(), [tickets("kana-1", ana, 3, now), tickets("kbob-1", bob, 1, now)]
    )
    await poll(setup.sessions, select(func.count()).select_from(ChallengeScore), 2)

    async with setup.engine.connect() as blocker, setup.engine.connect() as probe:
        # Ana's state row, held by this test: the finish (which takes the challenge's row first, then the
        # winners' states) blocks inside its transaction.
        transaction = await blocker.begin()
        locked = await blocker.execute(
            text("SELECT user_id FROM user_states WHERE user_id = :id FOR UPDATE"),
            {"id": uuid.UUID(ana.user_id)},
        )
        assert locked.scalar_one() == uuid.UUID(ana.user_id)
        assert datetime.now(UTC) < ends, "locked too late: the finish may have run already"
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%user_states%'"
        )
        await poll(setup.sessions, waiting, 1)
        with pytest.raises(DBAPIError, match="could not obtain lock"):
            async with probe.begin():
                await probe.execute(text("SELECT id FROM challenges WHERE id = 'killed' FOR UPDATE NOWAIT"))

        await first.kill(signal.SIGKILL)
        assert await challenge_state(setup.sessions, "killed") == "live"  # nothing committed
        async with setup.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(ChallengeReward)) == 0
        await setup.worker()  # its clock catches up: the finish is due
        await transaction.rollback()

    await poll(setup.sessions, select(Challenge.state).where(Challenge.id == "killed"), "finished")
    await assert_paid_once(setup.sessions, "killed", winners=[ana, ari], losers=[bob])
