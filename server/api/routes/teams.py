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
async def list_teams(call: Call) -> Page[TeamOut]:
    query: TeamsQuery = call.query
    views, next_cursor = await call.service("teams").page(query.cursor, query.limit, query.include_archived)
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
async def create_team(call: Call) -> TeamOut:
    body: TeamIn = call.body
    return team_out(await call.service("teams").create(body.slug, body.name, body.description))


@api.route(
    "GET",
    "/teams/{slug}",
    summary="A team and its current members",
    tag="teams",
    response=TeamDetailOut,
    errors=(404,),
)
async def get_team(call: Call) -> TeamDetailOut:
    view, members = await call.service("teams").get(call.path["slug"])
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
async def update_team(call: Call) -> TeamOut:
    body: TeamPatch = call.body
    return team_out(await call.service("teams").update(call.path["slug"], body.name, body.description))


@api.route(
    "POST",
    "/teams/{slug}/archive",
    summary="Archive a team (kept for history)",
    tag="teams",
    auth="admin",
    response=TeamOut,
    errors=(404,),
)
async def archive_team(call: Call) -> TeamOut:
    return team_out(await call.service("teams").archive(call.path["slug"]))


@api.route(
    "PUT",
    "/teams/{slug}/members/{handle}",
    summary="Add a member (from now on)",
    tag="teams",
    auth="admin",
    status=204,
    errors=(404, 409),
)
async def add_member(call: Call) -> None:
    await call.service("teams").add_member(call.path["slug"], call.path["handle"])


@api.route(
    "DELETE",
    "/teams/{slug}/members/{handle}",
    summary="Remove a member (from now on)",
    tag="teams",
    auth="admin",
    status=204,
    errors=(404,),
)
async def remove_member(call: Call) -> None:
    await call.service("teams").remove_member(call.path["slug"], call.path["handle"])
