"""``gamif load idle-soak``: N sessions held for a long time with heartbeats only (the dashboard left open
all day), the hub's memory sampled every interval. Measures ping->pong round trips, memory per session
(resident memory added by opening them) and its drift while idle (a leak shows as growth), and every
close the hub makes (there should be none).

    gamif load idle-soak --connections 2000 --duration 10m
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from load_tests.fanout import procfs
from load_tests.kit import slo

from . import common


def parse(argv: Sequence[str] | None, prog: str) -> tuple[Any, list[slo.Check]]:
    parser = common.parser(prog, __doc__)
    parser.add_argument("--connections", type=common.positive, default=1_000, help="sessions (1000)")
    parser.add_argument("--duration", type=common.duration, default=300.0, help="idle time (5m)")
    parser.add_argument(
        "--ping-every",
        type=common.duration,
        default=0.0,
        help="ping this often (default: as the heartbeat needs, half of welcome.heartbeat_ms quiet)",
    )
    common.add_common(parser)
    args = parser.parse_args(argv)
    return args, common.finish_parsing(parser, args)


async def go(args: Any, checks: list[slo.Check]) -> dict[str, Any]:
    async def body(context: common.Context) -> tuple[Any, Any, dict[str, Any]]:
        run = context.run
        pids = context.target.server_pids
        before = round(sum(procfs.memory(pid).rss_kib for pid in pids) / 1024, 1) if pids else None
        specs = common.specs(
            context.users,
            args.connections,
            lambda _, user: (f"user:{user.user_id}",),
            lambda _, __: 0.0,
            f"soak{run.started_at:%H%M%S}",
            args.ping_every,
        )
        await common.open_all(context, specs)
        opened_at = len(run.rss_mb)
        run.status = lambda: "idle"
        started = time.monotonic()
        await common.hold(context, args.duration)
        idle = time.monotonic() - started
        await common.end(context)
        rss = run.rss_mb
        extra: dict[str, Any] = {"connections": args.connections, "idle_s": round(idle, 1)}
        if rss and before is not None and opened_at:
            after_open, end = rss[opened_at - 1], rss[-2] if len(rss) > 1 else rss[-1]
            extra.update(
                {
                    "server_rss_mb_before": before,
                    "server_rss_mb_after_open": after_open,
                    "server_rss_mb_end_of_idle": end,
                    "kib_per_session": round((after_open - before) * 1024 / args.connections, 1),
                    "idle_growth_mb": round(end - after_open, 1),
                }
            )
        return common.counters(run), common.rates(run), extra

    return await common.execute(
        args,
        checks,
        scenario="idle-soak",
        title=f"Idle soak: {args.connections:,} sessions idle for {args.duration:g} s",
        users=args.connections,
        teams=0,
        scoring=False,
        default_latency="ping",
        latency_notes=common.notes("ping", "connect", ping="ping -> pong, heartbeats only"),
        body=body,
    )


def main(argv: Sequence[str] | None = None, prog: str = "gamif load idle-soak") -> int:
    return common.main_for(parse, go, argv, prog)
