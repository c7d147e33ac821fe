"""``gamif load fanout``: N subscribers of one leaderboard while events are ingested at R/s. A set of
reporting users (``--reporters``) send the events over their own sessions, spread evenly; every score
change moves the board, and every subscriber must receive every one of its deltas, in order.
Measures publish->screen latency for each delivery (the delta's ``at_ms``, stamped by the worker, to
the moment a subscriber holds it), event->screen latency on the reporters' own screens, deliveries/s,
and missed or duplicated deltas by offsets.

    gamif load fanout --subscribers 2000 --events-per-s 20 --duration 30s
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from load_tests.kit import slo
from load_tests.kit.target import LoadUser

from . import common

BOARD = "leaderboard:xp:all_time"  # every event moves it, whatever day it is dated


def parse(argv: Sequence[str] | None, prog: str) -> tuple[Any, list[slo.Check]]:
    parser = common.parser(prog, __doc__)
    parser.add_argument("--subscribers", type=common.positive, default=2_000, help="board subscribers (2000)")
    parser.add_argument("--events-per-s", type=float, default=20.0, help="events ingested a second (20)")
    parser.add_argument("--reporters", type=common.positive, default=50, help="users sending them (50)")
    parser.add_argument("--duration", type=common.duration, default=60.0, help="after ramp-up (60s)")
    parser.add_argument("--board", default=BOARD, help=f"the topic ({BOARD})")
    common.add_common(parser)
    args = parser.parse_args(argv)
    checks = common.finish_parsing(parser, args)
    if args.events_per_s <= 0:
        parser.error("--events-per-s must be positive")
    if args.reporters > args.subscribers:
        parser.error("--reporters are subscribers too: at most --subscribers")
    return args, checks


async def go(args: Any, checks: list[slo.Check]) -> dict[str, Any]:
    every = args.reporters / args.events_per_s  # each reporter's mean think time

    def topics(index: int, user: LoadUser) -> tuple[str, ...]:
        return (f"user:{user.user_id}", args.board) if index < args.reporters else (args.board,)

    async def body(context: common.Context) -> tuple[Any, Any, dict[str, Any]]:
        run = context.run
        specs = common.specs(
            context.users,
            args.subscribers,
            topics,
            lambda index, _: every if index < args.reporters else 0.0,
            f"fan{run.started_at:%H%M%S}",
        )
        unanswered = await common.run_then_drain(context, specs, args.duration, "ingesting")
        totals = run.totals
        extra = {
            "subscribers": args.subscribers,
            "reporters": args.reporters,
            "events_per_s_target": args.events_per_s,
            "events_answered": totals.events_answered,
            "events_never_answered": unanswered,
            "deliveries": totals.deliveries,
            "stream_resets": totals.resets,
        }
        return common.counters(run, unanswered), common.rates(run), extra

    return await common.execute(
        args,
        checks,
        scenario="fanout",
        title=(
            f"Fan-out: {args.subscribers:,} subscribers of {args.board} while "
            f"{args.events_per_s:g} events/s are ingested"
        ),
        users=args.subscribers,
        teams=0,
        scoring=True,
        default_latency="delivery",
        latency_notes=common.notes(
            "delivery",
            "screen",
            "ingest",
            "connect",
            "ping",
            delivery="delta published (at_ms) -> a subscriber holds it, every delivery",
            screen="event sent by a reporter -> its XP on that reporter's screen",
        ),
        body=body,
    )


def main(argv: Sequence[str] | None = None, prog: str = "gamif load fanout") -> int:
    return common.main_for(parse, go, argv, prog)
