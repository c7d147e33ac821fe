"""The README's "Try it" is true: its commands, pasted into a shell beside a running `gamif run`, log in,
post a metric with the demo integration's API key and read the result; that key is the same at every
start (kept in the data directory); and a call without credentials is told which header to send."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import update

from persistence.db import create_engine, session_factory
from persistence.models import ServiceAccount, utcnow
from server.app import create_app
from server.auth import passwords
from server.cli.demo_key import DEMO_KEY_FILE
from server.cli.serve_commands import seed_demo
from server.config import Settings
from server.services.scoring.demo_pulse import DEMO_INTEGRATION
from tests.hub.cluster import STARTED, GamifProcess
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"gmf_[a-z0-9]{8}_[A-Za-z0-9]+")


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo registers nine people: argon2's production cost would take seconds.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):  # the outer environment's GAMIF_* must not leak in
        if name.upper().startswith("GAMIF_") and not name.upper().startswith("GAMIF_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path, clean_env: None) -> Settings:
    return Settings(data_dir=tmp_path / "data", demo_pulse_seconds=0)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings, demo=True)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def printed_key(summary: str) -> str:
    found = KEY.findall(summary)
    assert len(found) == 1, summary
    return found[0]


async def post_metric(http: httpx.AsyncClient, key: str, event_id: str) -> httpx.Response:
    event = {"id": event_id, "user": "ana", "metric": "reviews_done", "value": 1}
    event["occurred_at"] = utcnow().isoformat()
    return await http.post("/api/v1/metrics", json={"events": [event]}, headers={"X-API-Key": key})


async def test_the_demo_key_is_the_same_at_every_start_and_kept_for_its_owner_only(
    settings: Settings,
) -> None:
    first = printed_key(await seed_demo(settings))
    kept = settings.data_dir / DEMO_KEY_FILE
    assert kept.read_text().strip() == first
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # a credential
    second = printed_key(await seed_demo(settings))
    assert second == first
    async with serving(settings) as http:
        answer = await post_metric(http, first, "stable-1")
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 1


@pytest.mark.parametrize("spoil", ["deleted", "garbage", "revoked"])
async def test_a_missing_foreign_or_revoked_demo_key_is_replaced_and_the_old_one_retired(
    settings: Settings, spoil: str
) -> None:
    old = printed_key(await seed_demo(settings))
    kept = settings.data_dir / DEMO_KEY_FILE
    if spoil == "deleted":
        kept.unlink()
    elif spoil == "garbage":
        kept.write_text("gmf_notakey_at-all\n")
    else:
        engine = create_engine(settings.effective_database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                await session.execute(
                    update(ServiceAccount)
                    .where(ServiceAccount.name == DEMO_INTEGRATION)
                    .values(revoked_at=utcnow())
                )
        finally:
            await engine.dispose()
    new = printed_key(await seed_demo(settings))
    assert new != old
    assert kept.read_text().strip() == new
    async with serving(settings) as http:
        refused = await post_metric(http, old, "old-1")
        assert refused.status_code == 401, refused.text
        assert refused.json()["detail"] == "this API key was revoked"
        accepted = await post_metric(http, new, "new-1")
        assert accepted.status_code == 202, accepted.text


async def test_a_call_without_credentials_names_the_headers_it_takes(settings: Settings) -> None:
    await seed_demo(settings)
    async with serving(settings) as http:
        metrics = await http.post("/api/v1/metrics", json={"events": []})
        assert metrics.status_code == 401
        detail = metrics.json()["detail"]
        assert "X-API-Key" in detail, detail
        assert "Authorization: Bearer" in detail, detail
        # An endpoint for people only names the bearer token (an API key is refused there).
        me = await http.get("/api/v1/me")
        assert me.status_code == 401
        assert "Authorization: Bearer" in me.json()["detail"]
        assert "X-API-Key" not in me.json()["detail"]


def try_it_commands() -> str:
    """The README's "Try it" block, as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Try it", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```\n(.*?)```", section, re.DOTALL)
    assert match is not None, "no command block under 'Try it'"
    return match.group(1)


async def test_the_readme_try_it_commands_work_against_gamif_run(tmp_path: Path, clean_env: None) -> None:
    """`gamif run` in a fresh directory (its default data directory `gamif-data`), then the README's
    commands in bash in that directory, only the port changed. Each curl must get a 2xx (-f)."""
    port = free_port()
    run = GamifProcess({"GAMIF_PORT": str(port), "GAMIF_DEMO_PULSE_SECONDS": "0"})
    await run.spawn(["run"], STARTED, "gamif run", cwd=tmp_path)
    try:
        commands = try_it_commands().replace("localhost:8000", f"localhost:{port}")
        commands = commands.replace("curl -s ", "curl -sf ")
        # Each command's output on a line of its own, to read them back.
        script = "set -euo pipefail\n" + commands.replace("\ncurl", "\necho\ncurl") + "\necho\n"
        shell = await asyncio.create_subprocess_exec(
            "bash", "-c", script, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(shell.communicate(), 60)
        assert shell.returncode == 0, (out.decode(), err.decode())
        answers = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        posted, me, ledger = answers
        assert posted["accepted"] == 1, posted
        assert me["user"]["handle"] == "ana"
        assert ledger["items"], ledger
        # The key it used is the one `gamif run` printed.
        assert (tmp_path / "gamif-data" / DEMO_KEY_FILE).read_text().strip() == printed_key(
            "".join(run.output)
        )
    finally:
        assert run.process is not None
        run.process.terminate()
        await run.process.wait()
