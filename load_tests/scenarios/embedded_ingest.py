"""``gamif load embedded-ingest``: does a big ingest stall an embedded hub's sockets? An embedded ``gamif
serve`` (SQLite in a throwaway data directory, no Redis: it scores what it ingests on the event loop that
serves the sockets) holds N sessions, each on its own ``user:`` topic and pinging every ``--ping-every``;
after a quiet spell an integration POSTs E events for them to ``/api/v1/metrics``, in requests of
``--batch`` events, one after another. The run waits until every event's XP has reached its user's
screen. Measures ping round trips while that scoring goes on (``ping``; before it: ``ping_quiet``), the
time from the first POST to the last event on screen, and each event's own (``screen``).

    gamif load embedded-ingest --sessions 500 --events 5000 --slo 'p99<50ms,errors=0'
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from load_tests.fanout.targets import TargetError
from load_tests.kit import slo
from load_tests.kit.embedded_stack import EmbeddedStack
from load_tests.kit.histograms import new_histogram
from load_tests.kit.target import OwnStack
from load_tests.kit.vu import INGEST_MAX_EVENTS, INGEST_METRIC, INGEST_PER_DAY
from load_tests.pipeline.stack import check_status

from . import common

DEFAULT_SLO = "p99<50ms,errors=0"
"""Issue 17: a 5,000-event ingest while 500 sessions ping keeps ping p99 under 50 ms; and every event
reaches its screen."""


def parse(argv: Sequence[str] | None, prog: str) -> tuple[Any, list[slo.Check]]:
    parser = common.parser(prog, __doc__)
    parser.add_argument("--sessions", type=common.positive, default=500, help="sessions, one user each (500)")
    parser.add_argument("--events", type=common.positive, default=5_000, help="events ingested (5000)")
    parser.add_argument(
        "--batch", type=common.positive, default=1_000, help="events a request (1000: the API's default most)"
    )
    parser.add_argument(
        "--ping-every", type=common.duration, default=0.25, help="each session pings this often (250ms)"
    )
    parser.add_argument(
        "--quiet", type=common.duration, default=3.0, help="pinging before the ingest: the baseline (3s)"
    )
    common.add_common(parser)
    parser.set_defaults(slo=DEFAULT_SLO)
    args = parser.parse_args(argv)
    checks = common.finish_parsing(parser, args)
    if args.target is not None:
        parser.error("embedded-ingest runs an embedded hub of its own (--target is not supported)")
    if args.events > args.sessions * INGEST_MAX_EVENTS:
        parser.error(f"at most {INGEST_MAX_EVENTS} events a session (older ones are refused)")
    if args.ping_every <= 0:
        parser.error("--ping-every must be positive")
    return args, checks


def requests_for(handles: Sequence[str], events: int, batch: int, run_id: str) -> list[list[dict[str, Any]]]:
    """The integration's requests: event i for user ``i % len(handles)``, a user's k-th dated ``k // 10``
    days back (ten a day always award XP: every event is answered on its screen)."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    out: list[dict[str, Any]] = []
    for index in range(events):
        k = index // len(handles)
        out.append(
            {
                "id": f"{run_id}-{index}",
                "user": handles[index % len(handles)],
                "metric": INGEST_METRIC,
                "value": 1,
                "occurred_at": (now - timedelta(days=k // INGEST_PER_DAY)).isoformat(),
            }
        )
    return [out[start : start + batch] for start in range(0, events, batch)]


async def go(args: Any, checks: list[slo.Check]) -> dict[str, Any]:
    target = OwnStack(EmbeddedStack(), "embedded-ingest")
    run_id = f"ei{datetime.now(UTC):%H%M%S}"

    async def body(context: common.Context) -> tuple[Any, Any, dict[str, Any]]:
        run, swarm, stack = context.run, context.swarm, target.stack
        users = context.users
        specs = common.specs(
            users,
            args.sessions,
            lambda _, user: (f"user:{user.user_id}",),
            lambda _, __: 0.0,
            run_id,
            args.ping_every,
        )
        await swarm.ping_histogram(None)  # the ramp is connect's to measure, not ping's
        await common.open_all(context, specs)
        run.status = lambda: "quiet"
        await swarm.ping_histogram("ping_quiet")
        await common.hold(context, args.quiet)

        requests = requests_for([user.handle for user in users], args.events, args.batch, run_id)
        by_user = Counter(users[index % len(users)].user_id for index in range(args.events))
        run.status = lambda: "scoring"
        await swarm.ping_histogram("ping")
        started_wall, started = time.time(), time.monotonic()
        expected = await swarm.expect(dict(by_user), started_wall)
        posts = new_histogram()
        accepted = 0
        headers = {"X-API-Key": stack.api_key}
        async with stack.http() as client:
            for events in requests:
                sent = time.monotonic()
                answer = await client.post("/api/v1/metrics", json={"events": events}, headers=headers)
                check_status(answer, 202, "ingesting events")
                posts.record_value(max(1, int((time.monotonic() - sent) * 1_000_000)))
                accepted += sum(1 for item in answer.json()["events"] if item["status"] == "accepted")
        posted_s = time.monotonic() - started
        if accepted != args.events:
            raise TargetError(f"the hub accepted {accepted} of {args.events} events")
        # Every event's XP on its user's screen: scored, committed and published.
        deadline = started + args.drain
        left = await swarm.unanswered()
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            left = await swarm.unanswered()
        scored_s = time.monotonic() - started
        await swarm.ping_histogram("ping_after")
        common.say(
            f"embedded-ingest: {accepted:,} events posted in {posted_s:.2f} s; "
            + (f"{left:,} never reached their screen" if left else f"all on screens after {scored_s:.2f} s")
        )
        if left:
            run.warnings.append(f"{left} events never reached their screen within {args.drain:.0f} s")
        await common.end(context)
        run.histograms["post"] = posts
        totals = run.totals
        extra = {
            "sessions": args.sessions,
            "events": args.events,
            "requests": len(requests),
            "events_accepted": accepted,
            "events_expected_on_screens": expected,
            "events_answered": totals.events_answered,
            "events_never_answered": left,
            "posting_s": round(posted_s, 3),
            "time_to_score_all_s": round(scored_s, 3) if not left else None,
            "scored_events_per_s": round(args.events / scored_s, 1) if not left else None,
            "deliveries": totals.deliveries,
        }
        return common.counters(run, left), common.rates(run), extra

    return await common.execute(
        args,
        checks,
        scenario="embedded-ingest",
        title=(
            f"Embedded ingest: {args.events:,} events posted while {args.sessions:,} sessions ping "
            f"every {args.ping_every * 1000:g} ms"
        ),
        users=args.sessions,
        teams=0,
        scoring=True,
        default_latency="ping",
        latency_notes=common.notes(
            "ping",
            "screen",
            "connect",
            ping="ping -> pong, while the ingested events are being scored",
            screen="first POST of the ingest -> that event's XP on its user's screen",
        )
        | {
            "ping_quiet": "ping -> pong, before the ingest (the baseline)",
            "ping_after": "ping -> pong, once everything was scored",
            "post": "POST /api/v1/metrics -> its 202 (the batch kept, queued for scoring)",
        },
        body=body,
        target=target,
    )


def main(argv: Sequence[str] | None = None, prog: str = "gamif load embedded-ingest") -> int:
    return common.main_for(parse, go, argv, prog)
