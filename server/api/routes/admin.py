"""Admin-only: service accounts for integrations, and announcements."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import AnnouncementIn, AnnouncementOut, ServiceAccountIn, ServiceAccountOut


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
