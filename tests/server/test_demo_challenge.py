"""The demo organisation's live challenge (`seed_demo`) and the demo pulse
(`server.services.scoring.demo_pulse`): seeded once, live, its scoreboard starting from the history; in demo
mode the serving process ingests sample events that move it, and with the pulse off (or outside demo mode)
nothing is ingested."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from starlette.applications import Starlette

from persistence.models import Challenge, ChallengeScore, MetricEventRow, Team
from protocol.client import Client
from server.app import create_app
from server.auth import passwords
from server.cli.serve_commands import DEMO_CHALLENGE, DEMO_PASSWORD, DEMO_TEAMS, seed_demo
from server.config import Settings
from tests.hub.cluster import STARTED, GamifProcess
from tests.polling import until
from tests.services import free_port

TOPIC = f"challenge:{DEMO_CHALLENGE}"
KEY = re.compile(r"gmf_[a-z0-9]{8}_[A-Za-z0-9]+")


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo registers nine people: argon2's production cost would take seconds.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@asynccontextmanager
async def serving(settings: Settings, *, demo: bool) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    application = create_app(settings, demo=demo)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


async def team_scores(app: Starlette) -> dict[str, float]:
    async with app.state.services.sessions() as session:
        rows = await session.execute(
            select(Team.slug, func.sum(ChallengeScore.total))
            .join(Team, Team.id == ChallengeScore.team_id)
            .where(ChallengeScore.challenge_id == DEMO_CHALLENGE)
            .group_by(Team.slug)
        )
        return {slug: float(total) for slug, total in rows}


async def count(app: Starlette, model: Any) -> int:
    async with app.state.services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.settings(demo_pulse_seconds=0)
async def test_the_demo_has_a_live_challenge_scored_from_its_history(app_settings):
    await seed_demo(app_settings)
    async with serving(app_settings, demo=True) as (app, http):
        login = await http.post("/api/v1/auth/login", json={"login": "admin", "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        read = await http.get(f"/api/v1/challenges/{DEMO_CHALLENGE}", headers=auth)
        assert read.status_code == 200, read.text
        challenge = read.json()
        assert challenge["state"] == "live"
        assert challenge["started_at"] is not None
        assert set(challenge["definition"]["teams"]) == set(DEMO_TEAMS)
        assert set(challenge["definition"]["metrics"]) == {"reviews_done", "prs_merged"}
        scores = await team_scores(app)
        assert len([score for score in scores.values() if score > 0]) >= 2, scores

    # A second start seeds nothing again: one challenge, the same scores.
    await seed_demo(app_settings)
    async with serving(app_settings, demo=True) as (app, _):
        assert await count(app, Challenge) == 1
        assert await team_scores(app) == scores


@pytest.mark.settings(demo_pulse_seconds=0.2)
async def test_the_pulse_moves_the_challenge_through_the_ingest_path(app_settings):
    await seed_demo(app_settings)
    async with serving(app_settings, demo=True) as (app, _):
        before = sum((await team_scores(app)).values())
        events = await count(app, MetricEventRow)

        async def moved() -> bool:
            return sum((await team_scores(app)).values()) > before

        await until(moved, "a pulse scored")
        assert app.state.demo_pulse.sent >= 1
        assert await count(app, MetricEventRow) > events
        async with app.state.services.sessions() as session:
            reporters = set(await session.scalars(select(MetricEventRow.source).distinct()))
        assert "integration" in reporters


@pytest.mark.parametrize(("pulse", "demo"), [(0, True), (0.05, False)])
async def test_without_the_pulse_nothing_is_ingested(app_settings, pulse, demo):
    settings = app_settings.model_copy(update={"demo_pulse_seconds": pulse})
    await seed_demo(settings)
    async with serving(settings, demo=demo) as (app, _):
        assert app.state.demo_pulse is None
        events = await count(app, MetricEventRow)
        await asyncio.sleep(0.3)  # several would-be pulses: none comes
        await app.state.queue.drain()
        assert await count(app, MetricEventRow) == events


async def test_gamif_run_pushes_the_pulse_to_the_challenge_scoreboard(tmp_path):
    port = free_port()
    demo = GamifProcess({"GAMIF_DATA_DIR": str(tmp_path / "data"), "GAMIF_DEMO_PULSE_SECONDS": "0.2"})
    await demo.spawn(["run", "--port", str(port)], STARTED, "gamif run")
    try:
        assert KEY.search("".join(demo.output))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            login = await http.post("/api/v1/auth/login", json={"login": "ana", "password": DEMO_PASSWORD})
            token = str(login.json()["access_token"])

        async def tokens() -> str:
            return token

        def total(document: dict[str, Any]) -> float:
            return sum(float(team["score"] or 0) for team in document["teams"].values())

        async with Client(f"ws://127.0.0.1:{port}/ws", tokens) as client:
            mirror = await client.subscribe(TOPIC, timeout=30)
            assert mirror.document["state"] == "live"
            before = total(mirror.document)
            assert before > 0  # the history's contributions
            updates = client.updates()
            async with asyncio.timeout(30):
                async for update in updates:
                    if update.kind == "delta" and total(mirror.document) > before:
                        break
    finally:
        assert demo.process is not None
        demo.process.terminate()
        await demo.process.wait()
