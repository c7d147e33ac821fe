"""`gamif queue`: the scoring queue's dead letters (batches the workers could not score), for an admin
to see, replay once the cause is fixed, or drop: on Redis a stream (`tasks.dead_letters`); embedded, the
batches the database keeps (`persistence.queued_batches`), which the serving process scores again
within seconds of a replay."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from server.config import Settings

from .common import settings_or_report

if TYPE_CHECKING:
    from tasks.dead_letters import DeadLetter

log = logging.getLogger("gamif.queue")

_SHOWN_IDS = 20


def add_parser(commands: Any) -> None:
    """``gamif queue list|inspect|replay|drop`` (``commands``: the top level's subparsers)."""
    queue = commands.add_parser("queue", help="the scoring queue's dead letters: list, inspect, replay, drop")
    actions = queue.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the queue's state and its dead letters, oldest first")
    listing.add_argument("--limit", type=int, default=None, help="at most this many dead letters")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=list_command)
    inspect = actions.add_parser("inspect", help="one dead letter in full: why it failed, and its events")
    inspect.add_argument("id", help="a dead letter's id (from `gamif queue list`)")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.set_defaults(handler=inspect_command)
    wait = actions.add_parser(
        "wait-empty",
        help="wait until no batch waits or is being scored (before a backup: `gamif backup --drain`)",
    )
    wait.add_argument(
        "--timeout", type=float, default=300.0, help="give up after this many seconds (default: 300)"
    )
    wait.set_defaults(handler=wait_empty_command)
    for name, text, handler in (
        ("replay", "put dead letters back on the queue, to be scored again", replay_command),
        ("drop", "delete dead letters for good (each logged)", drop_command),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("ids", nargs="*", metavar="ID", help="dead letter ids (from `gamif queue list`)")
        action.add_argument("--all", action="store_true", help="every dead letter")
        action.set_defaults(handler=handler)


def list_command(args: argparse.Namespace) -> int:
    return _run("list", args, _list)


def inspect_command(args: argparse.Namespace) -> int:
    return _run("inspect", args, _inspect)


def replay_command(args: argparse.Namespace) -> int:
    return _run("replay", args, _replay)


def drop_command(args: argparse.Namespace) -> int:
    return _run("drop", args, _drop)


def wait_empty_command(args: argparse.Namespace) -> int:
    if not args.timeout > 0:
        print("gamif queue wait-empty: --timeout must be positive", file=sys.stderr)
        return 2
    return _run("wait-empty", args, _wait_empty)


async def _wait_empty(settings: Settings, args: argparse.Namespace) -> int:
    return 0 if await wait_empty(settings, args.timeout) else 1


async def wait_empty(settings: Settings, timeout: float, *, what: str = "gamif queue wait-empty") -> bool:
    """Wait until the scoring queue holds no batch, waiting or being scored (dead letters aside), with a
    progress line on stderr every 5 s; False (after saying so) if it still does after `timeout` s."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    shown_at = -_PROGRESS_EVERY_S
    async with _open(settings) as queue:
        while True:
            waiting, scoring = await queue.unscored()
            elapsed = loop.time() - started
            if waiting == 0 and scoring == 0:
                print(f"queue {queue.name}: empty after {elapsed:.1f} s", file=sys.stderr, flush=True)
                return True
            if elapsed >= timeout:
                print(
                    f"{what}: the queue {queue.name} still holds {waiting} waiting and {scoring} batch(es) "
                    f"being scored after {timeout:g} s (are the workers running? `gamif queue list`)",
                    file=sys.stderr,
                )
                return False
            if elapsed - shown_at >= _PROGRESS_EVERY_S:
                shown_at = elapsed
                print(
                    f"queue {queue.name}: {waiting} batch(es) waiting, {scoring} being scored; waiting "
                    f"({elapsed:.0f}/{timeout:g} s)",
                    file=sys.stderr,
                    flush=True,
                )
            # An admin command polling a queue that announces nothing to wait on.
            await asyncio.sleep(_POLL_S)


_PROGRESS_EVERY_S = 5.0
_POLL_S = 0.25


def _run(action: str, args: argparse.Namespace, command: Any) -> int:
    settings = settings_or_report()
    if settings is None:
        return 1
    if action in ("replay", "drop") and bool(args.ids) == bool(args.all):
        print(f"gamif queue {action}: name the dead letters (IDs) or pass --all, not both", file=sys.stderr)
        return 2
    if getattr(args, "limit", None) is not None and args.limit < 1:
        print(f"gamif queue {action}: --limit must be at least 1", file=sys.stderr)
        return 2
    _log_to_stderr()
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    from server.app import SchemaOutOfDate

    store = "Redis" if settings.redis_url is not None else "the database"
    try:
        code: int = asyncio.run(command(settings, args))
    except (RedisError, SQLAlchemyError, SchemaOutOfDate, OSError) as error:
        print(f"gamif queue {action}: {store} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return code


def _log_to_stderr() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _described(letter: DeadLetter) -> dict[str, Any]:
    fields = dataclasses.asdict(letter)
    del fields["data"]
    return fields


class _Queue:
    """The dead letters of the Redis stream, and what it takes to read their messages (the queue's own
    serializer)."""

    id_example = "1733561234567-0"
    id_kind = "a stream entry id"

    def __init__(self, settings: Settings) -> None:
        from server.hub.wiring import redis_client
        from tasks.dead_letters import DeadLetters
        from tasks.scoring_queue import queue_name, stream_broker

        self.redis = redis_client(settings)
        self.name = queue_name(settings)
        self.dead: DeadLetters | _EmbeddedDeadLetters = DeadLetters(self.redis, self.name)
        self.formatter = stream_broker(settings).formatter  # nothing connects: only its decoder is used

    async def __aenter__(self) -> _Queue:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.redis.aclose()

    @staticmethod
    def valid_id(entry_id: str) -> bool:
        from tasks.dead_letters import valid_id

        return valid_id(entry_id)

    def payload(self, data: bytes) -> dict[str, Any] | None:
        """The scoring task's argument in a queued message, or None if it does not decode."""
        try:
            message = self.formatter.loads(data)
            payload = message.args[0]
        except Exception:  # a message that does not decode is why it is here: show it as such
            return None
        return payload if isinstance(payload, dict) else None

    def event_ids(self, data: bytes) -> list[str]:
        payload = self.payload(data) or {}
        return [str(event.get("id")) for event in payload.get("events") or () if isinstance(event, dict)]

    async def state(self) -> dict[str, Any]:
        """The queue's length, and how many of its batches wait for a worker and are held by one."""
        from redis.exceptions import ResponseError

        state: dict[str, Any] = {"queue": self.name, "length": int(await self.redis.xlen(self.name))}
        try:
            groups = await self.redis.xinfo_groups(self.name)
        except ResponseError:  # no stream yet: nothing was ever queued
            groups = []
        for group in groups:
            state["waiting"] = group.get("lag")
            state["being_scored"] = group.get("pending")
        state["dead_letters"] = await self.dead.count()
        return state

    async def unscored(self) -> tuple[int, int]:
        """Batches on the queue not yet handed to a worker, and those a worker holds (not acknowledged)."""
        from redis.exceptions import ResponseError

        try:
            groups = await self.redis.xinfo_groups(self.name)
        except ResponseError:  # no stream: nothing was ever queued
            return 0, 0
        if not groups:  # queued, but no worker ever read the stream
            return int(await self.redis.xlen(self.name)), 0
        waiting = scoring = 0
        for group in groups:
            scoring += int(group.get("pending") or 0)
            last = group.get("last-delivered-id") or b"0-0"
            last = last if isinstance(last, bytes) else str(last).encode()
            # Not `lag`, which Redis cannot always tell (after deletions): the entries after the last one
            # delivered to the group, counted (up to a bound: "many" is all a drain needs to know).
            later = await self.redis.xrange(self.name, min=b"(" + last, count=10_000)
            waiting = max(waiting, len(later or ()))
        return waiting, scoring


class _EmbeddedDeadLetters:
    """The embedded queue's dead letters, as `tasks.dead_letters.DeadLetters` shows the stream's."""

    name = "the database (table queued_batches)"

    def __init__(self, store: Any) -> None:
        self.store = store

    @staticmethod
    def _letter(row: Any) -> DeadLetter:
        from tasks.dead_letters import DeadLetter

        return DeadLetter(
            id=str(row.id),
            reason=row.reason or "",
            attempts=row.attempts,
            events=row.events,
            failed_at=row.failed_at.isoformat(timespec="seconds") if row.failed_at else "",
            worker="embedded",
            data=row.payload,
        )

    async def count(self) -> int:
        return int((await self.store.counts())[1])

    async def entries(self, limit: int | None = None) -> list[DeadLetter]:
        return [self._letter(row) for row in await self.store.dead_letters(limit)]

    async def get(self, entry_id: str) -> DeadLetter | None:
        row = await self.store.dead_letter(int(entry_id))
        return None if row is None else self._letter(row)

    async def replay(self, entry_id: str) -> str | None:
        return entry_id if await self.store.replay(int(entry_id)) else None

    async def drop(self, entry_id: str) -> bool:
        return bool(await self.store.drop(int(entry_id)))


class _EmbeddedQueue(_Queue):
    """An embedded server's queue: the batches its database keeps until they are scored."""

    id_example = "42"
    id_kind = "a dead letter's number"

    def __init__(self, settings: Settings) -> None:
        from persistence.db import create_engine, session_factory
        from persistence.queued_batches import QueuedBatches

        self.url = settings.effective_database_url
        self.engine = create_engine(self.url)
        self.name = "embedded queue"
        self.store = QueuedBatches(session_factory(self.engine))
        self.dead = _EmbeddedDeadLetters(self.store)

    async def __aenter__(self) -> _Queue:
        from server.app import prepare_schema

        await prepare_schema(self.url)  # a data directory the server never ran on has no table yet
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.engine.dispose()

    @staticmethod
    def valid_id(entry_id: str) -> bool:
        return entry_id.isascii() and entry_id.isdigit() and 0 < int(entry_id) < 2**63

    def payload(self, data: bytes) -> dict[str, Any] | None:
        import orjson

        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        return payload if isinstance(payload, dict) else None

    async def unscored(self) -> tuple[int, int]:
        # The serving process deletes a batch in the transaction after the one that scored it.
        waiting, _dead = await self.store.counts()
        return waiting, 0

    async def state(self) -> dict[str, Any]:
        waiting, dead = await self.store.counts()
        return {"queue": self.name, "length": waiting, "waiting": waiting, "being_scored": None} | {
            "dead_letters": dead
        }


def _open(settings: Settings) -> _Queue:
    return _Queue(settings) if settings.redis_url is not None else _EmbeddedQueue(settings)


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    async with _open(settings) as queue:
        state = await queue.state()
        letters = await queue.dead.entries(args.limit)
    if args.json:
        rows = []
        for letter in letters:
            ids = queue.event_ids(letter.data)
            # A message the queue itself gave up on was not decoded then: its count is read here.
            rows.append(_described(letter) | {"events": len(ids) or letter.events, "event_ids": ids})
        print(json.dumps({**state, "dead_letter_stream": queue.dead.name, "entries": rows}, indent=2))
        return 0
    if state.get("waiting") is None:
        where = f"{state['length']} batch(es), not read by any worker yet"
    elif state.get("being_scored") is None:  # embedded: the serving process scores what it keeps
        where = f"{state['waiting']} batch(es) kept to be scored"
    else:
        where = f"{state['waiting']} batch(es) waiting, {state['being_scored']} being scored"
    print(f"queue {state['queue']}: {where}; dead letters in {queue.dead.name}: {state['dead_letters']}")
    if letters:
        print(f"{'ID':<20} {'FAILED AT':<26} {'EVENTS':>6} {'TRIES':>5}  REASON")
        for letter in letters:
            events = len(queue.event_ids(letter.data)) or letter.events
            counts = f"{events:>6} {letter.attempts:>5}"
            print(f"{letter.id:<20} {letter.failed_at:<26} {counts}  {letter.reason}")
    return 0


async def _inspect(settings: Settings, args: argparse.Namespace) -> int:
    queue = _open(settings)
    if not queue.valid_id(args.id):
        print(
            f"gamif queue inspect: {args.id!r} is not {queue.id_kind} (like {queue.id_example})",
            file=sys.stderr,
        )
        await queue.__aexit__()
        return 1
    async with queue:
        letter = await queue.dead.get(args.id)
    if letter is None:
        print(f"gamif queue inspect: no dead letter {args.id} in {queue.dead.name}", file=sys.stderr)
        return 1
    payload = queue.payload(letter.data)
    if args.json:
        fields = _described(letter)
        print(json.dumps({**fields, "payload": payload}, indent=2, default=str))
        return 0
    print(f"dead letter {letter.id} in {queue.dead.name}")
    print(f"  failed at   {letter.failed_at} (worker {letter.worker})")
    print(f"  attempts    {letter.attempts}")
    print(f"  reason      {letter.reason}")
    if payload is None:
        print(f"  message     {len(letter.data)} bytes that do not decode as a scoring batch")
        return 0
    events = payload.get("events") or []
    print(f"  received    {payload.get('received_at')}")
    print(f"  events      {len(events)}")
    for event in events:
        what = f"{event.get('metric')} = {event.get('value')}"
        print(
            f"    {event.get('id')}  user {event.get('user_id')}  {what}"
            f"  at {event.get('occurred_at')}  reported by {event.get('reported_by')}"
        )
    return 0


async def _ids(queue: _Queue, args: argparse.Namespace, action: str) -> list[str] | None:
    if args.all:
        return [letter.id for letter in await queue.dead.entries()]
    wrong = [entry for entry in args.ids if not queue.valid_id(entry)]
    if wrong:
        print(
            f"gamif queue {action}: not {queue.id_kind}s (like {queue.id_example}): {', '.join(wrong)}",
            file=sys.stderr,
        )
        return None
    return list(args.ids)


async def _replay(settings: Settings, args: argparse.Namespace) -> int:
    async with _open(settings) as queue:
        ids = await _ids(queue, args, "replay")
        if ids is None:
            return 1
        missing = []
        for entry in ids:
            letter = await queue.dead.get(entry)
            new_id = await queue.dead.replay(entry)
            if new_id is None or letter is None:
                missing.append(entry)
                continue
            log.info(
                "replayed dead letter %s (%d events, failed: %s) as queue entry %s",
                entry,
                letter.events,
                letter.reason,
                new_id,
            )
            print(f"{entry} -> {queue.name} {new_id}")
    return _missing("replay", missing, queue.dead.name)


async def _drop(settings: Settings, args: argparse.Namespace) -> int:
    async with _open(settings) as queue:
        ids = await _ids(queue, args, "drop")
        if ids is None:
            return 1
        missing = []
        for entry in ids:
            letter = await queue.dead.get(entry)
            if letter is None or not await queue.dead.drop(entry):
                missing.append(entry)
                continue
            event_ids = queue.event_ids(letter.data)
            shown = ", ".join(event_ids[:_SHOWN_IDS]) + (", ..." if len(event_ids) > _SHOWN_IDS else "")
            log.warning(
                "dropped dead letter %s for good: %d events never scored (failed: %s); event ids: %s",
                entry,
                letter.events,
                letter.reason,
                shown or "(none readable)",
            )
    return _missing("drop", missing, queue.dead.name)


def _missing(action: str, missing: list[str], stream: str) -> int:
    if missing:
        print(f"gamif queue {action}: no such dead letter in {stream}: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
