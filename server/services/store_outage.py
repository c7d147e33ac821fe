"""Telling a store that is down from a bug: one classification for the HTTP API (503 + Retry-After) and
for the scoring workers (wait and retry instead of giving up on a batch).

A store is "unavailable" when the error says the connection could not be made, was cut, timed out, or
the server refused it for now (starting, shutting down, recovering, out of connection slots). Drivers do
not agree on how they say it: asyncpg's ``ConnectionDoesNotExistError`` (PostgreSQL stopped mid
transaction) and ``CannotConnectNowError`` (it is starting or stopping) reach SQLAlchemy as a plain
`DBAPIError`, neither `OperationalError` nor invalidated, so the SQLSTATE of the driver's error, anywhere
in the chain of causes, is what decides.
"""

from __future__ import annotations

from collections.abc import Iterator

from redis.exceptions import BusyLoadingError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

_UNAVAILABLE_SQLSTATE_CLASSES = ("08",)
"""Connection exceptions: could not connect, connection does not exist, failure, rejected."""
_UNAVAILABLE_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown: the server is stopping (pg_ctl stop)
        "57P02",  # crash_shutdown: another backend crashed, the server restarts
        "57P03",  # cannot_connect_now: starting up, shutting down or in recovery
        "53300",  # too_many_connections: every slot taken for now
    }
)
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
"""A deadlock or a serialization failure: the database rolled the transaction back; running it again
succeeds."""

_UNAVAILABLE_TYPES = (
    OperationalError,  # SQLAlchemy's "cannot connect / connection lost" family (SQLite's "locked" too)
    InterfaceError,
    PoolTimeoutError,  # no pooled connection came free in time
    RedisConnectionError,  # includes BusyLoadingError: Redis restarted and is loading its data
    RedisTimeoutError,
    BusyLoadingError,
    ReadOnlyError,  # a replica promoted or demoted under us (failover)
    ConnectionError,
    TimeoutError,
    OSError,
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, the driver error it wraps (``orig``) and its causes, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend((getattr(current, "orig", None), current.__cause__, current.__context__))


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return state if isinstance(state, str) else None


def store_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says PostgreSQL, SQLite or Redis cannot be reached right now (not a bug: the same
    work may simply be done again later)."""
    for link in _chain(error):
        if isinstance(link, _UNAVAILABLE_TYPES):
            return True
        if isinstance(link, DBAPIError) and link.connection_invalidated:
            return True
        state = _sqlstate(link)
        if state is not None and (
            state in _UNAVAILABLE_SQLSTATES or state.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
        ):
            return True
    return False


def worth_retrying(error: BaseException) -> bool:
    """Whether running the same transaction again later will do: a store is unavailable, or the database
    rolled it back to break a deadlock or a serialization conflict."""
    if store_unavailable(error):
        return True
    return any(_sqlstate(link) in _RETRY_SQLSTATES for link in _chain(error))


def describe(error: BaseException) -> str:
    """One line for a log: the error's type and the first line of its message (SQLAlchemy's carry the
    statement and its parameters on the next lines)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
