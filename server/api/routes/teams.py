"""/teams: everyone lists and reads; admins create, edit, archive and manage members."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import MemberOut, Page, TeamDetailOut, TeamIn, TeamOut, TeamPatch, TeamsQuery
from server.services.people.teams import TeamView


def team_out(view: TeamView) -> TeamOut:
    team = view.team
    return TeamOut(
        slug=team.slug,
        name=team.name,
        description=team.description,
        created_at=team.created_at,
        archived_at=team.archived_at,
        members=view.members,
    )


@api.route("GET", "/teams", summary="List teams", tag="teams", query=TeamsQuery, response=Page[TeamOut])
async def list_teams(call: Call[None, TeamsQuery]) -> Page[TeamOut]:
    query = call.query
    views, next_cursor = await call.services.teams.page(query.cursor, query.limit, query.include_archived)
    return Page[TeamOut](items=[team_out(v) for v in views], next_cursor=next_cursor)


@api.route(
    "POST",
    "/teams",
    summary="Create a team",
    tag="teams",
    auth="admin",
    body=TeamIn,
    response=TeamOut,
    status=201,
    errors=(409,),
)
async def create_team(call: Call[TeamIn, None]) -> TeamOut:
    body = call.body
    return team_out(await call.services.teams.create(body.slug, body.name, body.description))


@api.route(
    "GET",
    "/teams/{slug}",
    summary="A team and its current members",
    tag="teams",
    response=TeamDetailOut,
    errors=(404,),
)
async def get_team(call: Call[None, None]) -> TeamDetailOut:
    view, members = await call.services.teams.get(call.path["slug"])
    return TeamDetailOut(
        **team_out(view).model_dump(),
        member_list=[
            MemberOut(handle=m.handle, display_name=m.display_name, joined_at=m.joined_at) for m in members
        ],
    )


@api.route(
    "PATCH",
    "/teams/{slug}",
    summary="Rename or describe a team",
    tag="teams",
    auth="admin",
    body=TeamPatch,
    response=TeamOut,
    errors=(404, 409),
)
async def update_team(call: Call[TeamPatch, None]) -> TeamOut:
    body = call.body
    return team_out(await call.services.teams.update(call.path["slug"], body.name, body.description))


@api.route(
    "POST",
    "/teams/{slug}/archive",
    summary="Archive a team (kept for history)",
    tag="teams",
    auth="admin",
    response=TeamOut,
    errors=(404,),
)
async def archive_team(call: Call[None, None]) -> TeamOut:
    return team_out(await call.services.teams.archive(call.path["slug"]))


@api.route(
    "PUT",
    "/teams/{slug}/members/{handle}",
    summary="Add a member (from now on)",
    tag="teams",
    auth="admin",
    status=204,
    errors=(404, 409),
)
async def add_member(call: Call[None, None]) -> None:
    await call.services.teams.add_member(call.path["slug"], call.path["handle"])


@api.route(
    "DELETE",
    "/teams/{slug}/members/{handle}",
    summary="Remove a member (from now on)",
    tag="teams",
    auth="admin",
    status=204,
    errors=(404,),
)
async def remove_member(call: Call[None, None]) -> None:
    await call.services.teams.remove_member(call.path["slug"], call.path["handle"])
