"""Accounts: registration, login, rotating refresh tokens, service accounts, and who is calling."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import begin_write
from persistence.models import RefreshToken, ServiceAccount, User, utcnow
from server.api.endpoints import Principal
from server.api.problems import FieldError, Problem, conflict, unauthorized
from server.auth import (
    InvalidApiKey,
    InvalidToken,
    WeakPassword,
    check_password_policy,
    digest_refresh_token,
    equalize_verification_time,
    has_usable_password,
    hash_password,
    issue_access_token,
    needs_rehash,
    new_api_key,
    new_refresh_token,
    parse_api_key,
    verify_access_token,
    verify_api_key,
    verify_password,
)
from server.config import Settings


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class Accounts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.key = settings.jwt_key()

    # -- people ------------------------------------------------------------------------------------

    async def register(
        self,
        *,
        email: str,
        password: str,
        handle: str,
        display_name: str,
        timezone: str = "UTC",
        role: str = "player",
    ) -> tuple[User, Tokens]:
        try:
            check_password_policy(password)
        except WeakPassword as exc:
            raise Problem(
                422,
                "validation",
                "Invalid request",
                "password too weak",
                errors=[FieldError(field="password", message=str(exc), code="weak_password")],
            ) from None
        user = User(
            email=email.lower(),
            handle=handle,
            display_name=display_name,
            timezone=timezone,
            role=role,
            password_hash=hash_password(password),
        )
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            taken = await session.scalar(
                select(User).where(or_(User.email == user.email, User.handle == user.handle))
            )
            if taken is not None:
                which = "email" if taken.email == user.email else "handle"
                raise conflict(f"that {which} is already registered")
            session.add(user)
            try:
                await session.flush()
            except IntegrityError:  # a concurrent registration won the race
                raise conflict("that email or handle is already registered") from None
            tokens = await self._issue(session, user, family=uuid.uuid4())
        return user, tokens

    async def login(self, login: str, password: str) -> Tokens:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            user = await session.scalar(
                select(User).where(or_(User.email == login.lower(), User.handle == login.lower()))
            )
            if user is None or not has_usable_password(user.password_hash):
                # Do not reveal by timing which logins exist, or which accounts have no password.
                equalize_verification_time(password)
                raise unauthorized("wrong login or password", "invalid_credentials")
            if not verify_password(user.password_hash, password) or user.disabled_at is not None:
                raise unauthorized("wrong login or password", "invalid_credentials")
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            return await self._issue(session, user, family=uuid.uuid4())

    async def refresh(self, token: str, now: datetime | None = None) -> Tokens:
        """Rotate a refresh token. Presenting an already-rotated one means it leaked: revoke the family."""
        now = now or utcnow()
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            row = await session.scalar(
                select(RefreshToken)
                .where(RefreshToken.token_hash == digest_refresh_token(token))
                .with_for_update()
            )
            if row is None:
                raise unauthorized("unknown refresh token")
            if row.revoked_at is not None:
                raise unauthorized("this refresh token was revoked", "revoked")
            if row.rotated_at is not None:
                await self._revoke_family(session, row.family_id, now)
                # Commit the revocation even though the request fails.
                await session.commit()
                raise unauthorized("this refresh token was already used: its sessions are revoked", "reused")
            if row.expires_at <= now:
                raise unauthorized("this refresh token has expired", "expired")
            user = await session.get(User, row.user_id)
            if user is None or user.disabled_at is not None:
                raise unauthorized("the account is disabled")
            row.rotated_at = now
            return await self._issue(session, user, family=row.family_id, now=now)

    async def logout(self, token: str) -> None:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            row = await session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == digest_refresh_token(token))
            )
            if row is None:
                raise unauthorized("unknown refresh token")
            await self._revoke_family(session, row.family_id, utcnow())

    async def _revoke_family(self, session: AsyncSession, family: uuid.UUID, now: datetime) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def _issue(
        self, session: AsyncSession, user: User, family: uuid.UUID, now: datetime | None = None
    ) -> Tokens:
        now = now or utcnow()
        settings = self.settings
        access = issue_access_token(
            self.key,
            subject=str(user.id),
            role=user.role,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl_seconds,
            now=now,
        )
        token, digest = new_refresh_token()
        ttl = settings.refresh_token_ttl_seconds
        session.add(
            RefreshToken(
                user_id=user.id,
                family_id=family,
                token_hash=digest,
                issued_at=now,
                expires_at=now + timedelta(seconds=ttl),
            )
        )
        return Tokens(access, settings.access_token_ttl_seconds, token, ttl)

    # -- integrations ------------------------------------------------------------------------------

    async def create_service_account(
        self, name: str, scopes: list[str], metrics: list[str] | None
    ) -> tuple[ServiceAccount, str]:
        key = new_api_key()
        account = ServiceAccount(
            name=name, key_prefix=key.prefix, key_hash=key.digest, scopes=sorted(set(scopes)), metrics=metrics
        )
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            session.add(account)
        return account, key.plaintext

    # -- who is calling ----------------------------------------------------------------------------

    async def principal_from_token(self, token: str) -> Principal:
        settings = self.settings
        try:
            claims = verify_access_token(
                self.key, token, issuer=settings.jwt_issuer, audience=settings.jwt_audience
            )
        except InvalidToken as exc:
            raise unauthorized(f"invalid access token ({exc.reason.value})", exc.reason.value) from None
        try:
            user_id = uuid.UUID(claims.subject)
        except ValueError:
            raise unauthorized("invalid access token (malformed subject)") from None
        async with self.sessions() as session:
            user = await session.get(User, user_id)
        if user is None or user.disabled_at is not None:
            raise unauthorized("the account no longer exists or is disabled", "revoked")
        # The role is read from the database, not the token: a demoted admin loses rights at once.
        return Principal("user", str(user.id), user.role)

    async def principal_from_api_key(self, text: str) -> Principal:
        try:
            prefix, _ = parse_api_key(text)
        except InvalidApiKey:
            raise unauthorized("malformed API key", "invalid_key") from None
        async with self.sessions() as session:
            account = await session.scalar(select(ServiceAccount).where(ServiceAccount.key_prefix == prefix))
        if account is None or not verify_api_key(text, account.key_hash):
            raise unauthorized("unknown API key", "invalid_key")
        if account.revoked_at is not None:
            raise unauthorized("this API key was revoked", "revoked")
        metrics = None if account.metrics is None else frozenset(account.metrics)
        return Principal("service", str(account.id), "service", frozenset(account.scopes), metrics)
