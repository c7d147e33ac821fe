"""Leaderboards live without Redis, end to end: one `gamif serve` hub on its embedded streams (SQLite, and
PostgreSQL without Redis). Metrics posted over HTTP are scored in the process and reach a screen watching
``leaderboard:xp:weekly`` as row deltas; a fresh subscribe then returns the mirror's document at its
offset."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol import MoveOp, Outcome, SetOp, TopicMirror
from tests.hub.cluster import Account, HubProcess, Raw, hub_env, register, watch

TOPIC = "leaderboard:xp:weekly"


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[HubProcess]:
    """One embedded hub (no GAMIF_REDIS_URL) on the test's database."""
    env = hub_env(database_url, None, "", tmp_path) | {"GAMIF_LEADERBOARD_PUSH_MS": "250"}
    process = HubProcess("embedded", env)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()
        print("--- hub output ---\n" + "".join(process.output))  # shown by pytest when the test fails


async def post(hub: HubProcess, account: Account, tickets: int) -> None:
    event = {
        "id": uuid.uuid4().hex,
        "metric": "tickets_closed",
        "value": tickets,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    async with httpx.AsyncClient(base_url=hub.http, timeout=30) as http:
        posted = await http.post(
            "/api/v1/metrics",
            json={"events": [event]},
            headers={"Authorization": f"Bearer {account.access_token}"},
        )
    assert posted.status_code == 202, posted.text


def members(document: dict[str, Any]) -> list[str]:
    return [row["member"] for row in document["rows"]]


async def test_an_embedded_board_moves_live_and_matches_a_fresh_snapshot(hub: HubProcess) -> None:
    ana, ben = await register(hub.http, "emb-ana"), await register(hub.http, "emb-ben")
    mirror = TopicMirror(TOPIC)
    async with Raw.open(hub.ws) as raw:
        await raw.login(ana.access_token)
        assert mirror.apply_subscribed(await raw.subscribe(TOPIC)) is Outcome.APPLIED
        await post(hub, ana, 2)
        await watch(raw, mirror, lambda m: members(m.document) == [ana.user_id])
        await post(hub, ben, 6)
        deltas = await watch(raw, mirror, lambda m: members(m.document) == [ben.user_id, ana.user_id])
        # Ben overtook Ana: row ops (§11.6), never the whole list or document replaced.
        ops = [op for delta in deltas for op in delta.ops]
        assert any(isinstance(op, MoveOp) for op in ops)
        assert not any(isinstance(op, SetOp) and op.path in ((), ("rows",)) for op in ops)
        rows = mirror.document["rows"]
        assert [(row["display_name"], row["rank"]) for row in rows] == [("Emb-Ben", 1), ("Emb-Ana", 2)]
        assert rows[0]["score"] > rows[1]["score"] > 0
        assert mirror.document["ranked"] == 2
        async with Raw.open(hub.ws) as other:
            await other.login(ben.access_token)
            fresh = await other.subscribe(TOPIC)
        # The fresh snapshot is the state at its offset: the mirror, once at that offset, holds it.
        await watch(raw, mirror, lambda m: m.offset >= fresh.offset)
    assert (fresh.epoch, fresh.offset, fresh.snapshot) == (mirror.epoch, mirror.offset, mirror.document)
