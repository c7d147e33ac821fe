"""Admin-only: service accounts for integrations, and announcements."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import (
    AnnouncementIn,
    AnnouncementOut,
    HubStatsOut,
    ServiceAccountIn,
    ServiceAccountOut,
)


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
async def create_service_account(call: Call) -> ServiceAccountOut:
    body: ServiceAccountIn = call.body
    account, key = await call.service("accounts").create_service_account(
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
async def announce(call: Call) -> AnnouncementOut:
    body: AnnouncementIn = call.body
    audience, topics = await call.service("announcements").announce(
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
async def hub_stats(call: Call) -> HubStatsOut:
    hub = call.service("hub")
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
