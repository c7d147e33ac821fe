"""``gamif load reconnect-storm``: N sessions live (a share of their users reporting events, so deltas
flow), then X % of the connections drop at once (TCP resets: a network blip, a load balancer restart);
each dropped session reconnects at once and resumes its topics with ``since`` (PROTOCOL.md §12).
Measures time to resume (drop -> every topic subscribed again), the share of topics recovered from the
delta history rather than re-sent as snapshots, and that no delta was missed or duplicated across it.

    gamif load reconnect-storm --connections 1000 --drop 50% --warmup 10s --after 20s
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from load_tests.kit import slo

from . import common

BOARD = "leaderboard:xp:all_time"


def parse(argv: Sequence[str] | None, prog: str) -> tuple[Any, list[slo.Check]]:
    parser = common.parser(prog, __doc__)
    parser.add_argument("--connections", type=common.positive, default=1_000, help="sessions (1000)")
    parser.add_argument("--drop", type=common.share, default=0.5, help="share dropped at once (50%%)")
    parser.add_argument("--warmup", type=common.duration, default=10.0, help="live before the drop (10s)")
    parser.add_argument("--after", type=common.duration, default=15.0, help="live after resuming (15s)")
    parser.add_argument(
        "--ingest-share", type=common.share, default=0.1, help="share of users reporting events (0.1)"
    )
    parser.add_argument("--think", type=common.duration, default=5.0, help="their mean think time (5s)")
    common.add_common(parser)
    args = parser.parse_args(argv)
    return args, common.finish_parsing(parser, args)


async def go(args: Any, checks: list[slo.Check]) -> dict[str, Any]:
    ingesters = round(args.connections * args.ingest_share)

    async def body(context: common.Context) -> tuple[Any, Any, dict[str, Any]]:
        run = context.run
        specs = common.specs(
            context.users,
            args.connections,
            lambda _, user: (f"user:{user.user_id}", BOARD),
            lambda index, _: args.think if index < ingesters else 0.0,
            f"rec{run.started_at:%H%M%S}",
        )
        await common.open_all(context, specs)
        run.status = lambda: "warming up"
        await common.hold(context, args.warmup)
        before = run.totals.recovered, run.totals.resnapshotted
        dropped = await context.swarm.drop(args.drop)
        dropped_at = time.monotonic()
        run.status = lambda: f"resuming {dropped:,} dropped"
        resumed = await run.until(
            lambda totals: totals.resumed + totals.resume_failed >= dropped,
            120.0,
            "every dropped session resumed",
        )
        resume_s = time.monotonic() - dropped_at
        run.status = lambda: "after the storm"
        await common.hold(context, args.after)
        run.status = lambda: "draining"
        unanswered = await common.drain(context)
        await common.end(context)
        totals = run.totals
        recovered = totals.recovered - before[0]
        snapshots = totals.resnapshotted - before[1]
        extra = {
            "connections": args.connections,
            "dropped": dropped,
            "all_resumed": resumed and run.totals.resume_failed == 0,
            "resume_failed": run.totals.resume_failed,
            "all_resumed_within_s": round(resume_s, 2) if resumed else None,
            "topics_recovered": recovered,
            "topics_resnapshotted": snapshots,
            "recovered_share": round(recovered / (recovered + snapshots), 4)
            if recovered + snapshots
            else None,
            "events_answered": totals.events_answered,
            "events_in_flight_at_the_drop": totals.in_flight_at_drop,
            "events_never_answered": unanswered,
        }
        return common.counters(run, unanswered), common.rates(run), extra

    return await common.execute(
        args,
        checks,
        scenario="reconnect-storm",
        title=(f"Reconnect storm: {args.drop:.0%} of {args.connections:,} sessions dropped at once, resumed"),
        users=args.connections,
        teams=0,
        scoring=True,
        default_latency="resume",
        latency_notes=common.notes(
            "resume",
            "connect",
            "delivery",
            "screen",
            "ingest",
            "ping",
            connect="first connect: TCP connect -> authenticated, every topic subscribed",
        ),
        body=body,
    )


def main(argv: Sequence[str] | None = None, prog: str = "gamif load reconnect-storm") -> int:
    return common.main_for(parse, go, argv, prog)
