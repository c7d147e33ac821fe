"""Admin-only: service accounts for integrations."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import ServiceAccountIn, ServiceAccountOut


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
