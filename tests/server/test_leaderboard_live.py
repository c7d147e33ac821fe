"""Leaderboard topics on Redis: the delta between two board documents, and publishing them from several
processes (compare-and-set on the stream position, coalescing) against a real Redis."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from persistence.leaderboards import Award, Leaderboards
from protocol import apply_ops, check_ops, parse_op
from server.hub.documents import DocumentStore
from server.hub.publish import decode_change
from server.hub.redis import RedisStreams
from server.services.boards.live import LiveBoards, board_ops

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
TOPIC = "leaderboard:xp:weekly"


def document(scores: dict[str, int], ranked: int | None = None, start: int = 1000) -> dict[str, Any]:
    """A board document in §9's order (score, then member), with competition ranks."""
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    rows: list[dict[str, Any]] = []
    for index, (member, score) in enumerate(ordered):
        rank = rows[-1]["rank"] if rows and rows[-1]["score"] == score else index + 1
        rows.append({"member": member, "display_name": member.title(), "score": score, "rank": rank})
    return {
        "board": "xp",
        "period": "weekly",
        "period_start_ms": start,
        "period_end_ms": start + 7,
        "size": 100,
        "ranked": len(rows) if ranked is None else ranked,
        "rows": rows,
    }


def applied(before: dict[str, Any], ops: list[list[Any]]) -> dict[str, Any]:
    parsed = [parse_op(op) for op in ops]
    check_ops(parsed)  # outside-in, one key per list
    return dict(apply_ops(before, parsed))


boards = st.dictionaries(st.sampled_from("abcdefghij"), st.integers(0, 5), max_size=10)


@given(boards, boards, st.integers(0, 20), st.booleans())
def test_board_ops_turn_any_board_into_any_other(before: dict, after: dict, extra: int, turn: bool) -> None:
    old = document(before)
    new = document(after, ranked=len(after) + extra, start=2000 if turn else 1000)
    ops = board_ops(old, new)
    assert applied(old, ops) == new
    assert applied(applied(old, ops), ops) == new  # idempotent (§11.4)
    assert (ops == []) == (old == new)


def test_board_ops_example_of_an_overtake() -> None:
    old = document({"ana": 640, "ben": 560, "chloe": 500})
    new = document({"ana": 640, "ben": 560, "chloe": 660})
    assert board_ops(old, new) == [
        ["merge", ["rows", {"member": "chloe"}], {"score": 660, "rank": 1}],
        ["merge", ["rows", {"member": "ana"}], {"rank": 2}],
        ["merge", ["rows", {"member": "ben"}], {"rank": 3}],
        ["move", ["rows"], {"member": "chloe"}, 0],
    ]


def test_without_a_previous_document_the_delta_sets_it_whole() -> None:
    new = document({"ana": 3})
    assert board_ops(None, new) == [["set", [], new]]
    assert applied({"anything": 1}, board_ops(None, new)) == new


# ------------------------------------------------------------------------------------ on Redis


class Process(LiveBoards):
    """A publishing process without a database: display names are the titled ids."""

    async def _display_names(self, members: Iterable[str]) -> dict[str, str]:
        return {member: member.title() for member in members}


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server, decode_responses=False)
    yield client
    await client.aclose()


def process(redis: Redis, prefix: str, push_ms: int = 0) -> Process:
    streams = RedisStreams(redis, prefix=prefix)
    leaderboards = Leaderboards(redis, prefix=prefix, clock=lambda: NOW)
    return Process(leaderboards, DocumentStore(streams), None, push_ms=push_ms)  # type: ignore[arg-type]


async def replay(streams: RedisStreams, epoch: str) -> dict[str, Any]:
    """The document every delta of the epoch builds, from nothing (the first delta sets it whole)."""
    deltas = await streams.since(TOPIC, epoch, 0)
    assert deltas is not None
    doc: dict[str, Any] = {}
    for delta in deltas:
        doc = applied(doc, decode_change(delta.payload)[0])
    return doc


async def test_two_processes_publishing_one_board_keep_its_deltas_exact(
    redis: Redis, redis_prefix: str
) -> None:
    a, b = process(redis, redis_prefix), process(redis, redis_prefix)
    first, position = await a.snapshot("xp", "weekly")  # the board is empty: one delta sets it
    assert (first["rows"], position.offset) == ([], 1)
    rng = random.Random(7)
    for step in range(40):
        await a.leaderboards.record([Award(rng.choice("pqrst"), "xp", rng.randint(1, 9), NOW)])
        # Each process diffs from the document it published last: stale whenever the other one has
        # published since, which the compare-and-set catches.
        await (a if rng.random() < 0.5 else b).push(TOPIC)
        if step % 7 == 0:
            await asyncio.gather(a.push(TOPIC), b.push(TOPIC))
    final = await b.push(TOPIC)
    assert final.document == await a.document("xp", "weekly")
    assert await replay(a.store.streams, final.position.epoch) == final.document
    snapshot, at = await process(redis, redis_prefix).snapshot("xp", "weekly")
    assert (snapshot, at) == (final.document, final.position)


async def test_changes_within_one_interval_make_one_delta(redis: Redis, redis_prefix: str) -> None:
    live = process(redis, redis_prefix, push_ms=300)
    _, start = await live.snapshot("xp", "weekly")
    began = time.monotonic()
    for i in range(200):
        changes = await live.leaderboards.record([Award(f"m{i % 30:02}", "xp", 1 + i % 4, NOW)])
        live.mark(changes)
        await asyncio.sleep(0.002)  # spreads the 200 batches over about half a second
    await live.settled()  # every change marked has been pushed, each at its interval
    elapsed = time.monotonic() - began
    head = (await live.store.read(TOPIC)).position
    # The first change goes at once, then at most one per 300 ms: a handful, not 200.
    assert 1 <= head.offset - start.offset <= elapsed / 0.3 + 1, (head.offset - start.offset, elapsed)
    assert head.offset - start.offset < 20
    assert await replay(live.store.streams, head.epoch) == await live.document("xp", "weekly")


async def test_the_interval_holds_across_processes(redis: Redis, redis_prefix: str) -> None:
    a, b = process(redis, redis_prefix, push_ms=400), process(redis, redis_prefix, push_ms=400)
    _, start = await a.snapshot("xp", "weekly")
    began = time.monotonic()
    for i in range(60):
        live = a if i % 2 else b
        live.mark(await live.leaderboards.record([Award(f"m{i % 7}", "xp", 2, NOW)]))
        await asyncio.sleep(0.01)  # spreads the changes over about 0.6 s
    await asyncio.gather(a.settled(), b.settled())
    elapsed = time.monotonic() - began
    await asyncio.gather(a.aclose(), b.aclose())  # nothing is left to push
    head = (await a.store.read(TOPIC)).position
    # Two processes, one shared interval: one delta per 400 ms in all (each its own would give twice).
    assert 1 <= head.offset - start.offset <= elapsed / 0.4 + 1, (head.offset - start.offset, elapsed)
    assert await replay(a.store.streams, head.epoch) == await a.document("xp", "weekly")


def test_rebuild_needs_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMIF_")}
    env["GAMIF_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "gamif"), "leaderboards", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "GAMIF_REDIS_URL" in done.stderr
