"""The Starlette application: the HTTP API and the WebSocket hub (``/ws``) over the services."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route, WebSocketRoute

from persistence import migrate
from persistence.backups.sqlite import serving_lock
from persistence.db import create_engine, is_sqlite, session_factory
from persistence.scoring import Scorer
from server.hub.endpoint import hub_endpoint
from server.hub.link import ExposeServerSend
from server.hub.wiring import open_hub
from server.hub_handlers import AppHubHandlers
from server.hub_wiring import open_live
from server.metrics.exposition import AppMetrics, HttpMetrics, metrics_endpoint
from server.metrics.families import watch_pool
from server.services.challenges.lifecycle import ChallengeLifecycle, RedisWakePublisher, running_clock
from server.services.challenges.service import ChallengesService
from server.services.people.accounts import Accounts
from server.services.people.admin_users import AdminUsers
from server.services.people.announcements import AnnouncementsService
from server.services.people.login_throttle import RedisThrottleStore
from server.services.people.notifications import NotificationsService
from server.services.people.profiles import ProfilesService
from server.services.people.teams import TeamsService
from server.services.scoring.demo_pulse import running_pulse
from server.services.scoring.ingest import IngestService
from server.services.scoring.rules import RulesService
from server.services.topics.hub_access import HubAccess
from tasks.scoring_queue import open_queue
from tasks.scoring_step import ScoringStep

from . import __version__
from .api import docs, openapi
from .api.body_deadline import BodyDeadline
from .api.endpoints import AuthKind, Principal
from .api.problems import exception_handlers, forbidden, unauthorized
from .api.registry import PREFIX, api, root
from .api.routes import __all__ as _registered  # noqa: F401  (importing the routes registers them)
from .api.services import Services, running
from .config import Settings
from .web_client import client_routes

log = logging.getLogger("gamif")


class SchemaOutOfDate(RuntimeError):
    pass


def create_app(settings: Settings, *, demo: bool = False) -> Starlette:
    """``demo``: `gamif run` / `gamif demo`, whose serving process also runs the demo pulse."""
    database_url = settings.effective_database_url

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with contextlib.ExitStack() as held:
            if is_sqlite(database_url):
                # Embedded: `gamif restore` refuses to replace the database while this process serves it.
                held.enter_context(serving_lock(database_url))
            async with _serving(app):
                yield

    @contextlib.asynccontextmanager
    async def _serving(app: Starlette) -> AsyncIterator[None]:
        await prepare_schema(database_url)
        engine = create_engine(database_url)
        if settings.metrics:
            watch_pool(engine)
        sessions = session_factory(engine)
        accounts = Accounts(sessions, settings)
        admin_users = AdminUsers(sessions, settings, accounts.key)
        rules = RulesService(sessions, settings.rules_file, recheck_seconds=settings.rules_recheck_ms / 1000)
        profiles = ProfilesService(sessions)
        teams = TeamsService(sessions, rules)
        challenges = ChallengesService(sessions, rules)
        notifications = NotificationsService(sessions)
        scorer = app.state.scorer = Scorer(sessions)  # on the state for tests that score by hand
        try:
            await rules.bootstrap()
            async with open_live(settings, sessions, rules) as live:
                boards = live.boards or live.embedded_boards  # on Redis, or embedded
                step = ScoringStep(scorer, rules, live.relay, boards, live.challenges)
                async with open_queue(settings, step, sessions) as queue:
                    teams.relay = live.relay
                    if live.redis is not None:  # login throttling shared by every node
                        accounts.throttle.store = RedisThrottleStore(live.redis, settings.redis_prefix)
                    ingest = IngestService(sessions, rules, settings, queue)
                    handlers = AppHubHandlers(
                        access=HubAccess(sessions, settings, accounts.key),
                        directory=live.directory,
                        notifications=notifications,
                        ingest=ingest,
                    )
                    async with open_hub(settings, live.backend, handlers) as hub:
                        services = Services(
                            sessions=sessions,
                            accounts=accounts,
                            admin_users=admin_users,
                            rules=rules,
                            profiles=profiles,
                            teams=teams,
                            challenges=challenges,
                            notifications=notifications,
                            ingest=ingest,
                            announcements=AnnouncementsService(sessions, live.publisher),
                            redis=live.redis,
                            live=live,
                            hub=hub,
                        )
                        app.state.services = services  # what the HTTP handlers reach (`server.api.services`)
                        app.state.queue = queue  # for tests that wait until what they queued is scored
                        app.state.hub = hub  # the WebSocket endpoint's (`server.hub.endpoint`)
                        pulse_seconds = settings.demo_pulse_seconds if demo else 0
                        async with (
                            _challenge_clock(settings, services) as wake,
                            running_pulse(ingest, sessions, pulse_seconds) as app.state.demo_pulse,
                        ):
                            challenges.wake = wake
                            try:
                                yield
                            finally:
                                app.state.hub = services.hub = None
                                challenges.wake = None
        finally:
            await engine.dispose()

    description = "Gamification backend: metrics in; explained XP, levels and badges out."
    document = openapi.document([root, api], "gamif", __version__, description)

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(document)

    async def docs_page(request: Request) -> HTMLResponse:
        return HTMLResponse(docs.render(document))

    routes = [
        *root.routes(),
        *api.routes(),
        Route(f"{PREFIX}/openapi.json", openapi_json, methods=["GET"]),
        Route(f"{PREFIX}/docs", docs_page, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        WebSocketRoute("/ws", hub_endpoint),
        *client_routes(settings.effective_client_dir, settings.effective_public_url),
    ]
    middleware = [
        Middleware(BodyDeadline, seconds=settings.body_read_timeout_seconds),
        Middleware(ExposeServerSend),  # the hub's broadcast fast path (server/hub/link.py)
    ]
    if settings.metrics:
        middleware.insert(0, Middleware(HttpMetrics))  # outermost: it times what the others add
    if settings.cors_origins:
        # The web client's dev server (`npm run dev`) on another origin (tokens go in headers: no cookies).
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["authorization", "content-type", "x-api-key"],
                max_age=600,
            ),
        )
    app = Starlette(
        routes=routes,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
        middleware=middleware,
    )
    app.state.settings = settings
    app.state.draining = False  # until a SIGTERM starts the drain (`mark_draining`): /readyz reads it
    app.state.metrics = AppMetrics(app)
    app.state.authenticate = _authenticate
    app.state.openapi = document
    return app


def mark_draining(app: Starlette) -> None:
    """The node is draining (SIGTERM, before its shutdown): `/readyz` answers 503 from now on, so that a
    load balancer sends it no new sessions, while those it has go on. Called from a signal handler: it
    only sets a flag."""
    app.state.draining = True


@contextlib.asynccontextmanager
async def _challenge_clock(settings: Settings, services: Services) -> AsyncIterator[Callable[[], None]]:
    """The challenges' wake callback. Embedded, this process runs the lifecycle clock; on Redis the
    workers run it, and a create or an edit wakes them through the wake channel."""
    if services.redis is None:
        lifecycle = ChallengeLifecycle(
            services.sessions,
            services.rules,
            services.live.challenges,
            relay=services.live.relay,
        )
        async with running_clock(lifecycle) as clock:
            yield clock.wake
        return
    publisher = RedisWakePublisher(services.redis, settings.redis_prefix)
    try:
        yield publisher
    finally:
        await publisher.aclose()


async def prepare_schema(url: str) -> None:
    """Embedded SQLite migrates itself; a shared PostgreSQL is migrated on purpose (`gamif migrate`)."""
    if is_sqlite(url):
        await migrate.upgrade(url)
        return
    current, heads = await migrate.current(url), migrate.heads()
    if current not in heads:
        found = current or "nothing"
        raise SchemaOutOfDate(
            f"the database schema is at {found}, not {', '.join(heads)}: run `gamif migrate`"
        )


async def _authenticate(request: Request, kind: AuthKind) -> Principal | None:
    if kind == "public":
        return None
    accounts = running(request.app).accounts
    api_key = request.headers.get("x-api-key")
    header = request.headers.get("authorization")
    if api_key is not None:
        if kind != "principal":
            raise forbidden(
                "API keys are for integrations: this endpoint is for people (use an access token)"
            )
        return await accounts.principal_from_api_key(api_key)
    if header is None:
        wanted = "`Authorization: Bearer <access token>`"
        if kind == "principal":  # integrations may call it too: name their header as well
            wanted += " (a person) or `X-API-Key: <API key>` (an integration)"
        raise unauthorized(f"send {wanted}", "missing_token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be `Bearer <access token>`", "invalid_request")
    principal = await accounts.principal_from_token(token.strip())
    if kind == "admin" and not principal.is_admin:
        raise forbidden("only admins may do this")
    return principal
