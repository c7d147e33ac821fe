"""/badges: the badge catalogue of the current rules, as the caller sees it."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.services.people.badges_catalogue import BadgeCatalogue
from server.services.people.read_models import BadgeCatalogueOut


@api.route(
    "GET",
    "/badges",
    summary="Every badge of the current rules, with what I have earned",
    tag="me",
    response=BadgeCatalogueOut,
)
async def get_badges(call: Call[None, None]) -> BadgeCatalogueOut:
    """In rule order. A secret badge I have not earned is a locked placeholder (`hidden`: an opaque `id`,
    no name, description, tiers or criteria); once earned it shows in full."""
    services = call.services
    engine = await services.rules.engine()
    return await BadgeCatalogue(services.sessions).for_user(engine, call.who.id)
