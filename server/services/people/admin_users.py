"""Admin provisioning: players created in bulk without a password, and access tokens minted for them.

For load tests, and for integrators whose own app authenticates people: argon2 is slow on purpose, so
hashing thousands of throwaway passwords is exactly what this avoids. These accounts cannot log in
with a password (their hash is the unusable marker); an admin hands out their access tokens instead,
made by the same machinery as /auth/login's, so they work on the API and on the hub alike.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import begin_write
from persistence.models import User, table_of, utcnow
from server.auth import UNUSABLE_PASSWORD, issue_access_token
from server.config import Settings
from server.services.errors import Conflict, FieldIssue, NotFound

log = logging.getLogger("gamif.accounts")

NO_EMAIL_DOMAIN = "no-email"
"""users.email is required and unique: a player created without one gets ``<handle>@no-email``. The
domain has no dot, so the email check of /auth/register can never produce it (nobody can squat it)."""

_LISTED = 20
"""Handles named in a problem's detail; `errors` names every one."""


def placeholder_email(handle: str) -> str:
    return f"{handle}@{NO_EMAIL_DOMAIN}"


def has_real_email(email: str) -> bool:
    return not email.endswith("@" + NO_EMAIL_DOMAIN)


@dataclass(frozen=True, slots=True)
class NewPlayer:
    handle: str
    display_name: str
    email: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Provisioned:
    """A player, with an access token when one was asked for."""

    user_id: uuid.UUID
    handle: str
    display_name: str
    access_token: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    user_id: uuid.UUID
    handle: str
    access_token: str
    expires_at: datetime


class AdminUsers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, key: bytes) -> None:
        self.sessions = sessions
        self.settings = settings
        self.key = key

    async def create_players(
        self, players: Sequence[NewPlayer], *, issue_tokens: bool, by: str, now: datetime | None = None
    ) -> list[Provisioned]:
        """Create every player or none: one SELECT for clashes, one multi-row INSERT, one transaction."""
        now = _whole_seconds(now or utcnow())
        emails = [p.email.lower() if p.email else placeholder_email(p.handle) for p in players]
        rows: list[dict[str, Any]] = [
            {
                "id": uuid.uuid4(),
                "handle": player.handle,
                "email": email,
                "display_name": player.display_name,
                "timezone": player.timezone,
                "role": "player",
                "password_hash": UNUSABLE_PASSWORD,
                "created_at": now,
            }
            for player, email in zip(players, emails, strict=True)
        ]
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            handles = [p.handle for p in players]
            taken = (
                await session.execute(
                    select(User.handle, User.email).where(
                        or_(User.handle.in_(handles), User.email.in_(emails))
                    )
                )
            ).all()
            clashes = _clashes(players, emails, {h for h, _ in taken}, {e for _, e in taken})
            if clashes:
                raise _conflict(players, clashes)
            try:
                await session.execute(insert(table_of(User)), rows)
            except IntegrityError:  # a concurrent registration took one between the SELECT and the INSERT
                raise Conflict(
                    "a handle or email was registered meanwhile; nothing was created: send the request again"
                ) from None
        log.info("%s created %d players without passwords", by, len(rows))
        ttl = self.settings.access_token_ttl_seconds
        created: list[Provisioned] = []
        for row in rows:
            token, expires_at = self._token(row["id"], "player", ttl, now) if issue_tokens else (None, None)
            created.append(Provisioned(row["id"], row["handle"], row["display_name"], token, expires_at))
        return created

    async def issue_tokens(
        self, handles: Sequence[str], *, ttl_seconds: int | None, by: str, now: datetime | None = None
    ) -> list[IssuedToken]:
        """An access token for each distinct handle, or none at all if one is unknown or disabled."""
        now = _whole_seconds(now or utcnow())
        ttl = ttl_seconds or self.settings.access_token_ttl_seconds
        first: dict[str, int] = {}
        for index, handle in enumerate(handles):
            first.setdefault(handle, index)
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(User.id, User.handle, User.role, User.disabled_at).where(
                        User.handle.in_(list(first))
                    )
                )
            ).all()
        found = {row.handle: row for row in rows}
        unknown = [handle for handle in first if handle not in found]
        if unknown:
            raise NotFound(
                f"no account has these handles: {_listing(unknown)}; no token was issued",
                [
                    _error(f"handles.{first[h]}", "no account has this handle", "unknown_user")
                    for h in unknown
                ],
            )
        disabled = [handle for handle in first if found[handle].disabled_at is not None]
        if disabled:
            raise Conflict(
                f"these accounts are disabled: {_listing(disabled)}; no token was issued",
                [_error(f"handles.{first[h]}", "the account is disabled", "disabled") for h in disabled],
            )
        log.info("%s issued %d access tokens (ttl %ds)", by, len(first), ttl)
        issued: list[IssuedToken] = []
        for handle in first:
            row = found[handle]
            token, expires_at = self._token(row.id, row.role, ttl, now)
            issued.append(IssuedToken(row.id, row.handle, token, expires_at))
        return issued

    def _token(self, user_id: uuid.UUID, role: str, ttl: int, now: datetime) -> tuple[str, datetime]:
        settings = self.settings
        token = issue_access_token(
            self.key,
            subject=str(user_id),
            role=role,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=ttl,
            now=now,
        )
        return token, now + timedelta(seconds=ttl)


def _whole_seconds(now: datetime) -> datetime:
    # JWT times are whole seconds: truncating keeps the reported expires_at equal to the token's exp.
    return now.replace(microsecond=0)


def _clashes(
    players: Sequence[NewPlayer], emails: list[str], taken_handles: set[str], taken_emails: set[str]
) -> list[tuple[int, FieldIssue]]:
    """(index of the player, what is wrong): taken by an existing account, or repeating an earlier entry."""
    found: list[tuple[int, FieldIssue]] = []
    seen_handles: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for index, (player, email) in enumerate(zip(players, emails, strict=True)):
        where = f"users.{index}"
        if player.handle in taken_handles:
            found.append((index, _error(f"{where}.handle", "this handle is already registered", "taken")))
        elif player.handle in seen_handles:
            earlier = f"users.{seen_handles[player.handle]}"
            found.append((index, _error(f"{where}.handle", f"repeats {earlier}.handle", "repeated")))
        if player.email is not None:  # a placeholder only clashes with its own handle, reported above
            if email in taken_emails:
                found.append((index, _error(f"{where}.email", "this email is already registered", "taken")))
            elif email in seen_emails:
                earlier = f"users.{seen_emails[email]}"
                found.append((index, _error(f"{where}.email", f"repeats {earlier}.email", "repeated")))
        seen_handles.setdefault(player.handle, index)
        seen_emails.setdefault(email, index)
    return found


def _conflict(players: Sequence[NewPlayer], clashes: list[tuple[int, FieldIssue]]) -> Conflict:
    handles = list(dict.fromkeys(players[index].handle for index, _ in clashes))
    detail = (
        f"nothing was created: these handles (or their emails) are already registered or repeated "
        f"in the request: {_listing(handles)}"
    )
    return Conflict(detail, [error for _, error in clashes])


def _error(field: str, message: str, code: str) -> FieldIssue:
    return FieldIssue(field=field, message=message, code=code)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown} and {len(names) - _LISTED} more"
