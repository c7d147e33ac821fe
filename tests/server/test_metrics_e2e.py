"""Prometheus metrics for real: a `gamif serve` hub and a `gamif worker` on PostgreSQL and Redis, events
ingested over HTTP while a socket client watches, both endpoints scraped with a real HTTP client and
parsed with prometheus-client's parser; the counters must move by exactly what was done. Also: the
token, the off-switch (404, and the worker's port closed), the embedded `gamif run`, and the
dashboard and Prometheus config naming only metrics that a real scrape has."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from protocol import Batch, Delta
from tests import services
from tests.hub.cluster import GAMIF, HubProcess, Raw, Worker, admin_token, hub_env, register
from tests.polling import until
from tests.services import free_port

pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "infrastructure" / "grafana" / "dashboards" / "gamif.json"
PROMETHEUS_CONFIG = ROOT / "infrastructure" / "prometheus" / "prometheus.yml"
MSGPACK = "gamif.v1.msgpack"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str, token: str | None = None) -> Samples:
    """Every sample of a scrape, by (name, labels); the scrape must be Prometheus's text format."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when the scrape does not have it: a labelled counter not yet counted)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a name's samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


@dataclass
class Stack:
    hub: HubProcess
    worker: Worker
    worker_metrics: str
    env: dict[str, str]


@contextlib.asynccontextmanager
async def stack(url: str, prefix: str, redis_url: str, data_dir: Path, **extra: str) -> AsyncIterator[Stack]:
    """A hub and a worker (with its metrics port) on one database and Redis prefix."""
    env = hub_env(url, redis_url, prefix, data_dir)
    port = free_port()
    env |= {"GAMIF_WORKER_METRICS_PORT": str(port), "GAMIF_HUB_AUTH_TIMEOUT_MS": "2000", **extra}
    hub, worker = HubProcess("metrics", env), Worker(env)
    try:
        await asyncio.gather(hub.start(), worker.start())
        yield Stack(hub, worker, f"http://127.0.0.1:{port}/metrics", env)
    finally:
        await asyncio.gather(hub.stop(), worker.kill(signal.SIGTERM))
        print("--- hub output ---\n" + "".join(hub.output))
        print("--- worker output ---\n" + "".join(worker.output))


@contextlib.asynccontextmanager
async def database_and_prefix(
    postgres_databases: services.PostgresDatabases, template: str, redis_server: str
) -> AsyncIterator[tuple[str, str]]:
    url = await postgres_databases.create(template=template)
    prefix = f"gamif-test:{uuid.uuid4().hex}:"
    try:
        yield url, prefix
    finally:
        await postgres_databases.drop(url)
        client = Redis.from_url(redis_server)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def own_database(
    postgres_databases: services.PostgresDatabases, _migrated_postgres_template: str, redis_server: str
) -> AsyncIterator[tuple[str, str]]:
    """A migrated database and a Redis key prefix of the test's own: (database URL, prefix)."""
    async with database_and_prefix(postgres_databases, _migrated_postgres_template, redis_server) as pair:
        yield pair


@dataclass
class Flow:
    """What the events' flow did, and the scrapes before and after it."""

    hub_before: Samples
    hub_during: Samples
    """Scraped while the socket client was connected and subscribed."""
    hub_after: Samples
    worker_before: Samples
    worker_after: Samples
    statuses: Counter[tuple[str, str]]
    """(status, code) of every event the two ingest requests answered."""
    accepted: int
    deltas_seen: int
    """Deltas the socket client received."""
    bad_auth_close: int | None
    ingest_requests: int


@pytest.fixture(scope="module")
async def flow(
    postgres_databases: services.PostgresDatabases,
    _migrated_postgres_template: str,
    redis_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Flow]:
    async with (
        database_and_prefix(postgres_databases, _migrated_postgres_template, redis_server) as (url, prefix),
        stack(url, prefix, redis_server, tmp_path_factory.mktemp("metrics")) as s,
    ):
        yield await _run_flow(s)


async def _run_flow(s: Stack) -> Flow:
    hub_metrics = f"{s.hub.http}/metrics"
    admin = await admin_token(s.hub.http, s.env)
    mia = await register(s.hub.http, "mia")
    async with httpx.AsyncClient(base_url=s.hub.http, timeout=30) as http:
        created = await http.post(
            "/api/v1/service-accounts",
            json={"name": "ci", "scopes": ["metrics:write"]},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert created.status_code == 201, created.text
        key = {"X-API-Key": created.json()["api_key"]}
        hub_before, worker_before = await scrape(hub_metrics), await scrape(s.worker_metrics)
        deltas_seen = 0
        async with Raw.open(s.hub.ws) as raw:
            await raw.login(mia.access_token)
            await raw.subscribe(f"user:{mia.user_id}")
            hub_during = await scrape(hub_metrics)

            async def read_deltas() -> None:
                nonlocal deltas_seen
                while True:
                    message = await raw.recv(timeout=60)
                    if isinstance(message, Batch):
                        deltas_seen += len(message.deltas)
                    elif isinstance(message, Delta):
                        deltas_seen += 1

            reader = asyncio.create_task(read_deltas())
            when = datetime.now(UTC) - timedelta(hours=1)
            events = [
                {
                    "id": f"m{i}",
                    "user": "mia",
                    "metric": "commits",
                    "value": 1,
                    "occurred_at": when.isoformat(),
                }
                for i in range(5)
            ]
            events += [
                dict(events[0]),  # the same id twice in one request: a duplicate
                {**events[0], "id": "m-unknown", "metric": "no_such_metric"},
                {**events[0], "id": "m-future", "occurred_at": (when + timedelta(days=2)).isoformat()},
            ]
            first = await http.post("/api/v1/metrics", json={"events": events}, headers=key)
            assert first.status_code == 202, first.text
            accepted = first.json()["accepted"]

            async def scored() -> bool:
                worker = await scrape(s.worker_metrics)
                moved = total(worker, "gamif_scoring_batch_events_sum") - total(
                    worker_before, "gamif_scoring_batch_events_sum"
                )
                return moved >= accepted and deltas_seen > 0

            await until(scored, "the worker scored the batch and the socket saw its deltas", timeout=60)
            # Sent again once scored: duplicates (already scored), not queued.
            again = await http.post("/api/v1/metrics", json={"events": events[:2]}, headers=key)
            assert again.status_code == 202, again.text
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        statuses = Counter(
            (e["status"], e.get("code") or "") for r in (first, again) for e in r.json()["events"]
        )
        # A socket whose token is refused: an auth failure, closed by the server.
        async with Raw.open(s.hub.ws) as bad:
            await bad.send({"type": "auth", "id": 1, "token": "not-a-token"})
            code, _ = await bad.closed()

        async def idle() -> bool:
            hub = await scrape(hub_metrics)
            return (
                value(hub, "gamif_hub_sessions", encoding=MSGPACK) == 0
                and total(hub, "gamif_hub_send_buffer_peak_bytes_count")
                - total(hub_before, "gamif_hub_send_buffer_peak_bytes_count")
                >= 2
            )

        await until(idle, "both sessions ended", timeout=30)

        async def queue_empty() -> bool:
            worker = await scrape(s.worker_metrics)
            return total(worker, "gamif_queue_batches") == 0

        await until(queue_empty, "the queue drained", timeout=30)
        return Flow(
            hub_before=hub_before,
            hub_during=hub_during,
            hub_after=await scrape(hub_metrics),
            worker_before=worker_before,
            worker_after=await scrape(s.worker_metrics),
            statuses=statuses,
            accepted=accepted,
            deltas_seen=deltas_seen,
            bad_auth_close=code,
            ingest_requests=2,
        )


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


async def test_ingest_outcomes_are_counted_exactly_by_status_and_code(flow: Flow):
    assert flow.statuses == {
        ("accepted", ""): 5,
        ("duplicate", "duplicate_in_batch"): 1,
        ("rejected", "unknown_metric"): 1,
        ("rejected", "in_the_future"): 1,
        ("duplicate", "already_scored"): 2,
    }
    for (status, code), count in flow.statuses.items():
        counted = moved(
            flow.hub_before, flow.hub_after, "gamif_ingest_events_total", status=status, code=code
        )
        assert counted == count, (status, code)
    assert moved(flow.hub_before, flow.hub_after, "gamif_ingest_events_total") == sum(flow.statuses.values())


async def test_http_requests_are_counted_by_route_template_and_status(flow: Flow):
    name = "gamif_http_request_duration_seconds_count"
    assert moved(flow.hub_before, flow.hub_after, name, route="/api/v1/metrics", status="202") == 2
    # The route's template, never the path asked: /api/v1/me is one route whoever asks.
    routes = {dict(labels)["route"] for n, labels in flow.hub_after if n == name}
    assert "/api/v1/auth/login" in routes
    assert not any(uuid_like in route for route in routes for uuid_like in ("mia", "root"))
    bucket = "gamif_http_request_duration_seconds_bucket"
    assert moved(flow.hub_before, flow.hub_after, bucket, route="/api/v1/metrics", le="+Inf") == 2


async def test_the_worker_reports_its_batches_and_the_publish_latency(flow: Flow):
    before, after = flow.worker_before, flow.worker_after
    assert flow.accepted == 5
    # The five accepted events were scored once, in however many transactions.
    assert moved(before, after, "gamif_scoring_batch_events_sum") == 5
    transactions = moved(before, after, "gamif_scoring_batch_events_count")
    assert transactions >= 1
    assert moved(before, after, "gamif_scoring_batch_duration_seconds_count") == transactions
    # One ingested batch, whose live changes were published once.
    assert moved(before, after, "gamif_event_publish_latency_seconds_count") == 1
    assert moved(before, after, "gamif_event_publish_latency_seconds_sum") > 0
    assert value(after, "gamif_queue_batches", state="waiting") == 0
    assert value(after, "gamif_queue_batches", state="being_scored") == 0
    assert value(after, "gamif_queue_oldest_batch_age_seconds") == 0
    assert ("gamif_db_pool_connections_in_use", frozenset()) in after
    # The serving hub scored nothing itself (on Redis, the workers do).
    assert moved(flow.hub_before, flow.hub_after, "gamif_scoring_batch_events_count") == 0


async def test_the_hub_counts_sessions_deliveries_and_failed_auth(flow: Flow):
    before, during, after = flow.hub_before, flow.hub_during, flow.hub_after
    assert value(during, "gamif_hub_sessions", encoding=MSGPACK) == 1
    assert value(during, "gamif_hub_sessions", encoding="gamif.v1.json") == 0
    assert value(during, "gamif_hub_subscriptions") == 1
    assert value(after, "gamif_hub_subscriptions") == 0
    assert flow.deltas_seen >= 1
    assert moved(before, after, "gamif_hub_deliveries_total") >= flow.deltas_seen
    assert moved(before, after, "gamif_hub_frames_sent_total") >= 1
    assert moved(before, after, "gamif_hub_sent_bytes_total") > 0
    assert moved(before, after, "gamif_hub_auth_failures_total") == 1
    assert flow.bad_auth_close is not None
    assert moved(before, after, "gamif_hub_closes_total", by="server", code=str(flow.bad_auth_close)) == 1
    # Two sessions ended: each adds its send buffer's high-water mark.
    assert moved(before, after, "gamif_hub_send_buffer_peak_bytes_count") == 2
    assert value(after, "gamif_hub_slow_consumer_closes_total") == 0


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", ())]


async def test_the_dashboard_and_the_scrape_config_name_only_metrics_that_exist(flow: Flow):
    scraped = names(flow.hub_after) | names(flow.worker_after)
    used = {name for expr in dashboard_exprs() for name in re.findall(r"\bgamif_[a-z_]+\b", expr)}
    assert used, "the dashboard queries no gamif metric"
    assert used <= scraped, f"the dashboard queries metrics no scrape has: {sorted(used - scraped)}"
    jobs = {job for expr in dashboard_exprs() for job in re.findall(r'job="([^"]+)"', expr)}
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    configured = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs <= set(configured), (
        f"the dashboard names jobs Prometheus does not scrape: {jobs - set(configured)}"
    )
    assert configured["gamif-hub"]["metrics_path"] == "/metrics"
    assert configured["gamif-worker"]["metrics_path"] == "/metrics"
    hubs = {t for group in configured["gamif-hub"]["static_configs"] for t in group["targets"]}
    workers = {t for group in configured["gamif-worker"]["static_configs"] for t in group["targets"]}
    assert hubs == {"hub1:8000", "hub2:8000"}
    assert workers == {"worker1:9101", "worker2:9101"}


def test_the_dashboard_is_a_provisionable_grafana_dashboard():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"]
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    assert len(panels) >= 12
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["type"] in {"timeseries", "stat", "gauge", "bargauge", "table"}, panel["type"]
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid)
        assert 0 < grid["w"] <= 24
        assert grid["x"] + grid["w"] <= 24
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip()
            assert target["refId"]
    provisioning = ROOT / "infrastructure" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
    [source] = sources["datasources"]
    assert source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "gamif.yml").read_text(encoding="utf-8"))
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


async def test_a_token_guards_both_metrics_endpoints(
    own_database: tuple[str, str], redis_server: str, tmp_path: Path
):
    token = "a-scrape-token-" + uuid.uuid4().hex
    async with (
        stack(*own_database, redis_server, tmp_path, GAMIF_METRICS_TOKEN=token) as s,
        httpx.AsyncClient(timeout=10) as http,
    ):
        for endpoint in (f"{s.hub.http}/metrics", s.worker_metrics):
            missing = await http.get(endpoint)
            assert missing.status_code == 401, endpoint
            assert missing.headers["content-type"] == "application/problem+json"
            wrong = await http.get(endpoint, headers={"Authorization": f"Bearer {token}x"})
            assert wrong.status_code == 401, endpoint
            assert "gamif_" not in wrong.text
            right = await scrape(endpoint, token)
            assert any(name.startswith("gamif_") for name in names(right)), endpoint


def port_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def test_metrics_off_answers_404_and_the_worker_opens_no_port(
    own_database: tuple[str, str], redis_server: str, tmp_path: Path
):
    async with (
        stack(*own_database, redis_server, tmp_path, GAMIF_METRICS="0") as s,
        httpx.AsyncClient(timeout=10) as http,
    ):
        off = await http.get(f"{s.hub.http}/metrics")
        assert off.status_code == 404
        assert off.headers["content-type"] == "application/problem+json"
        assert (await http.get(f"{s.hub.http}/healthz")).status_code == 200  # the server itself serves
        port = int(s.worker_metrics.split(":")[2].split("/")[0])
        assert port_closed(port)
        assert not any("worker metrics on" in line for line in s.worker.output)


async def test_the_embedded_gamif_run_serves_metrics(tmp_path: Path):
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}", None, "", tmp_path)
    env["GAMIF_DEMO_PULSE_SECONDS"] = "0.2"  # the demo pulse ingests and scores in this process
    run = HubProcess("run", env)
    await run.spawn(["run", "--port", str(run.port)], "Uvicorn running on", "gamif run")
    try:
        endpoint = f"{run.http}/metrics"

        async def pulsed() -> bool:
            samples = await scrape(endpoint)
            return (
                value(samples, "gamif_ingest_events_total", status="accepted", code="") > 0
                and total(samples, "gamif_scoring_batch_events_count") > 0
            )

        await until(pulsed, "the demo pulse's events ingested and scored in the serving process", timeout=60)
        samples = await scrape(endpoint)
        assert value(samples, "gamif_hub_sessions", encoding=MSGPACK) == 0
        assert ("gamif_queue_dead_letters", frozenset()) in samples  # the embedded queue (a table)
        assert ("gamif_db_pool_connections_in_use", frozenset()) in samples
        assert ("process_cpu_seconds_total", frozenset()) in samples
    finally:
        await run.stop()


async def test_a_worker_whose_metrics_port_is_taken_says_so_and_exits(
    own_database: tuple[str, str], redis_server: str, tmp_path: Path
):
    env = hub_env(*own_database[:1], redis_server, own_database[1], tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["GAMIF_WORKER_METRICS_PORT"] = str(taken.getsockname()[1])
        process = await asyncio.create_subprocess_exec(
            GAMIF, "worker", env={**os.environ, **env}, stderr=asyncio.subprocess.PIPE
        )
        async with asyncio.timeout(60):
            _, error = await process.communicate()
    assert process.returncode == 1
    assert error.decode().strip().splitlines()[-1].startswith("gamif worker: cannot listen on 127.0.0.1:")
    assert not list(Path(tempfile.gettempdir()).glob(f"gamif-worker-metrics-*/*_{process.pid}.db"))
