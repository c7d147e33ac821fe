"""An async Python client of the gamif hub (PROTOCOL.md), on the ``websockets`` library.

::

    from protocol.client import Client

    async def token() -> str:            # called for the first token, refreshes, and re-logins
        return await my_http_api.refresh()

    async with Client("wss://gamif.example.com/ws", token) as client:
        me = await client.subscribe("user:5b0c2a3e-8f1d-4c6b-9a7e-2d4f6b8c0a1e")
        async for update in client.updates():
            ...                           # me.document is kept current

The client authenticates (pipelining its subscriptions), keeps a `TopicMirror` per topic, repairs gaps
and divergences by resubscribing, pings and refreshes its token on time, and reconnects with backoff
and resume until it is closed or a close code says to stop (then every waiter gets `ClientClosed`).

Not imported by ``protocol`` itself: the wire package stays free of the ``websockets`` dependency.
"""

from protocol.client._client import Client, ConnectionState, TokenProvider
from protocol.client._errors import ClientClosed, ClientError, CloseStatus, ConnectionLost
from protocol.client._sync import Stats, Update, UpdateKind
from protocol.client._updates import Updates

__all__ = [
    "Client",
    "ClientClosed",
    "ClientError",
    "CloseStatus",
    "ConnectionLost",
    "ConnectionState",
    "Stats",
    "TokenProvider",
    "Update",
    "UpdateKind",
    "Updates",
]
