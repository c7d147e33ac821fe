"""A TCP relay in front of a real server, that a test cuts to play a network cut or a restart, or turns
into a PostgreSQL that is starting up (every new connection refused with SQLSTATE 57P03, as asyncpg's
``CannotConnectNowError``)."""

from __future__ import annotations

import asyncio
import contextlib

_SSL_REQUEST = (80877103).to_bytes(4, "big")
_STARTING_UP = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
"""A PostgreSQL ErrorResponse's fields: severity, code, message."""


class Relay:
    """Forwards TCP connections from a local port to ``target``; ``cut`` drops them all and refuses new
    ones until ``restore``; ``starting_up`` answers new ones as PostgreSQL does while it starts."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.pipes: set[asyncio.Task[None]] = set()
        self.trip: bytes | None = None
        """Set it: the next connection that sends these bytes is dropped before they reach the server
        (the client then waits for an answer on a connection that closes: "closed in the middle of
        operation", as when the server stops mid-transaction)."""

    async def restore(self) -> None:
        if self.server is not None and self.server.is_serving():  # starting up: now it is up
            self.server.close()
            await self.server.wait_closed()
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for pipe in list(self.pipes):
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer, watch=True)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self.pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self.pipes.difference_update(pipes)
            for end in (writer, upstream_writer):
                end.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch: bool = False
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if watch and self.trip is not None and self.trip in data:
                    self.trip = None
                    break  # the server sees the connection end; the other direction ends with it
                writer.write(data)
                await writer.drain()
        writer.close()

    async def starting_up(self) -> None:
        """Drop every connection, and answer new ones as a PostgreSQL server that is starting up does."""
        await self.cut()
        self.server = await asyncio.start_server(self._refuse, "127.0.0.1", self.port)

    @staticmethod
    async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            length = int.from_bytes(await reader.readexactly(4), "big")
            body = await reader.readexactly(length - 4)
            if body[:4] == _SSL_REQUEST:  # no TLS here; the startup message follows
                writer.write(b"N")
                await writer.drain()
                length = int.from_bytes(await reader.readexactly(4), "big")
                await reader.readexactly(length - 4)
            writer.write(b"E" + (len(_STARTING_UP) + 4).to_bytes(4, "big") + _STARTING_UP)
            await writer.drain()
        writer.close()
