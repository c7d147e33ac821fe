"""``gamif load dashboard``: the day-long dashboard, many times over. Each virtual user subscribes to its
own ``user:`` topic, its team's and a leaderboard; a share of them report metric events over the socket
(``ingest``) with think times between them (exponential, around ``--think``); all of them ping to stay
alive. Measures event->screen latency (each event stamped when its user sends it, answered when its
``xp_awarded`` reaches that user's screen), deliveries, and missed or duplicated deltas by offsets.

    gamif load dashboard --users 500 --duration 30s --slo 'p99<500ms,errors=0,missed=0'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from load_tests.kit import slo
from load_tests.kit.target import LoadUser

from . import common

BOARD = "leaderboard:xp:weekly"


def parse(argv: Sequence[str] | None, prog: str) -> tuple[Any, list[slo.Check]]:
    parser = common.parser(prog, __doc__)
    parser.add_argument("--users", type=common.positive, default=500, help="virtual users (500)")
    parser.add_argument("--duration", type=common.duration, default=60.0, help="after ramp-up (60s)")
    parser.add_argument(
        "--ingest-share", type=common.share, default=0.2, help="share of users who report events (0.2)"
    )
    parser.add_argument("--think", type=common.duration, default=10.0, help="mean think time (10s)")
    parser.add_argument("--team-size", type=common.positive, default=20, help="users a team (20)")
    common.add_common(parser)
    args = parser.parse_args(argv)
    return args, common.finish_parsing(parser, args)


async def go(args: Any, checks: list[slo.Check]) -> dict[str, Any]:
    teams = 0 if args.target else max(1, args.users // args.team_size)
    ingesters = round(args.users * args.ingest_share)

    def topics(index: int, user: LoadUser) -> tuple[str, ...]:
        team = (f"team:{user.team}",) if user.team else ()
        return (f"user:{user.user_id}", *team, BOARD)

    async def body(context: common.Context) -> tuple[Any, Any, dict[str, Any]]:
        run = context.run
        specs = common.specs(
            context.users,
            args.users,
            topics,
            lambda index, _: args.think if index < ingesters else 0.0,
            f"dash{run.started_at:%H%M%S}",
        )
        unanswered = await common.run_then_drain(context, specs, args.duration, "holding")
        totals = run.totals
        extra = {
            "users": args.users,
            "teams": teams,
            "ingesting_users": ingesters,
            "events_sent_answered": totals.events_answered,
            "events_accepted": totals.ingested,
            "events_never_answered": unanswered,
            "deliveries": totals.deliveries,
            "stream_resets": totals.resets,
        }
        return common.counters(run, unanswered), common.rates(run), extra

    return await common.execute(
        args,
        checks,
        scenario="dashboard",
        title=f"Dashboard mix: {args.users:,} users ({ingesters:,} reporting) for {args.duration:g} s",
        users=args.users,
        teams=teams,
        scoring=True,
        default_latency="screen",
        latency_notes=common.notes("screen", "ingest", "delivery", "connect", "ping"),
        body=body,
    )


def main(argv: Sequence[str] | None = None, prog: str = "gamif load dashboard") -> int:
    return common.main_for(parse, go, argv, prog)
