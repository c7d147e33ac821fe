"""``gamif load challenge``: a live team challenge under load. T teams of members report events over their
own sessions (think times between them, exponential around ``--think``) while watching their own topic
and the challenge's scoreboard; spectators (in no team) watch the scoreboard only. Measures scoreboard
delta latency (published -> a screen holds it, every delivery), event -> screen on the members' own
topics, and missed or duplicated deltas by offsets.

    gamif load challenge --teams 10 --members 1000 --spectators 1000 --duration 60s
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from load_tests.fanout.targets import TargetError
from load_tests.kit import slo
from load_tests.kit.target import LoadUser, OwnStack, Target
from load_tests.pipeline.stack import check_status

from . import common

METRIC = "tickets_closed"  # players report it themselves


def parse(argv: Sequence[str] | None, prog: str) -> tuple[Any, list[slo.Check]]:
    parser = common.parser(prog, __doc__)
    parser.add_argument("--teams", type=common.positive, default=10, help="competing teams (10)")
    parser.add_argument("--members", type=common.positive, default=1_000, help="members, reporting (1000)")
    parser.add_argument("--spectators", type=int, default=1_000, help="scoreboard watchers (1000)")
    parser.add_argument("--think", type=common.duration, default=10.0, help="members' mean think time (10s)")
    parser.add_argument("--duration", type=common.duration, default=60.0, help="after ramp-up (60s)")
    parser.add_argument(
        "--challenge", default=None, help="with --target: the id of a live challenge on its teams' metric"
    )
    common.add_common(parser)
    args = parser.parse_args(argv)
    checks = common.finish_parsing(parser, args)
    if args.spectators < 0:
        parser.error("--spectators must be 0 or more")
    if args.members < args.teams:
        parser.error("--members must be at least --teams")
    if args.target is not None and args.challenge is None:
        parser.error("--target needs --challenge (the kit creates one only on a stack of its own)")
    return args, checks


async def go(args: Any, checks: list[slo.Check]) -> dict[str, Any]:
    run_id = f"lc{datetime.now(UTC):%H%M%S}"
    challenge_id = args.challenge or f"load-{run_id}"
    topic = f"challenge:{challenge_id}"

    async def create_challenge(target: Target, users: list[LoadUser]) -> None:
        if not isinstance(target, OwnStack):
            return  # a running hub: --challenge names one
        now = datetime.now(UTC)
        body = {
            "id": challenge_id,
            "name": f"Load challenge {run_id}",
            "metrics": [METRIC],
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "teams": target.team_slugs,
            "rewards": [{"rank": 1, "xp": 100}],
        }
        headers = {"Authorization": f"Bearer {target.stack.admin_token}"}
        async with target.stack.http() as client:
            answer = await client.post("/api/v1/challenges", json=body, headers=headers)
            check_status(answer, 201, "creating the challenge")
        if not target.team_slugs:
            raise TargetError("no teams were created")

    def topics(index: int, user: LoadUser) -> tuple[str, ...]:
        return (f"user:{user.user_id}", topic) if index < args.members else (topic,)

    async def body(context: common.Context) -> tuple[Any, Any, dict[str, Any]]:
        run = context.run
        specs = common.specs(
            context.users,
            args.members + args.spectators,
            topics,
            lambda index, _: args.think if index < args.members else 0.0,
            run_id,
            backdate=False,
        )
        unanswered = await common.run_then_drain(context, specs, args.duration, "competing")
        totals = run.totals
        extra = {
            "teams": args.teams,
            "members": args.members,
            "spectators": args.spectators,
            "challenge": challenge_id,
            "events_answered": totals.events_answered,
            "events_never_answered": unanswered,
            "deliveries": totals.deliveries,
            "stream_resets": totals.resets,
        }
        return common.counters(run, unanswered), common.rates(run), extra

    return await common.execute(
        args,
        checks,
        scenario="challenge",
        title=(
            f"Team challenge: {args.teams} teams, {args.members:,} members reporting, "
            f"{args.spectators:,} spectators"
        ),
        users=args.members + args.spectators,
        teams=args.teams,
        members=args.members,
        prepare=create_challenge,
        scoring=True,
        default_latency="scoreboard",
        latency_notes=common.notes(
            "scoreboard",
            "screen",
            "delivery",
            "ingest",
            "connect",
            "ping",
            screen="event sent by a member -> its XP on that member's screen",
        ),
        body=body,
    )


def main(argv: Sequence[str] | None = None, prog: str = "gamif load challenge") -> int:
    return common.main_for(parse, go, argv, prog)
