"""The metrics port of `gamif worker`: one HTTP endpoint, in the parent process, for all the taskiq
processes it forks.

Each worker process records into prometheus-client's multi-process mode: the parent points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary directory before anything imports the client (the
client chooses its storage at import), the forked processes write their values to files there, and a
scrape of the parent's port adds them up (`MultiProcessCollector`). Counters of a process that died keep
counting in the totals; its live gauges (the connections it held) are dropped at the next scrape
(``mark_process_dead``). The directory is removed when the worker stops.

The parent also reads the scoring queue's state at each scrape (`tasks.queue_state`), so a worker's
port shows the backlog it works on. Nothing here may import prometheus-client at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from server.config import Settings

log = logging.getLogger("gamif.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID_OF_FILE = re.compile(r"_(\d+)\.db$")
_QUEUE_READ_TIMEOUT = 3.0

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class MetricsPortError(RuntimeError):
    """The worker's metrics port cannot be opened (in use, or not allowed)."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line each."""


@contextlib.contextmanager
def multiprocess_mode(settings: Settings) -> Iterator[str | None]:
    """Turn prometheus-client's multi-process mode on for this process and those it forks, in a fresh
    directory removed at the end; the directory (None when the worker serves no metrics).

    Enter it before anything imports prometheus-client: the client chooses its storage at import."""
    if not settings.metrics or settings.worker_metrics_port == 0:
        yield None
        return
    if "prometheus_client" in sys.modules and os.environ.get(MULTIPROC_ENV) is None:
        raise RuntimeError("prometheus_client was imported before the worker's multi-process mode was set up")
    directory = tempfile.mkdtemp(prefix="gamif-worker-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def serving_worker_metrics(settings: Settings, directory: str | None) -> Iterator[int | None]:
    """Serve the metrics written to ``directory`` (`multiprocess_mode`) while the block runs; the port
    (None without a directory). `MetricsPortError` if the port cannot be opened."""
    if directory is None:
        yield None
        return
    app = _metrics_app(settings, directory)
    try:
        server = make_server(
            settings.host,
            settings.worker_metrics_port,
            app,
            server_class=_Server,
            handler_class=_QuietHandler,
        )
    except OSError as error:
        raise MetricsPortError(
            f"cannot listen on {settings.host}:{settings.worker_metrics_port} for the metrics "
            f"(GAMIF_WORKER_METRICS_PORT; 0 turns it off): {error.strerror or error}"
        ) from None
    thread = threading.Thread(target=server.serve_forever, name="gamif-worker-metrics", daemon=True)
    thread.start()
    log.info("worker metrics on http://%s:%d/metrics", settings.host, server.server_port)
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def _metrics_app(
    settings: Settings, directory: str
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    from .exposition import QueueCollector, check_token

    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    queue = QueueCollector()
    registry.register(queue)
    dead: set[int] = set()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            return _problem(start_response, 404, "Not found", "the worker serves /metrics only")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _problem(start_response, 405, "Method not allowed", "GET /metrics")
        if not check_token(settings, environ.get("HTTP_AUTHORIZATION")):
            return _problem(
                start_response, 401, "Unauthorized", "send `Authorization: Bearer <GAMIF_METRICS_TOKEN>`"
            )
        _forget_dead(directory, dead, multiprocess.mark_process_dead)
        queue.state = _queue_state(settings)
        body = generate_latest(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return app


def _forget_dead(directory: str, dead: set[int], mark_dead: Callable[[int, str], None]) -> None:
    """Drop the live gauges of the worker processes that are gone (taskiq restarts one that dies)."""
    pids = set()
    for name in os.listdir(directory):
        found = _PID_OF_FILE.search(name)
        if found:
            pids.add(int(found.group(1)))
    for pid in pids - dead - {os.getpid()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_dead(pid, directory)
            dead.add(pid)
        except PermissionError:  # alive, someone else's (a reused pid): not ours to judge
            pass


def _queue_state(settings: Settings) -> Any:
    """The queue's state, read on a loop of its own (the scrape runs in the server's thread)."""
    from redis.asyncio import Redis

    from tasks.queue_state import stream_queue_state
    from tasks.scoring_queue import dead_letter_name, queue_name

    from .families import REDIS_ERRORS

    async def read() -> Any:
        assert settings.redis_url is not None
        redis = Redis.from_url(settings.redis_url, socket_timeout=_QUEUE_READ_TIMEOUT)
        try:
            async with asyncio.timeout(_QUEUE_READ_TIMEOUT):
                return await stream_queue_state(redis, queue_name(settings), dead_letter_name(settings))
        finally:
            await redis.aclose()

    try:
        return asyncio.run(read())
    except Exception as error:
        REDIS_ERRORS.labels("scrape").inc()
        log.warning("metrics: cannot read the scoring queue's state (%r)", error)
        return None


def _problem(start_response: StartResponse, status: int, title: str, detail: str) -> list[bytes]:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    headers = [("Content-Type", "application/problem+json"), ("Content-Length", str(len(body)))]
    if status == 401:
        headers.append(("WWW-Authenticate", "Bearer"))
    start_response(f"{status} {title}", headers)
    return [body]
