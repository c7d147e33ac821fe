"""Admin-only: service accounts for integrations, players and tokens in bulk, and announcements."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import (
    AdminTokenOut,
    AdminTokensIn,
    AdminTokensOut,
    AdminUserOut,
    AdminUsersIn,
    AdminUsersOut,
    AnnouncementIn,
    AnnouncementOut,
    HubStatsOut,
    ServiceAccountIn,
    ServiceAccountOut,
)
from server.services.people.admin_users import NewPlayer


@api.route(
    "POST",
    "/service-accounts",
    summary="Create an integration's API key (shown once)",
    tag="admin",
    auth="admin",
    body=ServiceAccountIn,
    response=ServiceAccountOut,
    status=201,
)
async def create_service_account(call: Call[ServiceAccountIn, None]) -> ServiceAccountOut:
    body = call.body
    account, key = await call.services.accounts.create_service_account(
        body.name, list(body.scopes), body.metrics
    )
    return ServiceAccountOut(
        id=str(account.id),
        name=account.name,
        scopes=list(account.scopes),
        metrics=account.metrics,
        created_at=account.created_at,
        api_key=key,
    )


@api.route(
    "POST",
    "/announcements",
    summary="Broadcast an announcement to live screens (everyone, or one team)",
    tag="admin",
    auth="admin",
    body=AnnouncementIn,
    response=AnnouncementOut,
    status=202,
    errors=(404,),
)
async def announce(call: Call[AnnouncementIn, None]) -> AnnouncementOut:
    body = call.body
    audience, topics = await call.services.announcements.announce(
        body.title, body.text, body.severity, body.url, body.team
    )
    return AnnouncementOut(audience=audience, topics=topics)


@api.route(
    "GET",
    "/hub",
    summary="This node's real-time hub: sessions, topics, and fan-out counters",
    tag="admin",
    auth="admin",
    response=HubStatsOut,
)
async def hub_stats(call: Call[None, None]) -> HubStatsOut:
    hub = call.services.live_hub()
    stats = hub.stats
    return HubStatsOut(
        node=hub.node_id,
        sessions=len(hub.sessions),
        topics=len(hub.watchers),
        deltas_received=stats.deltas_received,
        deltas_sent=stats.deltas_sent,
        frames_sent=stats.frames_sent,
        direct_writes=stats.direct_writes,
        slow_consumers=stats.slow_consumers,
    )


@api.route(
    "POST",
    "/admin/users",
    summary="Create players without passwords in bulk (optionally with access tokens)",
    tag="admin",
    auth="admin",
    body=AdminUsersIn,
    response=AdminUsersOut,
    status=201,
    errors=(409,),
)
async def create_players(call: Call[AdminUsersIn, None]) -> AdminUsersOut:
    """All or nothing, in one transaction: a handle or email that is taken or repeated is a 409 naming
    them, and nothing is created. The players have no password (they cannot log in with one): use
    `issue_tokens` here, or POST /admin/tokens later. For load tests, and for apps that authenticate
    their users themselves."""
    body = call.body
    players = [NewPlayer(u.handle, u.display_name, u.email, u.timezone) for u in body.users]
    created = await call.services.admin_users.create_players(
        players, issue_tokens=body.issue_tokens, by=call.who.label
    )
    return AdminUsersOut(
        users=[
            AdminUserOut(
                id=str(p.user_id),
                handle=p.handle,
                display_name=p.display_name,
                access_token=p.access_token,
                expires_at=p.expires_at,
            )
            for p in created
        ]
    )


@api.route(
    "POST",
    "/admin/tokens",
    summary="Issue access tokens for existing accounts, by handle",
    tag="admin",
    auth="admin",
    body=AdminTokensIn,
    response=AdminTokensOut,
    errors=(404, 409),
)
async def issue_tokens(call: Call[AdminTokensIn, None]) -> AdminTokensOut:
    """Access tokens only (no refresh token): ask again when they expire. All or nothing: an unknown
    handle is a 404 and a disabled account a 409, naming them, and no token is issued."""
    body = call.body
    issued = await call.services.admin_users.issue_tokens(
        body.handles, ttl_seconds=body.ttl_seconds, by=call.who.label
    )
    return AdminTokensOut(
        tokens=[
            AdminTokenOut(
                handle=t.handle, user_id=str(t.user_id), access_token=t.access_token, expires_at=t.expires_at
            )
            for t in issued
        ]
    )
