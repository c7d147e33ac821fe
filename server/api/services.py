"""The services the HTTP handlers call, one typed attribute each (`Services`), and how a handler reaches
them (`running`): the app's lifespan builds them once its stores, queue and hub are open."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from server.hub.node import Hub
from server.hub_wiring import LiveServices
from server.services.challenges.service import ChallengesService
from server.services.errors import Unavailable
from server.services.people.accounts import Accounts
from server.services.people.admin_users import AdminUsers
from server.services.people.announcements import AnnouncementsService
from server.services.people.notifications import NotificationsService
from server.services.people.profiles import ProfilesService
from server.services.people.teams import TeamsService
from server.services.scoring.ingest import IngestService
from server.services.scoring.rules import RulesService

from .problems import Problem, problem_of

NOT_RUNNING_RETRY_AFTER_SECONDS = 1
"""Starting takes a moment (migrations, the rules, the hub); stopping ends with the process."""


@dataclass(slots=True)
class Services:
    """What the handlers reach as ``call.services``. Mutable for one reason: the hub leaves first when
    the app stops (`hub` is then ``None``), as the WebSocket endpoint sees it."""

    sessions: async_sessionmaker[AsyncSession]
    accounts: Accounts
    admin_users: AdminUsers
    rules: RulesService
    profiles: ProfilesService
    teams: TeamsService
    challenges: ChallengesService
    notifications: NotificationsService
    ingest: IngestService
    announcements: AnnouncementsService
    redis: Redis | None
    """The hub's Redis client, when it runs on Redis (the readiness check pings it)."""
    live: LiveServices
    """The live side: the publisher, the topic directory, the boards and scoreboards."""
    hub: Hub | None

    def live_hub(self) -> Hub:
        """This node's hub; a 503 while it is starting or stopping."""
        if self.hub is None:
            raise _not_running("the hub is starting or stopping")
        return self.hub


def running(app: Starlette) -> Services:
    """The app's services; a 503 problem before its lifespan has built them (the hub's WebSocket endpoint
    answers so then too)."""
    services: Services | None = getattr(app.state, "services", None)
    if services is None:
        raise _not_running("the server is starting")
    return services


def _not_running(what: str) -> Problem:
    return problem_of(Unavailable(f"{what}: send the request again", NOT_RUNNING_RETRY_AFTER_SECONDS))
