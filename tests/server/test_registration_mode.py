"""GAMIF_REGISTRATION: open (the default), closed, or by invitation; through the real app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from persistence.models import User, utcnow
from server.auth.invites import issue_invite

PASSWORD = "correct horse battery"


def signup(handle: str, **extra: str) -> dict[str, str]:
    return {
        "email": f"{handle}@example.com",
        "password": PASSWORD,
        "handle": handle,
        "display_name": handle.title(),
        **extra,
    }


async def users(app) -> int:
    async with app.state.services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_registration_is_open_by_default(client):
    assert (await client.post("/api/v1/auth/register", json=signup("bob"))).status_code == 201


@pytest.mark.settings(registration="closed")
async def test_closed_registration_refuses_everyone_and_creates_nothing(app, client, admin, problem):
    before = await users(app)
    response = await client.post("/api/v1/auth/register", json=signup("bob"))
    body = problem(response, 403)
    assert body["type"].endswith("/registration-closed")
    assert await users(app) == before
    # Admins still make players.
    made = await client.post(
        "/api/v1/admin/users",
        json={"users": [{"handle": "bob", "display_name": "Bob"}]},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text


@pytest.mark.settings(registration="invite")
async def test_invitations_admit_the_invited_email_only(app, client, admin, register, problem):
    assert problem(await client.post("/api/v1/auth/register", json=signup("bob")), 403)["type"].endswith(
        "/invitation-required"
    )
    made = await client.post("/api/v1/auth/invites", json={"email": "Bob@example.com"}, headers=admin.headers)
    assert made.status_code == 201, made.text
    invite = made.json()["invite"]
    assert made.json()["email"] == "bob@example.com"

    stolen = await client.post("/api/v1/auth/register", json=signup("eve", invite=invite))
    assert "for another email" in problem(stolen, 422, "invite")["detail"]
    forged = await client.post("/api/v1/auth/register", json=signup("bob", invite=invite[:-4] + "AAAA"))
    problem(forged, 422, "invite")
    before = await users(app)
    assert before == 1  # the admin: nothing else was created

    joined = await client.post("/api/v1/auth/register", json=signup("bob", invite=invite))
    assert joined.status_code == 201, joined.text
    again = await client.post(
        "/api/v1/auth/register", json=signup("bob2", invite=invite) | {"email": "bob@example.com"}
    )
    problem(again, 409)  # an invitation works once: its email is taken


@pytest.mark.settings(registration="invite")
async def test_an_expired_invitation_is_refused(app, client, problem):
    settings = app.state.settings
    old = issue_invite(
        app.state.services.accounts.key,
        email="bob@example.com",
        issuer=settings.jwt_issuer,
        ttl_seconds=60,
        now=utcnow() - timedelta(minutes=2),
    )
    response = await client.post("/api/v1/auth/register", json=signup("bob", invite=old))
    assert "expired" in problem(response, 422, "invite")["detail"]


async def test_only_admins_invite(client, player, problem):
    response = await client.post(
        "/api/v1/auth/invites", json={"email": "x@example.com"}, headers=player.headers
    )
    problem(response, 403)
