"""/auth: register, login, refresh, logout, and invitations (GAMIF_REGISTRATION=invite)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field
from starlette.requests import Request

from server.api.endpoints import Call
from server.api.problems import Problem
from server.api.registry import api
from server.api.schemas import (
    Email,
    Input,
    LoginIn,
    Output,
    RefreshIn,
    RegisteredOut,
    RegisterIn,
    TokenPair,
)
from server.config import Settings
from server.services.people.accounts import Tokens
from server.services.people.login_throttle import LoginThrottled
from server.services.people.profiles import user_out


def _pair(tokens: Tokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        refresh_expires_in=tokens.refresh_expires_in,
    )


@api.route(
    "POST",
    "/auth/register",
    summary="Create a player account",
    tag="auth",
    auth="public",
    body=RegisterIn,
    response=RegisteredOut,
    status=201,
    errors=(403, 409),
)
async def register(call: Call[RegisterIn, None]) -> RegisteredOut:
    """Open to anyone with `GAMIF_REGISTRATION=open` (the default); with `invite`, only with an
    invitation for that email (`invite`, from `POST /auth/invites`); with `closed`, to nobody (403)."""
    body = call.body
    accounts = call.services.accounts
    accounts.check_registration(body.email, body.invite)
    user, tokens = await accounts.register(
        email=body.email,
        password=body.password,
        handle=body.handle,
        display_name=body.display_name,
        timezone=body.timezone,
    )
    return RegisteredOut(user=user_out(user, with_email=True), tokens=_pair(tokens))


@api.route(
    "POST",
    "/auth/login",
    summary="Log in with email or handle and password",
    tag="auth",
    auth="public",
    body=LoginIn,
    response=TokenPair,
    errors=(401, 429),
)
async def login(call: Call[LoginIn, None]) -> TokenPair:
    """Repeated failures are throttled: per account (after `GAMIF_LOGIN_MAX_FAILURES` in a row, each
    further one locks it for 1 s, 2 s, 4 s, ... up to `GAMIF_LOGIN_LOCKOUT_MAX_SECONDS`; not for an
    address that logged into it before) and per client address (`GAMIF_LOGIN_IP_MAX_FAILURES` in 15
    minutes). A throttled login is answered 429 with `Retry-After`, whatever the password."""
    ip = client_ip(call.request)
    try:
        return _pair(await call.services.accounts.login(call.body.login, call.body.password, ip))
    except LoginThrottled as throttled:
        raise Problem(
            429,
            "too-many-requests",
            "Too many failed logins",
            f"{throttled.reason} (in {throttled.retry_after} s)",
            headers={"Retry-After": str(throttled.retry_after)},
        ) from None


def client_ip(request: Request) -> str:
    """The caller's IP: the connection's peer, or behind a proxy the header it is configured to set
    (`GAMIF_CLIENT_IP_HEADER`; of a list such as X-Forwarded-For, the last entry: the one the proxy
    added, whatever the client sent before it)."""
    settings: Settings = request.app.state.settings
    if settings.client_ip_header is not None:
        # Every occurrence of the header, in order: a proxy may add its own line after the client's
        # rather than extend it, and the first one is the client's to choose.
        value = ",".join(request.headers.getlist(settings.client_ip_header))
        last = value.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return request.client.host if request.client is not None else ""


class InviteIn(Input):
    email: Email
    ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] = Field(
        default=7 * 86_400, description="how long the invitation is valid (default: a week)"
    )


class InviteOut(Output):
    email: str
    invite: str = Field(description="give it to the person: they register with it as `invite`")
    expires_at: datetime


@api.route(
    "POST",
    "/auth/invites",
    summary="Invite someone to register (admins)",
    tag="auth",
    auth="admin",
    body=InviteIn,
    response=InviteOut,
    status=201,
)
async def invite(call: Call[InviteIn, None]) -> InviteOut:
    """An invitation for one email address, for `GAMIF_REGISTRATION=invite`: signed, expiring, and
    only good for registering that email (which can register once)."""
    body = call.body
    token, expires_at = call.services.accounts.invite(body.email, body.ttl_seconds)
    return InviteOut(email=body.email.lower(), invite=token, expires_at=expires_at)


@api.route(
    "POST",
    "/auth/refresh",
    summary="Trade a refresh token for new tokens (rotation)",
    tag="auth",
    auth="public",
    body=RefreshIn,
    response=TokenPair,
    errors=(401,),
)
async def refresh(call: Call[RefreshIn, None]) -> TokenPair:
    """Each refresh token works once. Presenting a used one revokes every token of that login."""
    return _pair(await call.services.accounts.refresh(call.body.refresh_token))


@api.route(
    "POST",
    "/auth/logout",
    summary="Revoke a refresh token and its whole family",
    tag="auth",
    auth="public",
    body=RefreshIn,
    status=204,
    errors=(401,),
)
async def logout(call: Call[RefreshIn, None]) -> None:
    await call.services.accounts.logout(call.body.refresh_token)
