"""README command 1 (`gamif run`: one process, embedded SQLite, no Redis): an integration posts
metrics, and a player's WebSocket client sees the XP delta and the event that explains it."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx

from protocol.client import Client
from tests.hub.cluster import STARTED, GamifProcess
from tests.services import free_port


async def test_the_embedded_demo_pushes_scored_metrics_to_a_live_client(tmp_path):
    port = free_port()
    # No demo pulse: the test expects its own events next on the screen.
    demo = GamifProcess({"GAMIF_DATA_DIR": str(tmp_path / "data"), "GAMIF_DEMO_PULSE_SECONDS": "0"})
    await demo.spawn(["run", "--port", str(port)], STARTED, "gamif run")
    try:
        key = re.search(r"gmf_[a-z0-9]{8}_[A-Za-z0-9]+", "".join(demo.output))
        assert key is not None
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"login": "ana", "password": "gamif-demo-password"}
            )
            token = login.json()["access_token"]
            me = (await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()

            async def tokens() -> str:
                return str(token)

            async with Client(f"ws://127.0.0.1:{port}/ws", tokens) as client:
                mirror = await client.subscribe(f"user:{me['user']['id']}", timeout=30)
                xp = mirror.document["xp"]
                updates = client.updates()
                when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
                event = {
                    "id": "embedded-1",
                    "user": "ana",
                    "metric": "reviews_done",
                    "value": 2,
                    "occurred_at": when,
                }
                posted = await http.post(
                    "/api/v1/metrics", json={"events": [event]}, headers={"X-API-Key": key.group(0)}
                )
                assert posted.status_code == 202, posted.text
                async with asyncio.timeout(30):
                    async for update in updates:
                        if update.kind == "event" and update.message.name == "xp_awarded":
                            break
                assert mirror.document["xp"] > xp
                assert update.message.data["xp"] == mirror.document["xp"]
                assert "Code reviews" in update.message.data["explanation"]
    finally:
        assert demo.process is not None
        demo.process.terminate()
        await demo.process.wait()
