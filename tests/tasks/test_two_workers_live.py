"""Two real `gamif worker` processes draining one backlog for the members of one team, watched through a
real `gamif serve` hub by the Python client (`protocol.client`), subscribed from before the backlog:
each member's own topic gets every committed change once and in order (no gap, no duplicate, never a
resynchronisation), its mirror ends equal to a fresh snapshot and to the database, the XP running totals
of its `xp_awarded` events only grow, and the team's mirror converges to a fresh snapshot and to the
database's numbers (issue 17: ordering under concurrent workers, with real processes).

The backlog is queued before either worker starts, player after player in turn, many batches per
member: each worker's first read of the stream (100 entries) holds batches of every member, so both
score the same players at the same time, their transactions queued on the players' state rows, and
their publishes racing after the commits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from game import MetricEvent
from persistence.db import create_engine, session_factory
from persistence.live_outbox import Outbox
from persistence.models import MetricEventRow, Team, TeamMembership, User, UserStateRow
from persistence.scoring import Submission
from protocol import Delta, Event, XpAwarded, event_data
from protocol.client import Client, Update, Updates
from server.config import Settings
from server.hub.documents import DocumentStore
from server.hub.redis import RedisStreams
from server.services.scoring.rules import RulesService
from server.services.topics.live_documents import LiveDocuments
from tasks.scoring import register_scoring
from tasks.scoring_queue import stream_broker
from tasks.scoring_step import to_payload
from tests.hub.cluster import HubProcess, Worker, hub_env
from tests.hub.test_hub_bad_input import token
from tests.polling import until

pytestmark = pytest.mark.postgresql

MEMBERS = 4
BATCHES_PER_MEMBER = 60
EVENTS_PER_BATCH = 2
METRICS = ("commits", "reviews_done", "prs_merged", "focus_minutes", "docs_written")
TEAM = "relay"
TIMEOUT = 60


@dataclass
class Screen:
    """One member's client: the member's own topic (and, for the first, the team's), and every update
    it delivered since before the backlog."""

    user_id: str
    client: Client
    updates: Updates
    seen: list[Update] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        async for update in self.updates:
            self.seen.append(update)

    def xp_totals(self) -> list[int]:
        """The running totals the member's `xp_awarded` events said, in arrival order."""
        totals = []
        for update in self.seen:
            if isinstance(update.message, Event) and update.message.name == "xp_awarded":
                awarded = event_data(update.message)
                assert isinstance(awarded, XpAwarded)
                totals.append(awarded.xp)
        return totals

    def changes(self, topic: str) -> int:
        """The deltas of ``topic`` that changed its document (rank notices are deltas of events only)."""
        return sum(
            1
            for update in self.seen
            if isinstance(update.message, Delta) and update.topic == topic and update.message.ops
        )


@pytest.fixture
async def stack(
    _postgresql_database_url: str, redis_server: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[dict]:
    engine = create_engine(_postgresql_database_url)
    sessions = session_factory(engine)
    members = [uuid.uuid4() for _ in range(MEMBERS)]
    async with sessions() as session, session.begin():
        team = Team(slug=TEAM, name="Relay", description="Four players, two workers.")
        session.add(team)
        for n, user_id in enumerate(members):
            session.add(
                User(
                    id=user_id,
                    handle=f"r{n}",
                    email=f"r{n}@example.com",
                    display_name=f"R{n}",
                    timezone="Europe/Paris",
                    password_hash="-",
                )
            )
        await session.flush()
        for user_id in members:
            session.add(TeamMembership(team_id=team.id, user_id=user_id, joined_at=datetime.now(UTC)))
    env = hub_env(_postgresql_database_url, redis_server, redis_prefix, tmp_path)
    hub = HubProcess("hub", env)
    workers = [Worker(env), Worker(env)]
    # The API's own broker (same stream, same serializer), as `gamif serve` enqueues.
    broker = stream_broker(
        Settings(
            database_url=_postgresql_database_url,
            redis_url=redis_server,
            redis_prefix=redis_prefix,
            data_dir=tmp_path,
        )
    )
    task = register_scoring(broker)
    await broker.startup()  # the consumer group reads from the stream's start: the backlog is kept
    redis = Redis.from_url(redis_server)
    try:
        await hub.start()
        yield {
            "sessions": sessions,
            "members": [str(member) for member in members],
            "hub": hub,
            "workers": workers,
            "task": task,
            "redis": redis,
            "streams": RedisStreams(redis, prefix=redis_prefix),
            "queue": f"{redis_prefix}tasks:score",
        }
    finally:
        for worker in workers:
            await worker.kill()
        await hub.stop()
        await redis.aclose()
        await broker.shutdown()
        await engine.dispose()


def backlog(members: list[str]) -> list[list[Submission]]:
    """Every member's batches, member after member in turn (r0, r1, r2, r3, r0, ...): consecutive
    stream entries are different players, and each block a worker reads holds all of them."""
    start = datetime.now(UTC) - timedelta(days=3)
    made = []
    for b in range(BATCHES_PER_MEMBER * len(members)):
        user = members[b % len(members)]
        batch = []
        for i in range(EVENTS_PER_BATCH):
            n = b * EVENTS_PER_BATCH + i
            when = start + timedelta(minutes=5 * n)
            event = MetricEvent(f"r-{n}", user, METRICS[n % len(METRICS)], 1 + n % 3, when)
            batch.append(Submission(event, "service:test"))
        made.append(batch)
    return made


def tokens_of(user_id: str):
    async def provide() -> str:
        return token(user_id, timedelta(hours=1))

    return provide


async def fresh(hub: HubProcess, user_id: str, topic: str) -> tuple[dict, int]:
    """A new session's snapshot of ``topic``: its document and offset."""
    async with Client(hub.ws, tokens_of(user_id)) as other:
        mirror = await other.subscribe(topic, timeout=TIMEOUT)
        assert mirror.document is not None
        assert mirror.offset is not None
        return mirror.document, mirror.offset


async def test_two_workers_on_one_team_deliver_every_change_once_in_order(stack) -> None:
    members, hub, sessions = stack["members"], stack["hub"], stack["sessions"]
    team_topic = f"team:{TEAM}"
    screens: list[Screen] = []
    async with contextlib.AsyncExitStack() as clients:
        # Every screen subscribed before the backlog exists: everything after is live deltas.
        for n, user_id in enumerate(members):
            client = await clients.enter_async_context(Client(hub.ws, tokens_of(user_id)))
            screen = Screen(user_id, client, client.updates())
            screen.reader = asyncio.create_task(screen.read())
            screens.append(screen)
            await client.subscribe(f"user:{user_id}", timeout=TIMEOUT)
            if n == 0:
                await client.subscribe(team_topic, timeout=TIMEOUT)
        made = backlog(members)
        for batch in made:
            await stack["task"].kiq(to_payload(batch, datetime.now(UTC)))
        await asyncio.gather(*(worker.start() for worker in stack["workers"]))

        total = sum(len(batch) for batch in made)

        async def all_scored() -> bool:
            async with sessions() as session:
                count = await session.scalar(select(func.count()).select_from(MetricEventRow))
            return count == total

        await until(all_scored, f"{total} events scored by the two workers", timeout=TIMEOUT, every=0.1)
        outbox = Outbox(sessions)

        async def published() -> bool:
            return await outbox.count() == 0

        await until(published, "every committed user change published", timeout=TIMEOUT)
        # Both workers took part (taskiq logs each task it runs, in the worker's output): each took
        # blocks of the backlog, every block holding batches of every member.
        ran = [sum("Executing task" in line for line in worker.output) for worker in stack["workers"]]
        assert min(ran) > 0, ran
        assert sum(ran) >= len(made), ran

        async with sessions() as session:
            states = {str(row.user_id): row for row in await session.scalars(select(UserStateRow))}
        for screen in screens:
            topic = f"user:{screen.user_id}"
            mine = screen.client.mirrors[topic]
            document, offset = await fresh(hub, screen.user_id, topic)
            # Rank notices (deltas of events only) may follow on either side of the fresh snapshot.
            await screen.client.wait_for(lambda mine=mine, offset=offset: mine.offset >= offset, TIMEOUT)
            assert mine.document == document  # the screen equals a fresh snapshot...
            state = states[screen.user_id]
            assert document["xp"] == state.xp > 0  # ...and the database
            # One delta per committed change of the member: as many as its live version says.
            assert screen.changes(topic) == state.live_version
            totals = screen.xp_totals()
            assert totals, f"{topic}: no xp_awarded event"
            assert all(a < b for a, b in itertools.pairwise(totals)), totals  # only grow
            assert totals[-1] == state.xp

        # The team's document is coalesced (pushed at most once a second): it converges to what the
        # database holds, and a fresh snapshot is the same.
        rules = RulesService(sessions)
        await rules.bootstrap()
        documents = LiveDocuments(DocumentStore(stack["streams"]), sessions, rules.engine)
        expected = await documents.document(team_topic)
        team = screens[0].client.mirrors[team_topic]
        await screens[0].client.wait_for(lambda: team.document == expected, TIMEOUT)
        document, offset = await fresh(hub, members[0], team_topic)
        assert (document, offset) == (team.document, team.offset)
        assert {user: entry["xp"] for user, entry in document["members"].items()} == {
            user: states[user].xp for user in members
        }
        assert document["totals"]["xp"] == sum(states[user].xp for user in members)

        # No screen ever had to be repaired: no gap, no divergence, no duplicate, no second snapshot.
        for n, screen in enumerate(screens):
            stats = screen.client.stats
            assert (stats.gaps, stats.diverged, stats.duplicates) == (0, 0, 0), stats
            assert (stats.snapshots, stats.recovered, stats.reconnects) == (2 if n == 0 else 1, 0, 0), stats
    for screen in screens:  # closed: their update streams end
        assert screen.reader is not None
        await screen.reader
