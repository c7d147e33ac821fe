"""The hub on handlers of a test's own (`server.hub.handlers`): no service, no database, nothing of the
business. What a session asks of the application (identity, topics, snapshots, ingest, notifications) it
asks the handlers it was built with, and a `Refusal` reaches the client as the code it carries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import Message

from protocol import ErrorCode, Ingest
from server.config import Settings
from server.hub.endpoint import hub_endpoint
from server.hub.handlers import Head, HubHandlers, Identity, Ingested, Notice, Refusal, VerifiedToken
from server.hub.streams import Position
from server.hub.wiring import open_backend, open_hub

EXPIRES_AT_MS = 4_102_444_800_000  # 2100-01-01


class Handlers:
    """One user (``u1``, token ``good``), one topic of its own, one kept notification, no ingest."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def authenticate(self, token: str) -> Identity:
        if token != "good":
            raise Refusal(ErrorCode.AUTH_FAILED, "not a token of ours")
        return Identity("u1", "ida", "Ida", ("platform",), EXPIRES_AT_MS)

    def verify(self, token: str) -> VerifiedToken:
        if token != "good":
            raise Refusal(ErrorCode.TOKEN_EXPIRED, "the access token has expired")
        return VerifiedToken("u1", EXPIRES_AT_MS + 1)

    async def authorize(self, user_id: str, topic: str) -> None:
        self.asked.append(f"authorize {user_id} {topic}")
        if topic != f"user:{user_id}":
            raise Refusal(ErrorCode.UNKNOWN_TOPIC, f"no {topic} here")

    async def snapshot(self, topic: str, head: Head) -> tuple[dict[str, Any], Position]:
        self.asked.append(f"snapshot {topic}")
        return {"xp": 42}, await head()

    async def ingest(self, user_id: str, request: Ingest) -> Ingested:
        raise Refusal(ErrorCode.UNSUPPORTED, "ingest is not available on this node")

    async def unread(self, user_id: str, limit: int) -> Sequence[Notice]:
        return [Notice(7, "badge_earned", {"badge": "hello"}, 1_000)]

    def store_unavailable(self, error: BaseException) -> bool:
        return isinstance(error, ConnectionError)


@pytest.fixture
def handlers() -> Handlers:
    return Handlers()


@pytest.fixture
async def app(tmp_path: Path, handlers: Handlers) -> AsyncIterator[Starlette]:
    settings = Settings(data_dir=tmp_path)  # embedded: no Redis
    checked: HubHandlers = handlers  # the test's handlers are the hub's protocol
    app = Starlette(routes=[WebSocketRoute("/ws", hub_endpoint)])
    app.state.settings = settings
    async with open_backend(settings) as backend, open_hub(settings, backend, checked) as hub:
        app.state.hub = hub
        yield app


class Socket:
    """A WebSocket client speaking ASGI to the app in process (JSON frames), with no server between."""

    def __init__(self, app: Starlette) -> None:
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.outgoing: asyncio.Queue[Message] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "path": "/ws",
            "raw_path": b"/ws",
            "root_path": "",
            "scheme": "ws",
            "query_string": b"",
            "headers": [],
            "subprotocols": ["gamif.v1.json"],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        self.task = asyncio.create_task(app(scope, self.incoming.get, self.outgoing.put))

    async def __aenter__(self) -> Socket:
        await self.incoming.put({"type": "websocket.connect"})
        accepted = await self.next()
        assert accepted == {"type": "websocket.accept", "subprotocol": "gamif.v1.json", "headers": []}
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.incoming.put({"type": "websocket.disconnect", "code": 1000})
        async with asyncio.timeout(5):
            await self.task

    async def next(self) -> Message:
        async with asyncio.timeout(5):
            return await self.outgoing.get()

    async def send(self, message: dict[str, Any]) -> None:
        await self.incoming.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        frame = await self.next()
        assert frame["type"] == "websocket.send", frame
        message: dict[str, Any] = json.loads(frame["text"])
        return message


async def test_a_session_asks_the_handlers_and_answers_their_refusals_with_their_codes(
    app: Starlette, handlers: Handlers
) -> None:
    async with Socket(app) as ws:
        await ws.send({"type": "auth", "id": 1, "token": "good"})
        welcome = await ws.receive()
        assert (welcome["type"], welcome["user_id"], welcome["expires_at_ms"]) == (
            "welcome",
            "u1",
            EXPIRES_AT_MS,
        )

        await ws.send({"type": "subscribe", "id": 2, "topic": "user:u1"})
        subscribed = await ws.receive()
        assert (subscribed["type"], subscribed["snapshot"], subscribed["offset"]) == (
            "subscribed",
            {"xp": 42},
            0,
        )
        note = await ws.receive()  # kept while away: sent once the player's own topic is in sync
        assert (note["type"], note["name"], note["at_ms"]) == ("event", "badge_earned", 1_000)
        assert note["data"] == {"badge": "hello", "notification_id": 7}

        await ws.send({"type": "subscribe", "id": 3, "topic": "team:nope"})
        refused = await ws.receive()
        assert (refused["type"], refused["code"], refused["topic"]) == ("error", "unknown_topic", "team:nope")

        event = {"id": "e-1", "metric": "commits", "value": 1, "occurred_at_ms": 1_000}
        await ws.send({"type": "ingest", "id": 4, "events": [event]})
        unsupported = await ws.receive()
        assert (unsupported["code"], unsupported["id"]) == ("unsupported", 4)

        await ws.send({"type": "refresh", "id": 5, "token": "stale"})
        assert (await ws.receive())["code"] == "token_expired"
        await ws.send({"type": "refresh", "id": 6, "token": "good"})
        assert await ws.receive() == {"type": "refreshed", "id": 6, "expires_at_ms": EXPIRES_AT_MS + 1}
    assert handlers.asked == ["authorize u1 user:u1", "snapshot user:u1", "authorize u1 team:nope"]


async def test_an_identity_refused_by_the_handlers_closes_with_its_code(app: Starlette) -> None:
    async with Socket(app) as ws:
        await ws.send({"type": "auth", "id": 1, "token": "forged"})
        closed = await ws.next()
    assert (closed["type"], closed["code"]) == ("websocket.close", 4001)
    assert closed["reason"].startswith("auth_failed")
