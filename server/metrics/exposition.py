"""``GET /metrics`` on a serving process (`gamif serve`, `gamif run`) and the HTTP middleware that times
every request by its route template.

The endpoint answers in Prometheus's text format: the families recorded in this process
(`server.metrics.families`, the HTTP latencies, the process's CPU and memory from prometheus-client's
default collectors) and those read when it is scraped: the hub's counters (`server.metrics.hub`) and
the scoring queue's depth and oldest batch (`tasks.queue_state`). With ``GAMIF_METRICS_TOKEN`` set, a
scrape must send it as a bearer token (401 otherwise); with ``GAMIF_METRICS=0`` the endpoint answers
404 and no request is timed.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.api.problems import not_found, unauthorized
from server.config import Settings
from tasks.queue_state import QueueState, embedded_queue_state, stream_queue_state
from tasks.scoring_queue import dead_letter_name, queue_name

from .families import REDIS_ERRORS
from .hub import HubCollector

log = logging.getLogger("gamif.metrics")

HTTP_REQUEST_DURATION = Histogram(
    "gamif_http_request_duration_seconds",
    "HTTP requests by method, route template (`/api/v1/challenges/{id}`, not the path asked) and status, "
    "with the time from the request's start to its response's end.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED = "(unmatched)"
"""The route label of a request no route took (a 404): the path asked would be an unbounded label."""


class HttpMetrics:
    """ASGI middleware: every HTTP request into `HTTP_REQUEST_DURATION`, labelled with the template of the
    route that answered it (Starlette's router leaves it in the scope)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers for an exception that escapes

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            label = _UNMATCHED if template is None else (template or "/")
            HTTP_REQUEST_DURATION.labels(method, label, str(status)).observe(time.perf_counter() - started)


class QueueCollector(Collector):
    """The scoring queue's state, read (asynchronously) just before a scrape collects it."""

    def __init__(self) -> None:
        self.state: QueueState | None = None

    def collect(self) -> Iterator[Metric]:
        yield from queue_families(self.state)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def queue_families(state: QueueState | None) -> Iterator[Metric]:
    """The queue's gauges (none when its state could not be read: absent rather than wrong)."""
    if state is None:
        return
    batches = GaugeMetricFamily(
        "gamif_queue_batches",
        "Ingested batches in the scoring queue: waiting for a worker, or taken by one and not yet "
        "acknowledged (being scored).",
        labels=["state"],
    )
    batches.add_metric(["waiting"], state.waiting)
    batches.add_metric(["being_scored"], state.being_scored)
    yield batches
    yield GaugeMetricFamily(
        "gamif_queue_oldest_batch_age_seconds",
        "Age of the oldest batch of the scoring queue that is not scored yet (0 when there is none).",
        value=state.oldest_age_seconds,
    )
    yield GaugeMetricFamily(
        "gamif_queue_dead_letters",
        "Batches that could not be scored, kept as dead letters (`gamif queue list`).",
        value=state.dead_letters,
    )


class AppMetrics:
    """A serving app's own collectors (the global registry holds the families recorded in-process)."""

    def __init__(self, app: Starlette) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.queue = QueueCollector()
        self.registry.register(HubCollector(lambda: getattr(app.state, "hub", None)))
        self.registry.register(self.queue)

    async def refresh(self, app: Starlette) -> None:
        """Read what a scrape shows of the stores (the queue), before it is collected."""
        settings: Settings = app.state.settings
        services: Any = getattr(app.state, "services", None)
        queue: Any = getattr(app.state, "queue", None)
        self.queue.state = None
        try:
            if services is not None and services.redis is not None:
                self.queue.state = await stream_queue_state(
                    services.redis, queue_name(settings), dead_letter_name(settings)
                )
            elif queue is not None and queue.store is not None:
                self.queue.state = await embedded_queue_state(queue.store)
        except Exception as error:  # a store is down: the scrape still answers, without the queue
            if services is not None and services.redis is not None:
                REDIS_ERRORS.labels("scrape").inc()
            log.warning("metrics: cannot read the scoring queue's state (%r)", error)

    def render(self) -> bytes:
        return generate_latest(REGISTRY) + generate_latest(self.registry)


def check_token(settings: Settings, authorization: str | None) -> bool:
    """Whether a scrape may read the metrics: no token configured, or the right one sent."""
    if settings.metrics_token is None:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.metrics_token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)


async def metrics_endpoint(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not settings.metrics:
        raise not_found("the metrics endpoint (GAMIF_METRICS is off)")
    authorization = request.headers.get("authorization")
    if not check_token(settings, authorization):
        reason = "missing_token" if authorization is None else "invalid_token"
        raise unauthorized("send `Authorization: Bearer <GAMIF_METRICS_TOKEN>`", reason)
    metrics: AppMetrics = request.app.state.metrics
    await metrics.refresh(request.app)
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
