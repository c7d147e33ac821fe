"""/leaderboards: pages of a board's ranking, the rows around a user, and team standings."""

from __future__ import annotations

from persistence.leaderboards import Period, cast_period
from server.api.endpoints import Call
from server.api.problems import FieldError, Problem
from server.api.registry import api
from server.api.schemas_boards import (
    BoardOut,
    BoardQuery,
    BoardRowOut,
    TeamBoardOut,
    TeamBoardQuery,
    TeamStandingOut,
)
from server.api.services import Services
from server.services.boards.reads import BoardRow, LeaderboardReads


def _reads(services: Services) -> LeaderboardReads:
    return LeaderboardReads(services.live.directory)


def _period(value: str) -> Period:
    try:
        return cast_period(value)
    except ValueError:
        error = FieldError(field="period", message="must be daily, weekly, monthly or all_time", code="enum")
        detail = "invalid path: period"
        raise Problem(422, "validation", "Invalid request", detail, errors=[error]) from None


def _row(row: BoardRow) -> BoardRowOut:
    return BoardRowOut(
        rank=row.rank, member=row.member, handle=row.handle, display_name=row.display_name, score=row.score
    )


@api.route(
    "GET",
    "/leaderboards/teams",
    summary="Teams ranked by their current members' XP",
    tag="leaderboards",
    query=TeamBoardQuery,
    response=TeamBoardOut,
)
async def get_team_standings(call: Call[None, TeamBoardQuery]) -> TeamBoardOut:
    """Teams that are not archived, by the total XP of their current members: `weekly` (this UTC week) or
    `all_time`, the same numbers as the `team:{slug}` topics' `totals`."""
    query = call.query
    standings = await _reads(call.services).teams(query.period)
    return TeamBoardOut(
        period=query.period,
        teams=[
            TeamStandingOut(rank=s.rank, slug=s.slug, name=s.name, members=s.members, score=s.score)
            for s in standings
        ],
    )


@api.route(
    "GET",
    "/leaderboards/{board}/{period}",
    summary="A leaderboard: a page of its ranking, or the rows around a user",
    tag="leaderboards",
    query=BoardQuery,
    response=BoardOut,
    errors=(404,),
    path_schemas={"period": {"type": "string", "enum": ["daily", "weekly", "monthly", "all_time"]}},
)
async def get_leaderboard(call: Call[None, BoardQuery]) -> BoardOut:
    """`board` is `xp` or a metric of the current rules; `period` is `daily`, `weekly`, `monthly` or
    `all_time` (UTC). Ranks and scores are those of the live `leaderboard:{board}:{period}` topic. With
    `around` (a handle, or `me`): that user's row as `me` (null when unranked: then no rows) and `radius`
    rows either side; else `limit` rows from place `offset`."""
    query = call.query
    board, period = call.path["board"], _period(call.path["period"])
    reads = _reads(call.services)
    if query.around is None:
        view = await reads.page(board, period, query.offset, query.limit)
    else:
        handle = None if query.around == "me" else query.around
        view = await reads.around(board, period, handle, call.who.id, query.radius)
    return BoardOut(
        board=view.board,
        period=view.period,
        period_start=view.start,
        period_end=view.end,
        ranked=view.ranked,
        rows=[_row(row) for row in view.rows],
        me=None if view.me is None else _row(view.me),
    )
