"""The two runs of the pipeline benchmark.

**throughput**: queue ``rate x duration x 1.2`` events first (1,000-event batches, as fast as ingest
accepts them, no worker running), then start the worker processes and count ``metric_events`` rows once
a second: scored events/s over ``duration`` seconds from the first scored row. With several workers the
batches are laid out so that the workers score disjoint players (`Lanes`), and PostgreSQL's lock waits
are sampled every 100 ms meanwhile (`lock_watch.LockWatch`): whether workers wait on each other's locks.

**latency**: the worker running and ``subscribers`` hub sessions connected (several per player), events
posted at a fixed ``rate`` in small batches (every ``tick`` seconds, one event per player, players dealt
round-robin), and for each delta each session receives, event->screen = its arrival minus the POST's
start. A player's deltas answer their events in order, each as many as the metric XP it awards says
(`clients.events_answered`: the worker may score several of a player's events together); a
player's events are ``players / rate`` seconds apart, far longer than the pipeline takes.

Where the time goes is read from outside: POST->202 (ingest, the driver's clock); the queue is a Redis
stream whose entry ids are the milliseconds the API added them, and `QueueWatch` polls the consumer
group's last-delivered id to see when the worker fetched each (queue wait = XADD -> fetch); the delta's
``at_ms`` is when the worker published (fetch -> publish: taskiq's hand-over, the wait for a free
concurrency slot, scoring up to the publish); publish -> arrival is the fan-out (Redis pub/sub, the hub,
the socket). The commit happens after the publish (the worker publishes while it holds the row locks)
and is not visible from outside.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from load_tests.fanout import procfs
from load_tests.kit.histograms import new_histogram as histogram
from load_tests.kit.histograms import summary

from .clients import METRIC, ClientPool, ProcessReport, Session
from .lock_watch import LockWatch
from .queue_watch import QueueWatch
from .stack import Player, Stack

EVENTS_PER_DAY = 5
HISTORY_DAYS = 395  # ingest refuses events older than GAMIF_INGEST_MAX_AGE_DAYS (400)

Say = Callable[[str], None]


@dataclass(slots=True)
class Options:
    mode: str = "both"
    rate: float = 1_000.0
    throughput_rate: float = 5_000.0
    duration: float = 60.0
    subscribers: int = 2_000
    players: int = 250
    workers: int = 1
    concurrency: int = 200
    tick: float = 0.02
    client_procs: int = 2
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    drain_timeout: float = 60.0
    throughput_subscribers: int = 0
    lanes: int = 0
    """Throughput run: disjoint player lanes (`Lanes`); 0: twice the workers (one with one worker)."""


@dataclass(slots=True)
class Cpu:
    """CPU time of the processes that matter, sampled from /proc."""

    pids: dict[str, list[int]]
    started_wall: float = 0.0
    started: dict[str, float] = field(default_factory=dict)
    machine_started: float = 0.0
    last_seen: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        self.started_wall = time.monotonic()
        self.started = self._sample()
        self.machine_started = procfs.machine_busy_seconds()

    def _sample(self) -> dict[str, float]:
        sample = {"driver": time.process_time()}
        for name, pids in self.pids.items():
            total = 0.0
            for pid in pids:
                # A process gone since (a pooled PostgreSQL backend closed) counts with its last reading.
                with contextlib.suppress(OSError):
                    self.last_seen[pid] = procfs.cpu_seconds(pid)
                total += self.last_seen.get(pid, 0.0)
            if any(pid in self.last_seen for pid in pids):  # none readable (another PID namespace): left out
                sample[name] = total
        return sample

    def percent(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.started_wall, 1e-9)
        now = self._sample()
        shares = {
            name: round(100 * (now[name] - self.started.get(name, 0.0)) / wall, 1)
            for name in now
            if name in self.started
        }
        shares["machine"] = round(100 * (procfs.machine_busy_seconds() - self.machine_started) / wall, 1)
        return shares


async def background_load(seconds: float = 2.0) -> float:
    """How busy the machine is before a run starts (% of one core): other work skews every number."""
    before, started = procfs.machine_busy_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return round(100 * (procfs.machine_busy_seconds() - before) / (time.monotonic() - started), 1)


def cpu_warnings(cpu: dict[str, float]) -> list[str]:
    warnings = []
    if cpu.get("background_before_run", 0.0) > 25:
        warnings.append(
            f"the machine was already busy before the run ({cpu['background_before_run']:.0f}% of a core): "
            "other processes compete with the pipeline"
        )
    for name in ("driver", "clients"):
        per_process = cpu.get(name, 0.0) / (1 if name == "driver" else max(1, cpu.get("client_procs", 1)))
        if per_process > 85:
            warnings.append(f"the load generator ({name}) saturates a core ({per_process:.0f}%)")
    cores = os.cpu_count() or 1
    if cpu.get("machine", 0.0) > 90 * cores:
        warnings.append(
            f"the machine is saturated ({cpu['machine']:.0f}% of {cores} cores): "
            "load generator, server, worker, PostgreSQL and Redis share it"
        )
    return warnings


BATCH_EVENTS = 1_000
"""Events per queued batch in the throughput run (one POST each)."""
READ_BLOCK = 100
"""Stream entries one worker's read takes at once (the XREADGROUP count of taskiq-redis's stream
broker, which `tasks.broker.ReliableStreamBroker` keeps): what a worker holds is whole blocks."""


@dataclass(frozen=True, slots=True)
class Lanes:
    """Which player the run's event ``index`` goes to, and which of that player's events it is (``k``).

    One lane (the latency run, and a throughput run with one worker): player ``index % n``, so each
    1,000-event batch spans every player. Several lanes (a throughput run with several workers): the
    players are dealt into ``count`` disjoint lanes, and each block of `READ_BLOCK` consecutive batches,
    what one read of a worker takes, holds the players of one lane only, block after block in turn over
    the lanes. Workers read blocks in queue order, a worker holding at most about two at once (the one
    it finishes and the next), so with twice as many lanes as workers the blocks held at one moment are
    of different lanes: the workers score disjoint players. With one lane every batch spans all players,
    and two workers score the same players all the time, their transactions queued on the players' rows.
    """

    players: list[Player]
    count: int = 1

    def at(self, index: int) -> tuple[Player, int]:
        if self.count == 1:
            return self.players[index % len(self.players)], index // len(self.players)
        block_events = READ_BLOCK * BATCH_EVENTS
        block, within = divmod(index, block_events)
        lane = block % self.count
        mine = self.players[lane :: self.count]
        nth = (block // self.count) * block_events + within  # the lane's own event count before this one
        return mine[nth % len(mine)], nth // len(mine)

    def most_per_player(self, total: int) -> int:
        """The largest ``k`` + 1 among the first ``total`` events: a player's events are five a day, so
        this many must fit in the history ingest accepts."""
        if total <= 0:
            return 0
        block_events = READ_BLOCK * BATCH_EVENTS
        # A lane's k grows with its events: its largest is at the end of one of its blocks, or the last event.
        ends = [*range(block_events - 1, total - 1, block_events), total - 1]
        return max(self.at(index)[1] for index in ends) + 1

    @staticmethod
    def auto(players: list[Player], workers: int, total: int) -> Lanes:
        """Twice as many lanes as workers (one with one worker: the run's historical layout), no more
        than there are blocks of batches, nor than there are players."""
        if workers <= 1:
            return Lanes(players)
        blocks = -(-total // (READ_BLOCK * BATCH_EVENTS))
        return Lanes(players, max(1, min(2 * workers, blocks, len(players))))


def events_for(
    run_id: str, players: list[Player], start: int, count: int, base: datetime, lanes: Lanes | None = None
) -> list[Any]:
    """Events ``start .. start+count`` of the run: player ``i % n`` (or as ``lanes`` deal them), five a
    day forward from ``base`` per player, so that every event awards XP (the daily cap is never
    reached)."""
    events = []
    lanes = lanes or Lanes(players)
    for index in range(start, start + count):
        player, k = lanes.at(index)
        when = base + timedelta(days=k // EVENTS_PER_DAY, minutes=k % EVENTS_PER_DAY)
        events.append(
            {
                "id": f"{run_id}-{index}",
                "user": player.handle,
                "metric": METRIC,
                "value": 1,
                "occurred_at": when.isoformat(),
            }
        )
    return events


def _history_base() -> datetime:
    return (datetime.now(UTC) - timedelta(days=HISTORY_DAYS)).replace(hour=12, minute=0, second=0)


async def _post(client: httpx.AsyncClient, api_key: str, events: list[Any], attempts: int = 3) -> int:
    """POST one batch; sent again on a transport error (a kept-alive connection the server closed, a
    timeout): event ids make that safe. The count of events the API accepted."""
    for attempt in range(attempts):
        try:
            answer = await client.post(
                "/api/v1/metrics", json={"events": events}, headers={"X-API-Key": api_key}
            )
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
            continue
        if answer.status_code == 503 and attempt < attempts - 1:
            await asyncio.sleep(0.1)
            continue
        if answer.status_code != 202:
            raise RuntimeError(f"ingest answered {answer.status_code}: {answer.text[:300]}")
        return sum(1 for outcome in answer.json().get("events", []) if outcome.get("status") == "accepted")
    raise AssertionError("unreachable")


async def _wait_scored(stack: Stack, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    scored = await stack.scored_count()
    while scored < count and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        scored = await stack.scored_count()
    return scored


# ---------------------------------------------------------------------------------------- throughput


async def throughput(options: Options, say: Say) -> dict[str, Any]:
    background = await background_load()
    stack = Stack(options.postgres_url, options.redis_url)
    pool: ClientPool | None = None
    try:
        await stack.prepare()
        players = await stack.register(max(1, options.players))
        total = int(options.throughput_rate * options.duration * 1.2)
        lanes = (
            Lanes(players, min(options.lanes, len(players)))
            if options.lanes
            else Lanes.auto(players, options.workers, total)
        )
        if lanes.most_per_player(total) > HISTORY_DAYS * EVENTS_PER_DAY:
            raise ValueError(
                f"{total:,} events over {len(players)} players in {lanes.count} lanes is more than "
                f"{HISTORY_DAYS * EVENTS_PER_DAY} events per player (five a day): use more players"
            )
        say(
            f"throughput: queueing {total:,} events for {len(players)} players in {lanes.count} lane(s) "
            "(no worker running yet)"
        )
        base = _history_base()
        started = time.monotonic()
        accepted = 0
        async with stack.http(timeout=300) as client:
            gate = asyncio.Semaphore(4)

            async def batch(start: int) -> int:
                async with gate:
                    count = min(BATCH_EVENTS, total - start)
                    events = events_for(stack.run_id, players, start, count, base, lanes)
                    return await _post(client, stack.api_key, events)

            starts = list(range(0, total, BATCH_EVENTS))
            for first in range(0, len(starts), 20):
                group = starts[first : first + 20]
                accepted += sum(await asyncio.gather(*(batch(start) for start in group)))
                elapsed = time.monotonic() - started
                say(f"  queued {accepted:>9,}  {accepted / elapsed:>8,.0f} accepted events/s")
        queue_seconds = time.monotonic() - started

        if options.throughput_subscribers:
            pool = ClientPool(options.client_procs, stack.port)
            errors = await pool.connect(_sessions(players, options.throughput_subscribers))
            if errors:
                say(f"  subscriber errors: {errors}")
        locks = LockWatch(stack.database_url)
        await locks.start()
        stack.start_worker(options.workers, options.concurrency)
        cpu = Cpu(
            {"server": [stack.server.pid] if stack.server else [], "clients": pool.pids if pool else []}
        )
        cpu.pids["worker"] = stack.worker_pids()
        say(f"throughput: worker started (--workers {options.workers} --concurrency {options.concurrency})")
        scored, first_at = 0, 0.0
        deadline = time.monotonic() + 120
        while scored == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            scored = await stack.scored_count()
        first_at, first_scored = time.monotonic(), scored
        cpu.pids["worker"] = stack.worker_pids()
        cpu.pids["postgres"] = await stack.backend_pids()
        cpu.start()
        series: list[tuple[float, int]] = [(0.0, scored)]
        while time.monotonic() - first_at < options.duration and scored < accepted:
            await asyncio.sleep(1.0)
            scored = await stack.scored_count()
            at = time.monotonic() - first_at
            rate = (scored - series[-1][1]) / max(at - series[-1][0], 1e-9)
            series.append((at, scored))
            say(f"  {at:5.1f} s  scored {scored:>9,}  {rate:>8,.0f} events/s  (queued {accepted - scored:,})")
        window = series[-1][0]
        lock_waits = await locks.stop()
        shares = cpu.percent()
        shares["client_procs"] = len(pool.pids) if pool else 0
        shares["background_before_run"] = background
        rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(series) if b[0] - a[0] > 0.5]
        return {
            "mode": "throughput",
            "players": len(players),
            "subscribers": options.throughput_subscribers,
            "workers": options.workers,
            "concurrency": options.concurrency,
            "lanes": lanes.count,
            "queued_events": accepted,
            "queue_seconds": round(queue_seconds, 2),
            "accepted_events_per_s": round(accepted / queue_seconds, 1),
            "window_seconds": round(window, 2),
            "scored_in_window": scored - first_scored,
            "scored_events_per_s": round((scored - first_scored) / max(window, 1e-9), 1),
            "scored_per_s_min": round(min(rates), 1) if rates else None,
            "scored_per_s_max": round(max(rates), 1) if rates else None,
            "drained": scored >= accepted,
            "series": {
                "t_s": [round(b[0], 2) for _, b in itertools.pairwise(series)],
                "events_per_s": [
                    round((b[1] - a[1]) / max(b[0] - a[0], 1e-9), 1) for a, b in itertools.pairwise(series)
                ],
            },
            "cpu_percent": shares,
            "lock_waits": lock_waits,
            **lock_counts(lock_waits),
            "warnings": cpu_warnings(shares),
        }
    finally:
        if pool is not None:
            pool.close()
        await stack.close()


def lock_counts(report: dict[str, Any]) -> dict[str, Any]:
    """The lock sampling's headline numbers as flat fields (the kit result keeps those as extras)."""
    return {
        "lock_samples": report["samples"],
        "lock_samples_worker_waiting": report["samples_worker_waiting"],
        "lock_samples_worker_waiting_on_another": report["samples_worker_waiting_on_another"],
        "deadlocks": report["deadlocks"],
    }


def _sessions(players: list[Player], count: int) -> list[Session]:
    return [
        Session(f"user:{players[i % len(players)].user_id}", players[i % len(players)].token)
        for i in range(count)
    ]


# ---------------------------------------------------------------------------------------- latency


@dataclass(slots=True)
class Posted:
    request: int
    player: int
    k: int
    sent: float
    sent_wall: float
    acked: float = 0.0


async def latency(options: Options, say: Say) -> dict[str, Any]:
    background = await background_load()
    stack = Stack(options.postgres_url, options.redis_url)
    pool: ClientPool | None = None
    try:
        await stack.prepare()
        say(f"latency: registering {options.players} players (+1 for warm-up)")
        everyone = await stack.register(options.players + 1)
        players, spare = everyone[:-1], everyone[-1]
        stack.start_worker(options.workers, options.concurrency)
        # Warm up the worker (imports, connections, rules) on a player nobody watches.
        async with stack.http() as client:
            await _post(client, stack.api_key, events_for(f"{stack.run_id}w", [spare], 0, 5, _history_base()))
        if await _wait_scored(stack, 5, 120) < 5:
            raise RuntimeError(f"the worker scored nothing:\n{stack.worker.output() if stack.worker else ''}")
        say(f"latency: connecting {options.subscribers} sessions over {options.client_procs} processes")
        pool = ClientPool(options.client_procs, stack.port)
        connect_started = time.monotonic()
        errors = await pool.connect(_sessions(players, options.subscribers))
        say(
            f"  connected in {time.monotonic() - connect_started:.1f} s"
            + (f"; errors: {errors}" if errors else "")
        )

        watch = QueueWatch(options.redis_url, f"{stack.prefix}tasks:score")
        watch.start()
        locks = LockWatch(stack.database_url)
        await locks.start()
        try:
            posted, accepted, ingest_seconds, cpu, failures = await _drive(stack, players, pool, options, say)
            scored = await _wait_scored(stack, accepted + 5, options.drain_timeout)
        finally:
            await watch.stop()
            lock_waits = await locks.stop()
        await asyncio.sleep(2.0)  # the last deltas' fan-out
        shares = cpu.percent()
        shares["client_procs"] = len(pool.pids)
        shares["background_before_run"] = background
        reports = await pool.collect()
        topics = {f"user:{player.user_id}": index for index, player in enumerate(players)}
        offset = time.time() - time.monotonic()
        result = _latency_result(options, posted, reports, watch, offset, topics)
        result.update(
            {
                "players": len(players),
                "sessions_connected": sum(len(report.sessions) for report in reports),
                "connect_errors": errors,
                "posted_events": len(posted),
                "accepted_events": accepted,
                "failed_requests": len(failures),
                "request_errors": list(dict.fromkeys(failures))[:5],
                "accepted_events_per_s": round(accepted / ingest_seconds, 1),
                "scored_events": scored - 5,
                "scored_events_per_s": round((scored - 5) / ingest_seconds, 1),
                "cpu_percent": shares,
                "lock_waits": lock_waits,
                **lock_counts(lock_waits),
                "warnings": cpu_warnings(shares),
            }
        )
        return result
    finally:
        if pool is not None:
            pool.close()
        await stack.close()


async def _drive(
    stack: Stack, players: list[Player], pool: ClientPool, options: Options, say: Say
) -> tuple[list[Posted], int, float, Cpu, list[str]]:
    per_tick = max(1, round(options.rate * options.tick))
    ticks = round(options.duration / options.tick)
    base = _history_base()
    posted: list[Posted] = []
    accepted = 0
    pending: set[asyncio.Task[None]] = set()
    failures: list[str] = []
    cpu = Cpu({"server": [stack.server.pid] if stack.server else [], "worker": stack.worker_pids()})
    cpu.pids["clients"] = pool.pids
    cpu.pids["postgres"] = await stack.backend_pids()
    say(f"latency: {per_tick} events every {options.tick * 1000:.0f} ms for {options.duration:.0f} s")
    async with stack.http() as client:

        async def send(start: int) -> None:
            nonlocal accepted
            events = events_for(stack.run_id, players, start, per_tick, base)
            sent, sent_wall = time.monotonic(), time.time()
            records = [
                Posted(start, index % len(players), index // len(players), sent, sent_wall)
                for index in range(start, start + per_tick)
            ]
            posted.extend(records)
            try:
                count = await _post(client, stack.api_key, events)
            except (httpx.HTTPError, RuntimeError) as error:
                failures.append(repr(error))
                return
            now = time.monotonic()
            accepted += count
            for record in records:
                record.acked = now

        cpu.start()
        started = time.monotonic()
        last_report, last_accepted, last_scored = started, 0, 0
        for tick in range(ticks):
            delay = started + tick * options.tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(send(tick * per_tick))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if time.monotonic() - last_report >= 1.0:
                now = time.monotonic()
                scored = await stack.scored_count() - 5
                span = now - last_report
                say(
                    f"  {now - started:5.1f} s  accepted {(accepted - last_accepted) / span:>7,.0f}/s"
                    f"  scored {(scored - last_scored) / span:>7,.0f}/s"
                    f"  backlog {len(posted) - scored:>6,}  requests in flight {len(pending)}"
                )
                last_report, last_accepted, last_scored = now, accepted, scored
        if pending:
            await asyncio.gather(*pending)
        seconds = time.monotonic() - started
    return posted, accepted, seconds, cpu, failures


def _latency_result(
    options: Options,
    posted: list[Posted],
    reports: list[ProcessReport],
    watch: QueueWatch,
    wall_minus_monotonic: float,
    topics: dict[str, int],
) -> dict[str, Any]:
    by_player: dict[int, list[Posted]] = {}
    for record in posted:
        by_player.setdefault(record.player, []).append(record)
    index_of = {id(record): i for i, record in enumerate(posted)}
    screen, ingest, to_queue, queue, worker, fanout = (histogram() for _ in range(6))
    first_arrival: dict[int, float] = {}
    publish_at: dict[int, float] = {}
    expected = delivered = unexpected = complete = 0
    problems: list[str] = []
    for report in reports:
        for session in report.sessions:
            player = topics.get(session.topic)
            mine = by_player.get(player, []) if player is not None else []
            expected += len(mine)
            # Each event, with the delta that answered it (one delta may answer several).
            answered = [
                (arrived, at_ms)
                for arrived, at_ms, offset in session.arrivals
                for _ in range(session.answers.get(offset, 0))
            ]
            ok = len(answered) == len(mine) and session.closed is None
            complete += ok
            if not ok and len(problems) < 5:
                problems.append(
                    f"{session.topic}: {len(answered)} of {len(mine)} events answered"
                    + (f", {session.closed}" if session.closed else "")
                )
            unexpected += max(0, len(answered) - len(mine))
            for record, (arrived, at_ms) in zip(mine, answered, strict=False):
                delivered += 1
                screen.record_value(max(1, int((arrived - record.sent) * 1e6)))
                event = index_of[id(record)]
                first_arrival[event] = min(first_arrival.get(event, arrived), arrived)
                publish_at[event] = at_ms / 1000
    ordered = sorted(watch.fetched)
    entry_of: dict[int, tuple[int, int] | None] = {}
    unmapped = 0
    for event, record in enumerate(posted):
        ingest.record_value(max(1, int((record.acked - record.sent) * 1e6)))
        if record.request not in entry_of:
            # The stream entry this request added: the one whose id falls between POST and 202.
            acked_wall = record.sent_wall + (record.acked - record.sent)
            low = bisect.bisect_left(ordered, (int(record.sent_wall * 1000) - 1, 0))
            high = bisect.bisect_right(ordered, (int(acked_wall * 1000) + 1, 1 << 62))
            entry_of[record.request] = ordered[low] if high - low == 1 else None
            unmapped += high - low != 1
        entry = entry_of[record.request]
        published = publish_at.get(event)
        if entry is not None:
            added, fetched = entry[0] / 1000, watch.fetched[entry]
            if event == record.request:  # once per request
                to_queue.record_value(max(1, int((added - record.sent_wall) * 1e6)))
                queue.record_value(max(1, int((fetched - added) * 1e6)))
            if published is not None:
                worker.record_value(max(1, int((published - fetched) * 1e6)))
        if published is not None and event in first_arrival:
            arrived_wall = first_arrival[event] + wall_minus_monotonic
            fanout.record_value(max(1, int((arrived_wall - published) * 1e6)))
    return {
        "mode": "latency",
        "rate": options.rate,
        "duration": options.duration,
        "subscribers": options.subscribers,
        "workers": options.workers,
        "concurrency": options.concurrency,
        "tick_ms": options.tick * 1000,
        "deltas_expected": expected,
        "deltas_delivered": delivered,
        "deltas_unexpected": unexpected,
        "sessions_complete": complete,
        "session_problems": problems,
        "event_to_screen": summary(screen),
        "breakdown": {
            "ingest: POST -> 202 (driver)": summary(ingest),
            "ingest: POST -> XADD (stream entry id), per request": summary(to_queue),
            "queue wait: XADD -> worker fetch, per request": summary(queue),
            "worker: fetch -> publish (delta at_ms)": summary(worker),
            "fan-out: publish -> first session holds the delta": summary(fanout),
        },
        "requests_not_matched_to_a_stream_entry": unmapped,
        "queue_poll_ms": watch.period * 1000,
        "not_measured": [
            "commit: the worker publishes before it commits, and exposes no commit timing",
            "inside the worker, taskiq's hand-over, the wait for a concurrency slot, the scoring and the "
            "database writes are one segment (fetch -> publish): the worker exposes no timings",
            "the fetch is seen by polling the consumer group (queue_poll_ms), at_ms and stream ids are whole "
            "milliseconds: segments are +-a few ms",
        ],
    }
