"""/challenges: everyone signed in lists and reads them; admins define and edit them."""

from __future__ import annotations

import uuid

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import ChallengeIn, ChallengeOut, ChallengePatch, ChallengesQuery, Page
from server.services.challenges.service import ChallengeView


def challenge_out(view: ChallengeView) -> ChallengeOut:
    row = view.row
    return ChallengeOut(
        definition=view.definition,
        state=view.state,  # type: ignore[arg-type]  # one of ChallengeState, by construction
        version=row.version,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        results=row.results,
    )


@api.route(
    "GET",
    "/challenges",
    summary="List challenges (newest first by start)",
    tag="challenges",
    query=ChallengesQuery,
    response=Page[ChallengeOut],
)
async def list_challenges(call: Call[None, ChallengesQuery]) -> Page[ChallengeOut]:
    query = call.query
    views, next_cursor = await call.services.challenges.page(query.cursor, query.limit, query.state)
    return Page[ChallengeOut](items=[challenge_out(v) for v in views], next_cursor=next_cursor)


@api.route(
    "POST",
    "/challenges",
    summary="Define a challenge",
    tag="challenges",
    auth="admin",
    body=ChallengeIn,
    response=ChallengeOut,
    status=201,
    errors=(409,),
)
async def create_challenge(call: Call[ChallengeIn, None]) -> ChallengeOut:
    """The body is the definition. Refused (422, each field named) when it is malformed, names metrics,
    badges or teams that do not exist (or archived teams), or ends before now; 409 when the id is taken."""
    return challenge_out(await call.services.challenges.create(call.body, uuid.UUID(call.who.id)))


@api.route(
    "GET",
    "/challenges/{id}",
    summary="A challenge: definition, state, version, times, results",
    tag="challenges",
    response=ChallengeOut,
    errors=(404,),
)
async def get_challenge(call: Call[None, None]) -> ChallengeOut:
    return challenge_out(await call.services.challenges.get(call.path["id"]))


@api.route(
    "PATCH",
    "/challenges/{id}",
    summary="Edit a challenge",
    tag="challenges",
    auth="admin",
    body=ChallengePatch,
    response=ChallengeOut,
    errors=(404, 409),
)
async def update_challenge(call: Call[ChallengePatch, None]) -> ChallengeOut:
    """Send the `version` read and the fields to change. 409 when another edit came first (the current
    version is named) or the challenge is finished. Scheduled: anything but the id may change; live: only
    name, description, rewards, completion_reward and ends_at (later only), else 422 naming the field."""
    body = call.body
    view = await call.services.challenges.update(call.path["id"], body.version, body.changes())
    return challenge_out(view)
