"""What gamif relies on in websockets beyond its documented API, checked against the installed
version. There is no compatibility module for websockets: its sans-I/O API is public, and only two
reliances go further, each in one place: the server side's `ServerProtocol.fail` being the one
path an oversize frame takes (the hub rewrites its reason, ``server/hub/transport.py``), and the
asyncio client's ``transport`` attribute (the protocol client aborts with it,
``protocol/client/_connection.py``). A failure names the websockets version and what changed."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from tests.compat.contract import Contract

HUB_TRANSPORT = Contract("websockets", "server/hub/transport.py")
PROTOCOL_CLIENT = Contract("websockets", "protocol/client/_connection.py")


class FailureProbe(ServerProtocol):
    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.failures: list[tuple[int, str]] = []

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        self.failures.append((code, reason))
        super().fail(code, reason)


def test_an_oversize_frame_fails_the_connection_through_fail() -> None:
    server, client = FailureProbe(max_size=10), ClientProtocol(parse_uri("ws://gamif.test/ws"))
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    client.send_binary(b"x" * 11)
    server.receive_data(b"".join(client.data_to_send()))
    HUB_TRANSPORT.check(
        [code for code, _ in server.failures] == [CloseCode.MESSAGE_TOO_BIG],
        "fails an oversize frame through ServerProtocol.fail(1009, reason)",
    )
    client.receive_data(b"".join(server.data_to_send()))
    HUB_TRANSPORT.check(
        client.close_rcvd is not None and client.close_rcvd.reason == server.failures[0][1],
        "sends the reason given to ServerProtocol.fail in the close frame",
    )


async def test_the_asyncio_client_can_be_aborted_through_its_transport() -> None:
    closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def handler(connection: ServerConnection) -> None:
        try:
            await connection.recv()
        except ConnectionClosed as error:
            closed.set_result(error.rcvd.code if error.rcvd else None)

    async with serve(handler, "127.0.0.1", 0) as server:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        client = await connect(f"ws://{host}:{port}/")
        transport = PROTOCOL_CLIENT.has_attribute(client, "transport")
        PROTOCOL_CLIENT.check(
            callable(getattr(transport, "abort", None)), "gives ClientConnection a transport"
        )
        transport.abort()
        async with asyncio.timeout(5):
            code = await closed
        PROTOCOL_CLIENT.check(
            code is None, "drops the connection, without a close frame, on transport.abort()"
        )
        await client.close()
