"""Accounts: registration, login, rotating refresh tokens, service accounts, and who is calling."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import begin_write
from persistence.models import RefreshToken, ServiceAccount, User, utcnow
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
from server.auth.invites import InvalidInvite, check_invite, issue_invite
from server.auth.principal import Principal
from server.config import Settings
from server.services.errors import (
    Conflict,
    FieldIssue,
    Invalid,
    InvitationRequired,
    RegistrationClosed,
    Unauthenticated,
)
from server.services.people.login_throttle import LoginThrottle, MemoryThrottleStore, ThrottlePolicy


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
        # In memory until the app hands over Redis (server.app), which every node then shares.
        self.throttle = LoginThrottle(MemoryThrottleStore(), throttle_policy(settings))

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
        """Create an account (self-registration asks `check_registration` first; operators and the
        demo create accounts whatever the registration mode)."""
        try:
            check_password_policy(password)
        except WeakPassword as exc:
            weak = FieldIssue(field="password", message=str(exc), code="weak_password")
            raise Invalid("password too weak", [weak]) from None
        # argon2 costs ~0.1 s of CPU: in a thread, so that every socket of this process keeps moving.
        password_hash = await asyncio.to_thread(hash_password, password)
        user = User(
            email=email.lower(),
            handle=handle,
            display_name=display_name,
            timezone=timezone,
            role=role,
            password_hash=password_hash,
        )
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            taken = await session.scalar(
                select(User).where(or_(User.email == user.email, User.handle == user.handle))
            )
            if taken is not None:
                which = "email" if taken.email == user.email else "handle"
                raise Conflict(f"that {which} is already registered")
            session.add(user)
            try:
                await session.flush()
            except IntegrityError:  # a concurrent registration won the race
                raise Conflict("that email or handle is already registered") from None
            tokens = await self._issue(session, user, family=uuid.uuid4())
        return user, tokens

    def check_registration(self, email: str, invite: str | None) -> None:
        """Raise `RegistrationClosed`, `InvitationRequired` or `Invalid` (the invitation) unless
        ``GAMIF_REGISTRATION`` lets this person register themself."""
        mode = self.settings.registration
        if mode == "closed":
            raise RegistrationClosed("accounts are created by an admin here")
        if mode == "invite":
            if invite is None:
                raise InvitationRequired("registering needs an invitation (`invite`) from an admin")
            try:
                check_invite(self.key, invite, email=email, issuer=self.settings.jwt_issuer, now=utcnow())
            except InvalidInvite as exc:
                invalid = FieldIssue(field="invite", message=str(exc), code="invalid_invite")
                raise Invalid(str(exc), [invalid]) from None

    def invite(self, email: str, ttl_seconds: int) -> tuple[str, datetime]:
        """An invitation for ``email`` and when it expires."""
        now = utcnow()
        token = issue_invite(
            self.key, email=email, issuer=self.settings.jwt_issuer, ttl_seconds=ttl_seconds, now=now
        )
        return token, now + timedelta(seconds=ttl_seconds)

    async def login(self, login: str, password: str, client_ip: str = "") -> Tokens:
        """Verify a password and issue tokens. The throttle is asked first (`LoginThrottled`), argon2
        runs in a thread and outside any transaction (it would hold SQLite's write lock for its ~0.1 s),
        and the write transaction that issues the tokens reads the account again."""
        name = login.lower()
        async with self.sessions() as session:
            user = await session.scalar(select(User).where(or_(User.email == name, User.handle == name)))
        account = f"user:{user.id}" if user is not None else f"login:{name}"
        await self.throttle.check(account, client_ip)
        if user is None or not has_usable_password(user.password_hash):
            # Do not reveal by timing which logins exist, or which accounts have no password.
            await asyncio.to_thread(equalize_verification_time, password)
            await self.throttle.failed(account, client_ip)
            raise Unauthenticated("wrong login or password", "invalid_credentials")
        stored = user.password_hash
        if not await asyncio.to_thread(verify_password, stored, password) or user.disabled_at is not None:
            await self.throttle.failed(account, client_ip)
            raise Unauthenticated("wrong login or password", "invalid_credentials")
        await self.throttle.succeeded(account, client_ip)
        rehashed = await asyncio.to_thread(hash_password, password) if needs_rehash(stored) else None
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            current = await session.get(User, user.id)
            # Changed since the password was checked (disabled, deleted, or a new password): refuse.
            if current is None or current.disabled_at is not None or current.password_hash != stored:
                raise Unauthenticated("wrong login or password", "invalid_credentials")
            if rehashed is not None:
                current.password_hash = rehashed
            return await self._issue(session, current, family=uuid.uuid4())

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
                raise Unauthenticated("unknown refresh token")
            if row.revoked_at is not None:
                raise Unauthenticated("this refresh token was revoked", "revoked")
            if row.rotated_at is not None:
                await self._revoke_family(session, row.family_id, now)
                # Commit the revocation even though the request fails.
                await session.commit()
                raise Unauthenticated(
                    "this refresh token was already used: its sessions are revoked", "reused"
                )
            if row.expires_at <= now:
                raise Unauthenticated("this refresh token has expired", "expired")
            user = await session.get(User, row.user_id)
            if user is None or user.disabled_at is not None:
                raise Unauthenticated("the account is disabled")
            row.rotated_at = now
            return await self._issue(session, user, family=row.family_id, now=now)

    async def logout(self, token: str) -> None:
        async with self.sessions() as session, session.begin():
            await begin_write(session)
            row = await session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == digest_refresh_token(token))
            )
            if row is None:
                raise Unauthenticated("unknown refresh token")
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
            raise Unauthenticated(f"invalid access token ({exc.reason.value})", exc.reason.value) from None
        try:
            user_id = uuid.UUID(claims.subject)
        except ValueError:
            raise Unauthenticated("invalid access token (malformed subject)") from None
        async with self.sessions() as session:
            user = await session.get(User, user_id)
        if user is None or user.disabled_at is not None:
            raise Unauthenticated("the account no longer exists or is disabled", "revoked")
        # The role is read from the database, not the token: a demoted admin loses rights at once.
        return Principal("user", str(user.id), user.role)

    async def principal_from_api_key(self, text: str) -> Principal:
        try:
            prefix, _ = parse_api_key(text)
        except InvalidApiKey:
            raise Unauthenticated("malformed API key", "invalid_key") from None
        async with self.sessions() as session:
            account = await session.scalar(select(ServiceAccount).where(ServiceAccount.key_prefix == prefix))
        if account is None or not verify_api_key(text, account.key_hash):
            raise Unauthenticated("unknown API key", "invalid_key")
        if account.revoked_at is not None:
            raise Unauthenticated("this API key was revoked", "revoked")
        metrics = None if account.metrics is None else frozenset(account.metrics)
        return Principal("service", str(account.id), "service", frozenset(account.scopes), metrics)


def throttle_policy(settings: Settings) -> ThrottlePolicy:
    return ThrottlePolicy(
        max_failures=settings.login_max_failures,
        lockout_max_seconds=settings.login_lockout_max_seconds,
        ip_max_failures=settings.login_ip_max_failures,
    )
