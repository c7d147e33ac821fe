"""``gamif worker``: taskiq worker processes that score queued metric events (and move challenges
through their lifecycle: `server.services.challenges.lifecycle`).

taskiq's worker processes import this module (``tasks.worker:broker``), so it builds the broker from
the settings in the environment; each process then sets up its own services at start (database,
rules, scorer, the team and feed live documents (which also reconcile what a crashed process left),
the outbox relay that publishes what it commits and sweeps what a crashed process left, and the
leaderboards on Redis) and hands them to the scoring task (`tasks.scoring`).
Workers need Redis: the queue is a Redis stream (`tasks.broker`), shared by every worker and every
API process that enqueues.

Test-only: with `KILL_AFTER_COMMIT` set in its environment, a worker kills itself (SIGKILL to its whole
process group) right after its first scoring commit that has live changes, before it publishes them:
what a machine losing power does at the worst moment (`tests/tasks/test_worker_e2e.py`). Never set it
elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Sequence

from taskiq import TaskiqEvents, TaskiqState

from persistence.db import create_engine, process_named, session_factory
from persistence.live_outbox import Outbox, OutboxEntry
from persistence.scoring import Scorer
from server.config import load_settings
from server.hub.documents import DocumentStore
from server.hub.wiring import redis_client, redis_streams
from server.metrics.families import watch_pool
from server.services.boards.live import open_live_boards
from server.services.challenges.lifecycle import ChallengeLifecycle, running_clock
from server.services.challenges.scoreboards import ChallengeScoreboards
from server.services.scoring.rules import RulesService
from server.services.topics.live_documents import Changed, LiveDocuments
from server.services.topics.outbox_relay import OutboxRelay
from tasks.scoring import register_scoring
from tasks.scoring_batcher import ScoringBatcher
from tasks.scoring_queue import queue_name, score_payload, stream_broker
from tasks.scoring_step import ScoringStep

log = logging.getLogger("gamif.worker")

KILL_AFTER_COMMIT = "GAMIF_TEST_KILL_AFTER_COMMIT"
"""Test-only environment variable (see the module docstring): ``1`` makes the worker die between a
commit and its publish."""


class _KilledAfterCommit(OutboxRelay):
    """Test-only relay (`KILL_AFTER_COMMIT`): the process group dies instead of publishing, so that the
    committed entries are left for another process's sweep, and taskiq restarts no child to publish them."""

    async def publish_committed(
        self, entries: Sequence[OutboxEntry], changed: Sequence[Changed] = ()
    ) -> None:
        if entries:
            log.warning("worker: killed after a commit, before publishing (%s)", KILL_AFTER_COMMIT)
            os.killpg(os.getpgid(0), signal.SIGKILL)
        await super().publish_committed(entries, changed)


settings = load_settings()
broker = stream_broker(settings) if settings.redis_url is not None else None
score_events = register_scoring(broker) if broker is not None else None


if broker is not None:

    @broker.on_event(TaskiqEvents.WORKER_STARTUP)
    async def _start(state: TaskiqState) -> None:
        # Named after this process (gamif-worker/<pid>): pg_stat_activity tells who waits on whom.
        engine = create_engine(process_named(settings.effective_database_url, "gamif-worker", os.getpid()))
        if settings.metrics:
            watch_pool(engine)
        sessions = session_factory(engine)
        rules = RulesService(sessions, settings.rules_file, recheck_seconds=settings.rules_recheck_ms / 1000)
        redis = redis_client(settings)
        streams = redis_streams(redis, settings)
        boards = await open_live_boards(settings, streams, sessions, rules)
        scoreboards = ChallengeScoreboards(
            DocumentStore(streams), sessions, push_ms=settings.leaderboard_push_ms
        )
        outbox = Outbox(sessions)
        documents = LiveDocuments(
            DocumentStore(streams), sessions, rules.engine, push_ms=settings.team_push_ms
        )
        documents.start()  # reconciles what a process that died took with it
        relay_class = _KilledAfterCommit if os.environ.get(KILL_AFTER_COMMIT) == "1" else OutboxRelay
        relay = relay_class(outbox, streams, on_changed=documents.changed)
        relay.start()  # publishes what this worker commits, and sweeps what any process left behind
        step = ScoringStep(Scorer(sessions), rules, relay, boards, scoreboards)
        batcher = ScoringBatcher(
            step, settings.worker_max_group_events, max_attempts=settings.worker_max_attempts
        )
        state.score_payload = score_payload(batcher)
        # Every worker process runs the challenges' clock: transitions happen once however many run.
        clock = contextlib.AsyncExitStack()
        lifecycle = ChallengeLifecycle(sessions, rules, scoreboards, relay=relay)
        await clock.enter_async_context(running_clock(lifecycle, redis=redis, prefix=settings.redis_prefix))
        # The clock first (it notifies the scoreboards), then those that push what is due.
        state.closers = [
            clock.aclose,
            scoreboards.aclose,
            boards.aclose,
            relay.aclose,
            documents.aclose,
            redis.aclose,
            engine.dispose,
        ]
        log.info("worker ready: queue %s", queue_name(settings))

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def _stop(state: TaskiqState) -> None:
        for close in getattr(state, "closers", ()):
            await close()
