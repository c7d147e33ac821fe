"""What a scenario runs against, and the users it loads it with.

* By default, a stack of its own (`load_tests.pipeline.stack.Stack`): a PostgreSQL database and a Redis
  key prefix created for the run and removed after it, ``gamif serve`` and (when the scenario scores
  events) ``gamif worker``. Its load users and their tokens come from the admin API
  (``POST /api/v1/admin/users``, a thousand at a time, no password hashing), its teams likewise.
* With ``--target URL --users FILE``, a hub already running somewhere (this machine: the kit only ever
  loads addresses given to it), and pre-created users: a JSON list of ``{"user_id", "access_token"}``
  (optionally ``"handle"`` and ``"team"``, a team slug). Nothing is created or removed there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from load_tests.fanout.targets import TargetError
from load_tests.pipeline.stack import Stack, check_status

from .options import add_store_options

ADMIN_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class LoadUser:
    user_id: str
    handle: str
    token: str
    team: str | None = None


def add_target_options(parser: argparse.ArgumentParser) -> None:
    add_store_options(parser)
    parser.add_argument(
        "--target",
        default=None,
        metavar="URL",
        help="load a hub already running at URL (e.g. http://127.0.0.1:8000) instead of a stack of the "
        "run's own; needs --users-file",
    )
    parser.add_argument(
        "--users-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --target: pre-created users, a JSON list of {user_id, access_token[, handle, team]}",
    )


def check_target_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.target is None) != (args.users_file is None):
        parser.error("--target and --users-file go together")
    if args.target is not None:
        parts = urlsplit(args.target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            parser.error(f"--target must be an http:// URL, got {args.target!r}")
        if not args.users_file.is_file():
            parser.error(f"--users-file: no such file {str(args.users_file)!r}")


class Target(ABC):
    host: str
    port: int

    @abstractmethod
    async def prepare(self, scoring: bool) -> None:
        """Make the hub ready; ``scoring``: events are ingested and must be scored (a worker runs)."""

    @abstractmethod
    async def users(self, count: int, teams: int = 0, members: int | None = None) -> list[LoadUser]:
        """``count`` load users, the first ``members`` of them (all by default) spread over ``teams``
        teams when asked."""

    @property
    @abstractmethod
    def server_pids(self) -> list[int]:
        """The hub's processes on this machine (memory and CPU are sampled from them)."""

    @abstractmethod
    async def close(self) -> None: ...


def make_target(args: argparse.Namespace, name: str) -> Target:
    if args.target is not None:
        return External(args.target, args.users_file)
    return OwnStack(Stack(args.postgres_url, args.redis_url), name)


class OwnStack(Target):
    def __init__(self, stack: Stack, name: str) -> None:
        self.stack = stack
        self.name = name
        self.host = "127.0.0.1"
        self.port = stack.port
        self.team_slugs: list[str] = []

    async def prepare(self, scoring: bool) -> None:
        await self.stack.prepare()
        if scoring and not self.stack.scores_in_process:
            self.stack.start_worker(1, 200)

    async def users(self, count: int, teams: int = 0, members: int | None = None) -> list[LoadUser]:
        stack = self.stack
        in_teams = count if members is None else members
        headers = {"Authorization": f"Bearer {stack.admin_token}"}
        prefix = f"{self.name[:4]}{stack.run_id[:6]}"
        slugs = self.team_slugs = [f"{prefix}-t{index}" for index in range(teams)]
        created: list[LoadUser] = []
        async with stack.http() as client:
            for slug in slugs:
                answer = await client.post(
                    "/api/v1/teams", json={"slug": slug, "name": slug}, headers=headers
                )
                check_status(answer, 201, f"creating team {slug}")
            for start in range(0, count, ADMIN_BATCH):
                batch = [
                    {"handle": f"{prefix}u{index}", "display_name": f"Load user {index}"}
                    for index in range(start, min(count, start + ADMIN_BATCH))
                ]
                answer = await client.post(
                    "/api/v1/admin/users", json={"users": batch, "issue_tokens": True}, headers=headers
                )
                check_status(answer, 201, "creating load users through the admin API")
                for index, user in enumerate(answer.json()["users"], start):
                    team = slugs[index % teams] if teams and index < in_teams else None
                    created.append(LoadUser(user["id"], user["handle"], user["access_token"], team))
            gate = asyncio.Semaphore(16)

            async def join(user: LoadUser) -> None:
                async with gate:
                    answer = await client.put(
                        f"/api/v1/teams/{user.team}/members/{user.handle}", headers=headers
                    )
                check_status(answer, 204, f"adding {user.handle} to {user.team}")

            await asyncio.gather(*(join(user) for user in created if user.team))
        return created

    @property
    def server_pids(self) -> list[int]:
        return [self.stack.server.pid] if self.stack.server is not None else []

    async def close(self) -> None:
        await self.stack.close()


class External(Target):
    def __init__(self, url: str, users_file: Path) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.users_file = users_file

    async def prepare(self, scoring: bool) -> None:
        return None

    async def users(self, count: int, teams: int = 0, members: int | None = None) -> list[LoadUser]:
        try:
            rows = json.loads(self.users_file.read_text())
            given = [
                LoadUser(row["user_id"], row.get("handle", ""), row["access_token"], row.get("team"))
                for row in rows
            ]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise TargetError(
                f"{self.users_file}: not a JSON list of {{user_id, access_token}} objects ({error!r})"
            ) from error
        if not given:
            raise TargetError(f"{self.users_file}: no users")
        # Fewer users than sessions: several sessions share a user (several tabs open).
        return [given[index % len(given)] for index in range(count)]

    @property
    def server_pids(self) -> list[int]:
        pid = os.environ.get("GAMIF_LOAD_SERVER_PID")
        return [int(pid)] if pid and pid.isdigit() else []

    async def close(self) -> None:
        return None
