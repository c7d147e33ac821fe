"""``python -m load_tests.metrics_screenshot``: the dashboard's queries with live data, as a picture.

Starts a small stack on this machine (`gamif serve` and `gamif worker` on a PostgreSQL database of its
own and a Redis key prefix of its own, and a Prometheus scraping both every 2 s), puts load on it
(players ingesting events over HTTP while their screens watch over WebSockets), then opens Prometheus's
graph page for a few of the Grafana dashboard's queries in headless Chromium and saves the screenshot.
Grafana itself runs in the compose stack (it provisions `infrastructure/grafana/dashboards/gamif.json`);
this shows the same queries where Grafana cannot be installed. Everything it starts it stops, and it
drops its database and deletes its keys.

Needs the ``prometheus`` and ``chromium`` binaries (Debian packages of those names), a PostgreSQL server
(``--postgres``: the URL of a database to connect to while creating its own) and Redis (``--redis``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
from redis.asyncio import Redis
from websockets.asyncio.client import connect

GAMIF = str(Path(sys.executable).parent / "gamif")
ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "infrastructure" / "grafana" / "dashboards" / "gamif.json"
SHOWN = (
    "Deliveries/s (fan-out)",
    "Ingest outcomes (events/s)",
    "HTTP latency p50 / p99 by route",
    "Scoring transaction duration p99 and size p50",
    "Event → publish latency p99",
)
"""The dashboard panels whose first query is drawn (by title)."""
PASSWORD = "a password for the screenshot run"
METRICS = ("commits", "reviews_done", "prs_merged", "focus_minutes")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def queries() -> list[str]:
    """The first query of each `SHOWN` panel of the dashboard, as Grafana would run it."""
    panels = {panel["title"]: panel for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]}
    return [panels[title]["targets"][0]["expr"] for title in SHOWN]


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        started = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield started
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(started.pid, signal.SIGTERM)
            try:
                started.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(started.pid, signal.SIGKILL)
                started.wait()


def wait_http(url: str, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.2)


async def load(base: str, seconds: float, players: int) -> None:
    """Players ingesting events over HTTP, each with a screen watching their own topic."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await http.post("/api/v1/auth/login", json={"login": "root", "password": PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        key = await http.post(
            "/api/v1/service-accounts", json={"name": "shot", "scopes": ["metrics:write"]}, headers=admin
        )
        api_key = {"X-API-Key": key.json()["api_key"]}
        users = [
            {"handle": f"p{n}", "display_name": f"Player {n}", "email": f"p{n}@example.com"}
            for n in range(players)
        ]
        made = await http.post(
            "/api/v1/admin/users", json={"users": users, "issue_tokens": True}, headers=admin
        )
        made.raise_for_status()
        created = made.json()["users"]
        stop = time.monotonic() + seconds

        async def screen(user: dict[str, str]) -> None:
            async with connect(f"{base.replace('http', 'ws')}/ws", subprotocols=["gamif.v1.json"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "auth", "id": 1, "token": user["access_token"]}))
                await ws.send(json.dumps({"type": "subscribe", "id": 2, "topic": f"user:{user['id']}"}))
                await ws.send(json.dumps({"type": "subscribe", "id": 3, "topic": "leaderboard:xp:daily"}))
                while time.monotonic() < stop:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(5):
                            await ws.recv()
                    if random.random() < 0.2:
                        await ws.send(json.dumps({"type": "ping", "id": 9}))

        async def ingest() -> None:
            n = 0
            while time.monotonic() < stop:
                when = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
                events = []
                for _ in range(random.randint(1, 20)):
                    n += 1
                    events.append(
                        {
                            "id": f"shot-{n}" if random.random() > 0.05 else "shot-1",  # some duplicates
                            "user": random.choice(created)["handle"],
                            "metric": random.choice(METRICS) if random.random() > 0.03 else "no_such_metric",
                            "value": random.randint(1, 3),
                            "occurred_at": when,
                        }
                    )
                await http.post("/api/v1/metrics", json={"events": events}, headers=api_key)
                await http.get("/api/v1/leaderboards/xp/daily", headers=admin)
                await asyncio.sleep(random.uniform(0.05, 0.3))

        await asyncio.gather(*(screen(user) for user in created), ingest(), ingest())


def screenshot(prometheus: str, out: Path, chromium: str, window: str) -> None:
    params: dict[str, str] = {}
    for n, expr in enumerate(queries()):
        params |= {f"g{n}.expr": expr, f"g{n}.tab": "0", f"g{n}.range_input": "5m", f"g{n}.stacked": "0"}
    url = f"{prometheus}/graph?{urllib.parse.urlencode(params)}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gamif-shot-chromium-") as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={window}",
                "--virtual-time-budget=15000",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


async def database(postgres: str, name: str, create: bool) -> None:
    connection = await asyncpg.connect(postgres)
    try:
        if create:
            await connection.execute(f'CREATE DATABASE "{name}"')
        else:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def forget_keys(redis_url: str, prefix: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load_tests.metrics_screenshot", description=__doc__)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=150, help="how long the load runs (150)")
    parser.add_argument("--players", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "metrics-prometheus.png")
    # Tall enough for every graph: the page must not scroll (it would, to the last query's input).
    parser.add_argument("--window", default="1400,4300", help="the browser window, width,height")
    args = parser.parse_args(argv)
    for tool in ("prometheus", "chromium"):
        if shutil.which(tool) is None:
            print(f"metrics_screenshot: {tool} is not installed (Debian package {tool})", file=sys.stderr)
            return 1
    chromium = shutil.which("chromium")
    assert chromium is not None
    name = f"gamif_shot_{uuid.uuid4().hex[:12]}"
    prefix = f"gamif-shot-{uuid.uuid4().hex[:12]}:"
    database_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(database(args.postgres, name, create=True))
    work = Path(tempfile.mkdtemp(prefix="gamif-shot-"))
    hub_port, worker_port, prometheus_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "GAMIF_DATABASE_URL": database_url,
        "GAMIF_REDIS_URL": args.redis,
        "GAMIF_REDIS_PREFIX": prefix,
        "GAMIF_DATA_DIR": str(work),
        "GAMIF_JWT_SECRET": secrets.token_urlsafe(32),
        "GAMIF_WORKER_METRICS_PORT": str(worker_port),
        "GAMIF_LOG_LEVEL": "warning",
    }
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 2s, evaluation_interval: 2s}\n"
        "scrape_configs:\n"
        f"  - job_name: gamif-hub\n    static_configs: [{{targets: ['127.0.0.1:{hub_port}']}}]\n"
        f"  - job_name: gamif-worker\n    static_configs: [{{targets: ['127.0.0.1:{worker_port}']}}]\n",
        encoding="utf-8",
    )
    try:
        subprocess.run([GAMIF, "migrate"], env=env, check=True, capture_output=True, timeout=120)
        subprocess.run(
            [GAMIF, "create-admin", "--email", "root@example.com", "--handle", "root"],
            env={**env, "GAMIF_ADMIN_PASSWORD": PASSWORD},
            check=True,
            capture_output=True,
            timeout=120,
        )
        prometheus_argv = [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ]
        with (
            process([GAMIF, "serve", "--port", str(hub_port)], env, work / "serve.log"),
            process([GAMIF, "worker", "--workers", "1"], env, work / "worker.log"),
            process(prometheus_argv, env, work / "prometheus.log"),
        ):
            base = f"http://127.0.0.1:{hub_port}"
            wait_http(f"{base}/healthz", "gamif serve")
            wait_http(f"http://127.0.0.1:{worker_port}/metrics", "gamif worker's metrics")
            prometheus = f"http://127.0.0.1:{prometheus_port}"
            wait_http(f"{prometheus}/-/ready", "prometheus")
            print(f"metrics_screenshot: load for {args.seconds:.0f} s", file=sys.stderr)
            asyncio.run(load(base, args.seconds, args.players))
            time.sleep(5)  # one more scrape of the end of it
            screenshot(prometheus, args.out, chromium, args.window)
        print(f"metrics_screenshot: {args.out}", file=sys.stderr)
        return 0
    finally:
        asyncio.run(database(args.postgres, name, create=False))
        asyncio.run(forget_keys(args.redis, prefix))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
