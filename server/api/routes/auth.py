"""/auth: register, login, refresh, logout."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import LoginIn, RefreshIn, RegisteredOut, RegisterIn, TokenPair
from server.services.accounts import Tokens
from server.services.profiles import user_out


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
    errors=(409,),
)
async def register(call: Call) -> RegisteredOut:
    body: RegisterIn = call.body
    user, tokens = await call.service("accounts").register(
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
    errors=(401,),
)
async def login(call: Call) -> TokenPair:
    body: LoginIn = call.body
    return _pair(await call.service("accounts").login(body.login, body.password))


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
async def refresh(call: Call) -> TokenPair:
    """Each refresh token works once. Presenting a used one revokes every token of that login."""
    body: RefreshIn = call.body
    return _pair(await call.service("accounts").refresh(body.refresh_token))


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
async def logout(call: Call) -> None:
    body: RefreshIn = call.body
    await call.service("accounts").logout(body.refresh_token)
