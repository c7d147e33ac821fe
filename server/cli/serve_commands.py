"""`gamif serve`, `gamif create-admin` and `gamif demo` (a seeded organisation, then serve)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from server.config import Settings

from .common import settings_or_report

if TYPE_CHECKING:  # the CLI starts fast: the server's modules are imported where used
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from game import Engine
    from persistence.scoring import Submission
    from server.services.scoring.rules import RulesService

log = logging.getLogger("gamif.serve")

DEMO_PASSWORD = "gamif-demo-password"
DEMO_DOMAIN = "demo.gamif.dev"
DEMO_TEAMS = {"platform": "Platform", "web": "Web", "reliability": "Reliability"}
DEMO_CHALLENGE = "demo-sprint"


def serve(args: argparse.Namespace) -> int:
    settings = settings_or_report(args)
    if settings is None:
        return 1
    return _serve(settings)


def _serve(settings: Settings, *, demo: bool = False) -> int:
    import uvicorn

    from server.app import create_app, mark_draining
    from server.hub.transport import HubWebSocketProtocol

    from .uvicorn_server import GRACEFUL_SHUTDOWN_SECONDS, GamifServer

    app = create_app(settings, demo=demo)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # Logging is the process's own (server/logs.py, set up before any command runs): uvicorn's
        # loggers go through it rather than through a configuration of uvicorn's.
        log_config=None,
        # Small binary frames: the sans-I/O websockets implementation (with the protocol's close
        # reasons: server/hub/transport.py), no compression, a small frame limit, and a bounded drain
        # on shutdown so deploys do not hang on idle sockets.
        ws=HubWebSocketProtocol,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
        # The client's address is the peer's, or GAMIF_CLIENT_IP_HEADER's: never a header that uvicorn
        # would trust by itself (X-Forwarded-For from 127.0.0.1), which login throttling keys on.
        proxy_headers=False,
    )
    _log_start(settings, demo=demo)
    from server import gc_pauses

    gc_pauses.tune()  # short collector pauses on the loop that serves the sockets
    # The drain (SIGTERM, GAMIF_DRAIN_SECONDS) marks the app so that /readyz answers 503 from then on.
    server = GamifServer(config, drain_seconds=settings.drain_seconds, on_drain=lambda: mark_draining(app))
    server.run()
    return 1 if server.forced else 0


def _log_start(settings: Settings, *, demo: bool) -> None:
    """What this node runs on, in the log: where an operator (or a log shipper) looks first."""
    from persistence.migrate import masked

    what = "the demo" if demo else "the HTTP API and the WebSocket hub"
    log.info("gamif %s: serving %s on %s:%s", version("gamif"), what, settings.host, settings.port)
    database = "embedded SQLite" if settings.database_url is None else "database"
    log.info("%s: %s", database, masked(settings.effective_database_url))
    if settings.redis_url is None:
        log.info("no Redis: one embedded node (scoring in this process, in-memory leaderboards and bus)")
    else:
        log.info("Redis: %s (prefix %r)", _without_password(settings.redis_url), settings.redis_prefix)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def create_admin(args: argparse.Namespace) -> int:
    settings = settings_or_report()
    if settings is None:
        return 1
    password = os.environ.get("GAMIF_ADMIN_PASSWORD") or (
        getpass.getpass("password for the new admin: ") if sys.stdin.isatty() else None
    )
    if not password:
        print("gamif: give the password in GAMIF_ADMIN_PASSWORD (or run in a terminal)", file=sys.stderr)
        return 1
    from server.services.errors import DomainError

    try:
        user = asyncio.run(
            _create_admin(settings, args.email, args.handle, args.name or args.handle, password)
        )
    except DomainError as refused:
        reasons = "; ".join(f"{e.field}: {e.message}" for e in refused.errors)
        print(f"gamif: {refused.detail}" + (f" ({reasons})" if reasons else ""), file=sys.stderr)
        return 1
    print(f"admin {user} created")
    return 0


async def _create_admin(settings: Settings, email: str, handle: str, name: str, password: str) -> str:
    from persistence.db import create_engine, session_factory
    from server.app import prepare_schema
    from server.services.people.accounts import Accounts

    url = settings.effective_database_url
    await prepare_schema(url)
    engine = create_engine(url)
    try:
        accounts = Accounts(session_factory(engine), settings)
        user, _ = await accounts.register(
            email=email, password=password, handle=handle, display_name=name, role="admin"
        )
        return user.handle
    finally:
        await engine.dispose()


def demo(args: argparse.Namespace) -> int:
    settings = settings_or_report(args)
    if settings is None:
        return 1
    summary = asyncio.run(seed_demo(settings))
    print(summary, flush=True)
    if getattr(args, "seed_only", False):  # the compose stack's one-shot step: its hubs serve
        return 0
    return _serve(settings, demo=True)


async def seed_demo(settings: Settings, now: datetime | None = None) -> str:
    """Seed the demo organisation once (teams, people, recent history, a live challenge) and describe
    how to log in."""
    from sqlalchemy import select

    from game import sample_events, sample_users
    from persistence.db import create_engine, session_factory
    from persistence.models import User
    from persistence.scoring import Submission
    from server.app import prepare_schema
    from server.services.people.accounts import Accounts
    from server.services.people.teams import TeamsService
    from server.services.scoring.rules import RulesService

    from .demo_key import demo_api_key

    now = now or datetime.now(UTC)
    url = settings.effective_database_url
    await prepare_schema(url)
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        accounts = Accounts(sessions, settings)
        zones = sample_users()
        async with sessions() as session:
            seeded = await session.scalar(select(User.id).where(User.email == f"admin@{DEMO_DOMAIN}"))
        if seeded is None:
            rules = RulesService(
                sessions, settings.rules_file, recheck_seconds=settings.rules_recheck_ms / 1000
            )
            await rules.bootstrap()
            await accounts.register(
                email=f"admin@{DEMO_DOMAIN}",
                password=DEMO_PASSWORD,
                handle="admin",
                display_name="Demo Admin",
                role="admin",
            )
            ids = {}
            for handle, tz in zones.items():
                user, _ = await accounts.register(
                    email=f"{handle}@{DEMO_DOMAIN}",
                    password=DEMO_PASSWORD,
                    handle=handle,
                    display_name=handle.capitalize(),
                    timezone=tz,
                )
                ids[handle] = str(user.id)
            # The sample covers four weeks: move it so that it ends an hour ago.
            events = sample_events()
            shift = (now - timedelta(hours=1)) - max(e.occurred_at for e in events)
            # The teams existed throughout the history: challenges and team boards credit an event to
            # the teams its author belonged to when it happened.
            formed = min(e.occurred_at for e in events) + shift - timedelta(days=1)
            teams = TeamsService(sessions, clock=lambda: formed)
            slugs = list(DEMO_TEAMS)
            for slug, name in DEMO_TEAMS.items():
                await teams.create(slug, name, f"The {name} team (demo)")
            for index, handle in enumerate(zones):
                await teams.add_member(slugs[index % len(slugs)], handle)
            await _seed_challenge(sessions, rules, now)
            submissions = [
                Submission(
                    type(e)(e.id, ids[e.user_id], e.metric, e.value, e.occurred_at + shift, e.source),
                    "demo:seed",
                )
                for e in events
                if e.user_id in ids
            ]
            await _score_history(sessions, await rules.engine(), submissions)
        # The same key at every start while it is live (kept in the data directory): `KEY` stays set.
        key, key_file = await demo_api_key(sessions, accounts, settings.data_dir, now)
    finally:
        await engine.dispose()
    base = settings.effective_public_url
    seconds = settings.demo_pulse_seconds
    pulse = f" (moved by a sample event every {seconds:g} s)" if seconds > 0 else ""
    database = "SQLite, embedded" if settings.embedded else "PostgreSQL"
    if settings.effective_client_dir is not None:
        dashboard = f"  open the live dashboard: {base}/   (log in as one of the demo people below)"
        challenge = f"{base}/challenges/?id={DEMO_CHALLENGE}"
    else:
        dashboard = "  the web client is not built (`make client`): the API and /ws serve on their own"
        challenge = f"{base}/api/v1/challenges/{DEMO_CHALLENGE}"
    return "\n".join(
        [
            "",
            f"gamif is starting at {base}   (API docs: {base}/api/v1/docs)",
            dashboard,
            f"  data: {settings.data_dir.resolve()} ({database})",
            f"  demo logins, password {DEMO_PASSWORD!r}: admin, {', '.join(zones)}",
            f"  the demo integration's API key (the same at every start; kept in {key_file.resolve()}):",
            f"    {key}",
            f"  a live team challenge: {challenge}{pulse}",
            "  (the README's 'Try it' section has curl commands to log in, post metrics and read /me)",
            "",
        ]
    )


async def _score_history(
    sessions: async_sessionmaker[AsyncSession], engine: Engine, submissions: list[Submission]
) -> None:
    """Score the sample history as the workers would have while it happened: hour by hour, each batch
    at its last event's time. Ledger lines, badges, notifications and the events' receipt then carry
    the history's own times (to the hour), so the boards' periods (today, this week, this month, all
    time) differ and a profile's history reads as one; scored all at the seed's time, every period
    would show the same numbers."""
    from persistence.scoring import ScoredBatch, Scorer
    from server.services.challenges.scoring import ChallengeScoring
    from server.services.people.notifications import insert_notifications
    from server.services.scoring.live import NOTIFIED, user_changes

    async def as_it_happened(batch: ScoredBatch) -> None:
        # The challenge hook in the same transaction, as the scoring step has it: the scoreboard starts
        # with the history's events inside the challenge's window.
        await ChallengeScoring()(batch)
        # The notable moments kept as scoring keeps them (the activity feed shows them), already read:
        # a screen is sent a player's unread ones when it connects, and history is not news.
        kept = [
            {
                "user_id": uuid.UUID(change.topic.removeprefix("user:")),
                "kind": name,
                "data": dict(data),
                "read_at": batch.now,
            }
            for change in await user_changes(batch)
            for name, data in change.events
            if name in NOTIFIED
        ]
        await insert_notifications(batch.session, kept, batch.now)

    scorer = Scorer(sessions)
    by_hour: dict[datetime, list[Submission]] = {}
    for submission in sorted(submissions, key=lambda s: s.event.occurred_at):
        at = submission.event.occurred_at.astimezone(UTC)
        by_hour.setdefault(at.replace(minute=0, second=0, microsecond=0), []).append(submission)
    for batch in by_hour.values():
        stamp = max(submission.event.occurred_at for submission in batch).astimezone(UTC)
        await scorer.score(engine, batch, stamp, before_commit=as_it_happened)


async def _seed_challenge(
    sessions: async_sessionmaker[AsyncSession], rules: RulesService, now: datetime
) -> None:
    """The demo's live challenge between its teams: defined through the service (so it is validated)
    and started as the lifecycle clock would, before the history is scored into it."""
    from game.challenges import ChallengeDefinition
    from server.services.challenges.lifecycle import ChallengeLifecycle
    from server.services.challenges.service import ChallengesService

    definition = ChallengeDefinition.model_validate(
        {
            "id": DEMO_CHALLENGE,
            "name": "Sprint of the week",
            "description": "Code reviews done plus pull requests merged: the busiest team wins.",
            "metrics": ["reviews_done", "prs_merged"],
            # sum, not points: the board keeps moving once the rules' daily XP caps are reached.
            "scoring": "sum",
            "starts_at": now - timedelta(days=3),
            "ends_at": now + timedelta(days=4),
            "teams": list(DEMO_TEAMS),
            "rewards": [{"rank": 1, "xp": 300}, {"rank": 2, "xp": 150}, {"rank": 3, "xp": 50}],
        }
    )
    await ChallengesService(sessions, rules, clock=lambda: now).create(definition, None)
    await ChallengeLifecycle(sessions, rules).start_due(now)
