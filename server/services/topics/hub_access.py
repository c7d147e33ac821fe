"""Who a WebSocket session belongs to: the access token in ``auth`` and ``refresh``, checked (the hub asks
through `server.hub_handlers`, which turns a `HubAuthError` into the hub's refusal)."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.models import Team, TeamMembership, User
from protocol import ErrorCode
from server.auth.tokens import InvalidToken, InvalidTokenReason, verify_access_token
from server.config import Settings
from server.hub.handlers import Identity


class HubAuthError(Exception):
    """``auth_failed``, ``token_expired`` or ``forbidden`` (disabled account), with a message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class HubAccess:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, key: bytes) -> None:
        self.sessions = sessions
        self.settings = settings
        self.key = key

    def verify(self, token: str) -> tuple[str, int]:
        """The user id and expiry (ms) of a valid access token, without a database read."""
        try:
            claims = verify_access_token(
                self.key, token, issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience
            )
        except InvalidToken as exc:
            if exc.reason is InvalidTokenReason.EXPIRED:
                raise HubAuthError(ErrorCode.TOKEN_EXPIRED, "the access token has expired") from None
            raise HubAuthError(ErrorCode.AUTH_FAILED, f"invalid access token ({exc.reason.value})") from None
        try:
            user_id = str(uuid.UUID(claims.subject))
        except ValueError:
            raise HubAuthError(ErrorCode.AUTH_FAILED, "invalid access token (malformed subject)") from None
        return user_id, int(claims.expires_at.timestamp() * 1000)

    async def authenticate(self, token: str) -> Identity:
        user_id, expires_at_ms = self.verify(token)
        # One round trip: the user and their current teams (a connect storm is thousands of these).
        current = and_(TeamMembership.user_id == User.id, TeamMembership.left_at.is_(None))
        open_team = and_(Team.id == TeamMembership.team_id, Team.archived_at.is_(None))
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(User.handle, User.display_name, User.disabled_at, Team.slug)
                    .outerjoin(TeamMembership, current)
                    .outerjoin(Team, open_team)
                    .where(User.id == uuid.UUID(user_id))
                    .order_by(Team.slug)
                )
            ).all()
        if not rows:
            raise HubAuthError(ErrorCode.AUTH_FAILED, "the account no longer exists")
        handle, display_name, disabled_at, _ = rows[0]
        if disabled_at is not None:
            raise HubAuthError(ErrorCode.FORBIDDEN, "the account is disabled")
        teams = tuple(slug for *_, slug in rows if slug is not None)
        return Identity(user_id, handle, display_name, teams, expires_at_ms)
