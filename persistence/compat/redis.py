"""redis-py's connections, driven by hand: the only place that touches them (checked by
``tests/compat/test_redis_contract.py``).

The client (`redis.asyncio.Redis`) retries a command whose connection failed, by default. That is
wrong for a command that must not run twice (a script whose reply was lost has run: sent again, it
applies its changes a second time), and a pub/sub connection that must report its own loss cannot let
the client reconnect behind its back. Both need a connection of their own, driven command by command,
which redis-py supports but does not document (nor fully annotate):

- `pooled_connection`: one connection of the client's pool, for commands sent exactly once;
- `DedicatedConnection`: a connection with the client's settings, outside its pool, that never
  retries (the hub's bus, in RESP2 or RESP3 pub/sub).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPoolInterface
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.typing import EncodableT

Command = Sequence[EncodableT]
"""A command and its arguments: ``(b"EVALSHA", sha, 1, key, arg)``."""


def decodes_responses(redis: Redis) -> bool:
    """Whether the client turns replies into strings (its pool's ``decode_responses``)."""
    return bool(redis.connection_pool.connection_kwargs.get("decode_responses"))


class PooledConnection:
    """A connection of a client's pool, lent by `pooled_connection`: each command is sent once."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AbstractConnection) -> None:
        self._conn = conn

    async def execute(self, *command: EncodableT) -> Any:
        """Send one command and read its reply; an error reply raises (`ResponseError`)."""
        await self._conn.send_command(*command)
        return await self._conn.read_response()

    async def execute_many(self, commands: Sequence[Command]) -> list[Any]:
        """Send the commands in one write and read every reply; an error reply is returned in its place
        as a `ResponseError` (the connection is still in step)."""
        await self._conn.send_packed_command(self._conn.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await self._conn.read_response())
            except ResponseError as error:
                replies.append(error)
        return replies


@contextlib.asynccontextmanager
async def pooled_connection(redis: Redis) -> AsyncIterator[PooledConnection]:
    """Lend a connection of the client's pool, given back on leaving. A failure other than an error
    reply (`ResponseError`) disconnects it first: replies may be pending, it cannot be reused."""
    pool: ConnectionPoolInterface = redis.connection_pool  # the annotated interface
    conn = await pool.get_connection()
    try:
        yield PooledConnection(conn)
    except ResponseError:
        raise  # an error reply: the connection is still in step
    except BaseException:
        await conn.disconnect(nowait=True)
        raise
    finally:
        await pool.release(conn)


class DedicatedConnection:
    """A connection with the client's settings but of its own, kept out of the pool, that never
    reconnects or retries by itself: its owner notices a loss (any command or read raises) and opens
    a new one. Replies under RESP3 pub/sub (push messages) come back as they are."""

    __slots__ = ("_conn",)

    def __init__(self, redis: Redis) -> None:
        # redis-py leaves make_connection unannotated.
        conn: AbstractConnection = redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        conn.retry = Retry(NoBackoff(), 0)
        parser: Any = getattr(conn, "_parser", None)
        if hasattr(parser, "set_pubsub_push_handler"):
            # Under RESP3, redis-py's default handler formats every message for a debug log, even when
            # the log is off; its own PubSub replaces the handler the same way.
            parser.set_pubsub_push_handler(_as_is)
        self._conn = conn

    @property
    def is_connected(self) -> bool:
        return bool(self._conn.is_connected)  # unannotated in redis-py

    async def connect(self) -> None:
        await self._conn.connect()  # type: ignore[no-untyped-call]  # unannotated in redis-py

    async def send(self, *command: EncodableT) -> None:
        """Send one command without reading its reply (nor checking the connection's health first)."""
        await self._conn.send_command(*command, check_health=False)

    async def send_many(self, commands: Sequence[Command]) -> None:
        """Send the commands in one write, without reading their replies."""
        await self._conn.send_packed_command(self._conn.pack_commands(commands), check_health=False)

    async def read_reply(self) -> Any:
        """The reply to a command sent before subscribing to anything."""
        return await self._conn.read_response()

    async def read(self, timeout: float) -> Any:
        """The next reply or pushed (pub/sub) message, or None if nothing came within `timeout` seconds."""
        return await self._conn.read_response(timeout=timeout, push_request=True)

    async def disconnect(self) -> None:
        """Close the connection at once, without waiting for the server."""
        await self._conn.disconnect(nowait=True)


async def _as_is(response: Any) -> Any:
    return response
