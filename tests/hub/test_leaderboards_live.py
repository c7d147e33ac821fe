"""Leaderboards live, end to end: two `gamif serve` hubs and a `gamif worker` on PostgreSQL and Redis.
Metrics posted over HTTP are scored by the worker, recorded in the Redis boards, and reach a screen
watching ``leaderboard:xp:weekly`` as coalesced row deltas; `gamif leaderboards rebuild` agrees."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from persistence.leaderboards import PERIODS, Leaderboards
from protocol import Batch, Delta, MoveOp, Outcome, SetOp, TopicMirror
from tests.hub.cluster import GAMIF, Account, Raw, watch
from tests.hub.conftest import Cluster

pytestmark = pytest.mark.postgresql

TOPIC = "leaderboard:xp:weekly"


async def post(cluster: Cluster, account: Account, tickets: int, node: str = "a") -> None:
    when = datetime.now(UTC) - timedelta(minutes=1)
    event = {
        "id": uuid.uuid4().hex,
        "metric": "tickets_closed",
        "value": tickets,
        "occurred_at": when.isoformat(),
    }
    base = (cluster.a if node == "a" else cluster.b).http
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        posted = await http.post(
            "/api/v1/metrics",
            json={"events": [event]},
            headers={"Authorization": f"Bearer {account.access_token}"},
        )
    assert posted.status_code == 202, posted.text


def position_of(document: dict[str, Any], member: str) -> int | None:
    members = [row["member"] for row in document["rows"]]
    return members.index(member) if member in members else None


def ahead(document: dict[str, Any], first: str, second: str) -> bool:
    """Whether both are on the board, ``first`` above ``second``."""
    one, two = position_of(document, first), position_of(document, second)
    return one is not None and two is not None and one < two


async def test_scores_reorder_a_watched_board_and_the_mirror_matches_a_fresh_snapshot(
    shared_cluster: Cluster,
):
    cluster = shared_cluster
    ana, ben = await cluster.register("lb-ana"), await cluster.register("lb-ben")
    mirror = TopicMirror(TOPIC)
    async with Raw.open(cluster.a.ws) as raw:
        await raw.login(ana.access_token)
        assert mirror.apply_subscribed(await raw.subscribe(TOPIC)) is Outcome.APPLIED
        await post(cluster, ana, 2)
        await watch(raw, mirror, lambda m: position_of(m.document, ana.user_id) is not None)
        await post(cluster, ben, 6, node="b")
        deltas = await watch(raw, mirror, lambda m: ahead(m.document, ben.user_id, ana.user_id))
        # Ben overtook Ana: row ops (§11.6), never the whole list or document replaced.
        ops = [op for delta in deltas for op in delta.ops]
        assert any(isinstance(op, MoveOp) for op in ops)  # appended, then moved to the top
        assert not any(isinstance(op, SetOp) and op.path in ((), ("rows",)) for op in ops)
        rows = {row["member"]: row for row in mirror.document["rows"]}
        assert rows[ben.user_id]["display_name"] == "Lb-Ben"
        assert rows[ben.user_id]["score"] > rows[ana.user_id]["score"] > 0
        assert rows[ben.user_id]["rank"] < rows[ana.user_id]["rank"]
        # A fresh snapshot from the other node is the document at the stream's head when it is taken: the
        # watched mirror, fed each delta up to that offset, is exactly it.
        async with Raw.open(cluster.b.ws) as other:
            await other.login(ben.access_token)
            fresh = await other.subscribe(TOPIC)
        await catch_up(raw, mirror, fresh.offset)
    assert (fresh.epoch, fresh.offset, fresh.snapshot) == (mirror.epoch, mirror.offset, mirror.document)


async def catch_up(raw: Raw, mirror: TopicMirror, offset: int) -> None:
    """Apply the topic's deltas to ``mirror`` one by one until it is at ``offset`` (none past it)."""
    async with asyncio.timeout(20):
        while mirror.offset < offset:
            message = await raw.recv()
            for delta in (
                message.deltas
                if isinstance(message, Batch)
                else [message]
                if isinstance(message, Delta)
                else []
            ):
                if delta.topic == mirror.topic and mirror.offset < offset:
                    assert mirror.apply_delta(delta) is Outcome.APPLIED


async def test_many_events_within_the_push_interval_make_few_deltas(shared_cluster: Cluster):
    cluster = shared_cluster
    players = [await cluster.register(f"lb-crowd-{i}") for i in range(8)]
    mirror = TopicMirror(TOPIC)
    async with Raw.open(cluster.b.ws) as raw:
        await raw.login(players[0].access_token)
        mirror.apply_subscribed(await raw.subscribe(TOPIC))
        started = time.monotonic()
        # 40 batches, each changing the board (one ticket each, under the daily cap).
        await asyncio.gather(
            *(post(cluster, player, 1, node="ab"[i % 2]) for i in range(5) for player in players)
        )
        everyone = {player.user_id for player in players}

        def all_scored(doc: dict[str, Any]) -> bool:
            scores = {row["member"]: row["score"] for row in doc["rows"] if row["member"] in everyone}
            return (
                len(scores) == len(everyone) and len(set(scores.values())) == 1 and min(scores.values()) >= 40
            )

        deltas = await watch(raw, mirror, lambda m: all_scored(m.document), timeout=30)
        elapsed = time.monotonic() - started
    # At most one delta per 250 ms interval (plus the first), far fewer than the 40 changes.
    assert 1 <= len(deltas) <= elapsed / 0.25 + 2, (len(deltas), elapsed)
    assert len(deltas) < 20


async def top_of_every_board(cluster: Cluster, metrics: list[str]) -> dict[tuple[str, str], Any]:
    prefix = cluster.env["GAMIF_REDIS_PREFIX"]
    boards = Leaderboards(cluster.redis, prefix=prefix)
    return {
        (board, period): [
            (r.member, r.score, r.rank) for r in (await boards.top(board, period, limit=1000)).rows
        ]
        for board in ["xp", *metrics]
        for period in PERIODS
    }


async def test_a_rebuild_leaves_the_boards_as_they_were_live(shared_cluster: Cluster):
    cluster = shared_cluster
    cleo = await cluster.register("lb-cleo")
    mirror = TopicMirror(TOPIC)
    async with Raw.open(cluster.a.ws) as raw:
        await raw.login(cleo.access_token)
        mirror.apply_subscribed(await raw.subscribe(TOPIC))
        await post(cluster, cleo, 3)
        # Until the worker has recorded her and pushed the topic: the record alone is not enough, the
        # push follows it asynchronously, and a push landing after the head is read below (during the
        # rebuild) would be taken for the rebuild's.
        await watch(raw, mirror, lambda m: position_of(m.document, cleo.user_id) is not None)
    metrics = ["tickets_closed", "commits", "reviews_done"]
    live = await top_of_every_board(cluster, metrics)
    head = await cluster.redis.hget(f"{cluster.env['GAMIF_REDIS_PREFIX']}hub:{{{TOPIC}}}:meta", "seq")
    done = await asyncio.to_thread(
        subprocess.run,
        [GAMIF, "leaderboards", "rebuild"],
        env={**os.environ, **cluster.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "writing:" in done.stderr
    assert "rebuilt" in done.stderr
    assert await top_of_every_board(cluster, metrics) == live
    assert live["tickets_closed", "all_time"]
    # Nothing changed, so the live topic got no delta.
    assert await cluster.redis.hget(f"{cluster.env['GAMIF_REDIS_PREFIX']}hub:{{{TOPIC}}}:meta", "seq") == head
