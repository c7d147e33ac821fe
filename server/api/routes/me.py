"""/me and public profiles."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import (
    LedgerItem,
    NotificationOut,
    NotificationsOut,
    NotificationsQuery,
    Page,
    PageQuery,
)
from server.services.people.read_models import MeOut, ProfileOut


@api.route(
    "GET", "/me", summary="My XP, level, badges, streaks, missions and teams", tag="me", response=MeOut
)
async def get_me(call: Call[None, None]) -> MeOut:
    services = call.services
    engine = await services.rules.engine()
    return await services.profiles.me(engine, call.who.id)


@api.route(
    "GET",
    "/me/ledger",
    summary="My XP ledger, newest first, each line explained",
    tag="me",
    query=PageQuery,
    response=Page[LedgerItem],
)
async def get_my_ledger(call: Call[None, PageQuery]) -> Page[LedgerItem]:
    query = call.query
    rows, next_cursor = await call.services.profiles.ledger(call.who.id, query.cursor, query.limit)
    return Page[LedgerItem](items=[LedgerItem.model_validate(row) for row in rows], next_cursor=next_cursor)


@api.route(
    "GET",
    "/users/{handle}",
    summary="A user's public profile",
    tag="profiles",
    response=ProfileOut,
    errors=(404,),
)
async def get_profile(call: Call[None, None]) -> ProfileOut:
    services = call.services
    engine = await services.rules.engine()
    return await services.profiles.profile(engine, call.path["handle"])


@api.route(
    "GET",
    "/me/notifications",
    summary="My notifications (level-ups, badges, missions), newest first",
    tag="me",
    query=NotificationsQuery,
    response=NotificationsOut,
)
async def get_my_notifications(call: Call[None, NotificationsQuery]) -> NotificationsOut:
    query = call.query
    views = await call.services.notifications.recent(call.who.id, unread_only=query.unread, limit=query.limit)
    return NotificationsOut(
        items=[
            NotificationOut(id=v.id, kind=v.kind, data=v.data, created_at=v.created_at, read_at=v.read_at)
            for v in views
        ]
    )


@api.route(
    "POST",
    "/me/notifications/{notification_id:int}/read",
    summary="Mark a notification read",
    tag="me",
    status=204,
    errors=(404,),
)
async def read_notification(call: Call[None, None]) -> None:
    await call.services.notifications.mark_read(call.who.id, int(call.path["notification_id"]))
