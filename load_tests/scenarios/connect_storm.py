"""``gamif load connect-storm``: N sessions open at a steady ramp rate, each authenticating and
subscribing to its user's topic; the ramp does not wait for the hub (a storm is open-loop). Measures
connect time (TCP connect -> authenticated, snapshot held), failures and close codes.

    gamif load connect-storm --connections 2000 --rate 500
    gamif load connect-storm --connections 500 --rate 250 --slo 'errors=0,connect:p99<1s'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from load_tests.kit import slo

from . import common


def parse(argv: Sequence[str] | None, prog: str) -> tuple[Any, list[slo.Check]]:
    parser = common.parser(prog, __doc__)
    parser.add_argument("--connections", type=common.positive, default=2_000, help="sessions (2000)")
    parser.add_argument(
        "--players", type=common.positive, default=None, help="load users, shared by the sessions (one each)"
    )
    parser.add_argument("--hold", type=common.duration, default=0.0, help="keep them open after (0)")
    common.add_common(parser, rate=500.0)
    args = parser.parse_args(argv)
    return args, common.finish_parsing(parser, args)


async def go(args: Any, checks: list[slo.Check]) -> dict[str, Any]:
    players = min(args.players or args.connections, args.connections)

    async def body(context: common.Context) -> tuple[Any, Any, dict[str, Any]]:
        run = context.run
        specs = common.specs(
            context.users,
            args.connections,
            lambda _, user: (f"user:{user.user_id}",),
            lambda _, __: 0.0,
            f"storm{run.started_at:%H%M%S}",
        )
        run.status = lambda: f"opening at {args.rate:,.0f}/s"
        await common.open_all(context, specs)
        opened_in = run.series["t_s"][-1] if run.series["t_s"] else 0.0
        if args.hold > 0:
            run.status = lambda: "holding"
            await common.hold(context, args.hold)
        await run.sample_now()
        totals = run.totals
        extra = {
            "connections": args.connections,
            "players": players,
            "opened": totals.opened,
            "failed": totals.failed,
            "open_at_end": totals.open_now,
            "opened_per_s": round(totals.opened / opened_in, 1) if opened_in else None,
        }
        await common.end(context)
        return common.counters(run), common.rates(run), extra

    return await common.execute(
        args,
        checks,
        scenario="connect-storm",
        title=f"Connect storm: {args.connections:,} sessions at {args.rate:,.0f}/s",
        users=players,
        teams=0,
        scoring=False,
        default_latency="connect",
        latency_notes=common.notes(
            "connect", "ping", connect="TCP connect -> authenticated, subscribed (snapshot held)"
        ),
        body=body,
    )


def main(argv: Sequence[str] | None = None, prog: str = "gamif load connect-storm") -> int:
    return common.main_for(parse, go, argv, prog)
