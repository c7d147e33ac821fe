"""A session's life on real hubs: the auth deadline whatever arrives first (PROTOCOL.md §5, §14), a
client that stops reading at the TCP level torn down at once (§15: 4008), and presence leaving exactly
after the grace (§9)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from protocol import Batch, Delta, Encoding, Outcome, TopicMirror, decode, encode_value
from server.hub.publish import TopicChange
from tests.hub.cluster import HubProcess, Raw, hub_env, register
from tests.hub.conftest import Cluster
from tests.polling import until


async def test_an_unknown_first_message_gets_an_error_and_the_auth_deadline_still_applies(embedded):
    async with Raw.open(embedded.ws) as raw:
        await raw.send({"type": "dance", "id": 1})
        error = await raw.expect("error")
        assert (error.code, error.id) == ("unknown_type", 1)
        # The fixture's auth limit is 300 ms: the close is awaited, not slept for.
        assert await raw.closed(timeout=5) == (4002, "auth_timeout")


async def test_an_auth_without_a_token_gets_an_error_and_the_auth_deadline_still_applies(embedded):
    async with Raw.open(embedded.ws) as raw:
        await raw.send({"type": "auth", "id": 1})
        error = await raw.expect("error")
        assert (error.code, error.id, error.field) == ("invalid_message", 1, "token")
        assert await raw.closed(timeout=5) == (4002, "auth_timeout")


async def test_a_valid_auth_after_an_ignored_message_succeeds(embedded):
    ida = await register(embedded.http, "ida")
    async with Raw.open(embedded.ws) as raw:
        await raw.send({"type": "dance", "id": 1})
        assert (await raw.expect("error")).code == "unknown_type"
        welcome = await raw.login(ida.access_token)
        assert welcome.user_id == ida.user_id
        # Authenticated: the heartbeat (1 s here) now rules, not the auth limit.
        await raw.send({"type": "ping", "id": 2})
        assert (await raw.expect("pong")).id == 2


class StalledClient:
    """A WebSocket client on a bare socket with a tiny receive buffer: it reads what it asks for, then
    stops reading at the TCP level (the socket stays open and reads nothing more)."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol
        self.received = 0
        """Bytes read from the socket after `stall`."""
        self._events: deque[Any] = deque()
        """Events parsed but not yet returned by `_next_event`."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, rcvbuf: int = 4096) -> AsyncIterator[StalledClient]:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting: the window
        sock.setblocking(False)
        try:
            port = int(url.split(":")[2].split("/", maxsplit=1)[0])
            await loop.sock_connect(sock, ("127.0.0.1", port))
            client = cls(sock, ClientProtocol(parse_uri(url), subprotocols=[Encoding.MSGPACK.value]))  # type: ignore[list-item]
            client.protocol.send_request(client.protocol.connect())
            await client._flush()
            response = await client._next_event(10)
            assert isinstance(response, Response), response
            assert response.status_code == 101, response
            yield client
        finally:
            sock.close()

    async def _flush(self) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, b"".join(self.protocol.data_to_send()))

    async def _next_event(self, timeout: float) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                # One read may bring several frames: those after the first wait for the next call.
                self._events.extend(self.protocol.events_received())
                if self._events:
                    return self._events.popleft()
                data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
                self.protocol.receive_data(data)
                if not data:
                    raise EOFError("the server closed the connection")

    async def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_binary(encode_value(message, Encoding.MSGPACK))
        await self._flush()

    async def expect(self, kind: str, timeout: float = 10) -> Any:
        frame = await self._next_event(timeout)
        assert isinstance(frame, Frame), frame
        assert frame.opcode is Opcode.BINARY, frame
        message = decode(frame.data, Encoding.MSGPACK, sender="server")
        assert message.type == kind, message
        return message

    async def was_reset(self) -> bool:
        """Whether the server reset the connection (read from the socket's error, not its data)."""
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNRESET

    async def ended(self, timeout: float) -> str:
        """Read (at last) until the connection ends: ``"eof"``, or ``"reset"`` (aborted)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while True:
                try:
                    data = await loop.sock_recv(self.sock, 65536)
                except ConnectionResetError:
                    return "reset"
                if not data:
                    return "eof"
                self.received += len(data)


async def hub_stats(hub: HubProcess, admin: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=hub.http, timeout=30) as http:
        answer = await http.get("/api/v1/hub", headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 200, answer.text
    stats: dict[str, Any] = answer.json()
    return stats


@pytest.mark.postgresql
async def test_a_client_that_stops_reading_is_torn_down_at_once(shared_cluster: Cluster):
    cluster = shared_cluster
    sam = await cluster.register("sam-stall")
    una = await cluster.register("una-watch")
    await cluster.create_team("stalled", ["sam-stall"])
    topic = "team:stalled"
    channel = f"{cluster.env['GAMIF_REDIS_PREFIX']}hub:bus:{topic}".encode()
    async with Raw.open(cluster.b.ws) as watcher, StalledClient.open(cluster.a.ws) as stalled:
        await watcher.login(una.access_token)
        presence = TopicMirror("presence:global")
        presence.apply_subscribed(await watcher.subscribe("presence:global"))
        await stalled.send({"type": "auth", "id": 1, "token": sam.access_token})
        await stalled.expect("welcome")
        await stalled.send({"type": "subscribe", "id": 2, "topic": topic})
        await stalled.expect("subscribed")
        # From here on the client reads nothing: the hub's send buffer (1 MiB) fills behind the
        # socket's buffers.
        before = await hub_stats(cluster.a, cluster.admin)
        assert (await cluster.redis.pubsub_numsub(channel))[0][1] == 1
        await follow_presence(watcher, presence, lambda people: sam.user_id in people)

        async def slow_seen() -> bool:
            stats = await hub_stats(cluster.a, cluster.admin)
            return bool(stats["slow_consumers"] > before["slow_consumers"])

        payload = "x" * 16_000
        for round_ in range(200):  # 64 MB at most: far more than any buffer on the way
            changes = (
                TopicChange(topic, [["set", ["description"], f"{round_}.{n}{payload}"]]) for n in range(20)
            )
            await cluster.publisher.publish(changes)
            if await slow_seen():
                break
        else:
            raise AssertionError("the hub never found the client slow")

        # At once: out of the hub's sessions and topics, the bus's channel released, out of presence
        # after the grace (200 ms here). The client holds its socket open throughout, so a hub that
        # waited for the connection to end would never get there: the polls' deadlines would fail.
        async def released() -> bool:
            stats = await hub_stats(cluster.a, cluster.admin)
            return bool(
                stats["sessions"] == before["sessions"] - 1 and stats["topics"] == before["topics"] - 1
            )

        await until(released, "the session released", timeout=10)

        async def unsubscribed() -> bool:
            return bool((await cluster.redis.pubsub_numsub(channel))[0][1] == 0)

        await until(unsubscribed, "the bus channel released", timeout=10)
        await follow_presence(watcher, presence, lambda people: sam.user_id not in people)
        # All of that came first, the end of the connection after: it is reset once the close grace
        # (2 s) has run out, seen without reading, since a client that reads again within the grace
        # gets its backlog and the close frame.
        assert not await stalled.was_reset(), "reset before the session was released"
        await until(stalled.was_reset, "the connection reset", timeout=10)
        # The backlog was dropped, not delivered: what the client still reads was already its own.
        assert await stalled.ended(timeout=15) in {"reset", "eof"}
        assert stalled.received < 1024 * 1024


async def follow_presence(raw: Raw, mirror: TopicMirror, holds: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not holds(mirror.document["people"]):
            message = await raw.recv()
            deltas = message.deltas if isinstance(message, Batch) else [message]
            for delta in deltas:
                if isinstance(delta, Delta) and delta.topic == mirror.topic:
                    assert mirror.apply_delta(delta) is Outcome.APPLIED


SLOW_SWEEP = {"GAMIF_HUB_PRESENCE_TTL_SECONDS": "30", "GAMIF_HUB_PRESENCE_GRACE_MS": "500"}
"""A periodic presence sweep that is rare (every 7.5 s, a quarter of the longest TTL allowed): only the
grace can explain a prompt leave."""


@contextlib.asynccontextmanager
async def serving(*hubs: HubProcess) -> AsyncIterator[None]:
    try:
        await asyncio.gather(*(hub.start() for hub in hubs))
        yield
    finally:
        await asyncio.gather(*(hub.stop() for hub in hubs))


@pytest.fixture
async def slow_sweep_hub(tmp_path: Path) -> AsyncIterator[HubProcess]:
    """An embedded hub whose presence is swept rarely (`SLOW_SWEEP`)."""
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'gamif.db'}", None, "", tmp_path) | SLOW_SWEEP
    hub = HubProcess("presence", env)
    async with serving(hub):
        yield hub


@pytest.fixture
async def slow_sweep_hubs_on_redis(
    _postgresql_database_url: str, redis_server: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    """Two hubs on one PostgreSQL and one Redis, sharing presence, each swept rarely (`SLOW_SWEEP`)."""
    env = hub_env(_postgresql_database_url, redis_server, redis_prefix, tmp_path) | SLOW_SWEEP
    hubs = HubProcess("leaving", env), HubProcess("watching", env)
    async with serving(*hubs):
        yield hubs


async def check_a_user_leaves_when_the_grace_ends(leaving_hub: HubProcess, watching_hub: HubProcess) -> None:
    """A user whose only session on ``leaving_hub`` closes leaves presence, as a watcher on
    ``watching_hub`` sees it, once the grace (500 ms) has passed and well before the periodic sweep."""
    zoe = await register(leaving_hub.http, "zoe")
    yan = await register(leaving_hub.http, "yan")
    async with Raw.open(watching_hub.ws) as watcher:
        await watcher.login(yan.access_token)
        presence = TopicMirror("presence:global")
        presence.apply_subscribed(await watcher.subscribe("presence:global"))
        async with Raw.open(leaving_hub.ws) as leaving:
            await leaving.login(zoe.access_token)
            await follow_presence(watcher, presence, lambda people: zoe.user_id in people)
        closed = time.monotonic()
        await follow_presence(watcher, presence, lambda people: zoe.user_id not in people)
        took = time.monotonic() - closed
        # Not before the grace (500 ms), and not at the next periodic sweep (up to 7.5 s later).
        assert 0.45 <= took < 1.5, took


async def test_a_user_leaves_presence_when_the_grace_ends(slow_sweep_hub: HubProcess):
    await check_a_user_leaves_when_the_grace_ends(slow_sweep_hub, slow_sweep_hub)


@pytest.mark.postgresql
async def test_on_redis_a_user_leaves_presence_when_the_grace_ends_on_every_node(
    slow_sweep_hubs_on_redis: tuple[HubProcess, HubProcess],
):
    """The node that saw the close sweeps the shared presence when the grace ends: a watcher on another
    node sees the leave then too (README, "On Redis")."""
    await check_a_user_leaves_when_the_grace_ends(*slow_sweep_hubs_on_redis)


async def test_a_refused_upgrade_logs_one_line(embedded: HubProcess):
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    async with httpx.AsyncClient(base_url=embedded.http, timeout=10) as http:
        refused = await http.get("/ws", headers=headers)  # no subprotocol offered
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        # A request after it: once its line is logged, whatever the refusal logged is there too.
        assert (await http.get("/api/v1/openapi.json")).status_code == 200

    async def logged() -> bool:
        return any('"GET /api/v1/openapi.json' in line for line in embedded.output)

    await until(logged, "the next request logged", timeout=10)
    lines = [line for line in embedded.output if "/ws" in line or "handshake" in line or "rejected" in line]
    assert lines == [lines[0]], lines
    assert lines[0].startswith("INFO:"), lines
    assert '"WebSocket /ws" 400' in lines[0], lines


@pytest.mark.postgresql
async def test_deltas_held_while_a_topic_synchronises_count_in_the_send_buffer(shared_cluster: Cluster):
    """The deltas that arrive while a subscription reads its snapshot wait beside it: past the send
    buffer they make the session a slow consumer, like a queue that does not drain."""
    cluster = shared_cluster
    vic = await cluster.register("vic-held")
    topic = f"user:{vic.user_id}"
    channel = f"{cluster.env['GAMIF_REDIS_PREFIX']}hub:bus:{topic}".encode()
    url = cluster.env["GAMIF_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    blocker = await asyncpg.connect(url)
    try:
        async with Raw.open(cluster.a.ws) as raw:
            await raw.login(vic.access_token)
            transaction = blocker.transaction()
            await transaction.start()
            # The user's snapshot reads the user's state row: behind this table lock it waits, and the
            # topic stays syncing.
            await blocker.execute("LOCK TABLE user_states IN ACCESS EXCLUSIVE MODE")
            await raw.send({"type": "subscribe", "id": 2, "topic": topic})

            async def watched() -> bool:
                return bool((await cluster.redis.pubsub_numsub(channel))[0][1] == 1)

            await until(watched, "the hub watches the topic", timeout=10)
            payload = "x" * 16_000
            for round_ in range(10):  # 3.2 MB: three times the send buffer
                ops = [[["set", ["description"], f"{round_}.{n}{payload}"]] for n in range(20)]
                await cluster.publisher.publish(TopicChange(topic, each) for each in ops)
            # The client reads all along: only what is held can make it slow.
            assert await raw.closed(timeout=10) == (4008, "slow_consumer")
            await transaction.rollback()
    finally:
        await blocker.close()


@pytest.mark.postgresql
async def test_a_topic_released_just_before_the_connection_ends_is_released(shared_cluster: Cluster):
    """An unsubscribe and a frame the hub cannot read in one TCP segment: the session handles the
    unsubscribe, reads the bad frame at once (both wait in uvicorn's queue) and ends without handing
    the event loop to anyone in between. The release must happen in full all the same: the hub forgets
    the watcher at once and the bus's unsubscribe is the hub's task, which the session's end cannot
    cancel. (A client's close frame cannot show this: uvicorn closes the transport on it, the
    ``unsubscribed`` reply then waits for the session's writer, and stopping the writer lets a
    session task run before the session's end cancels it.)"""
    cluster = shared_cluster
    wes = await cluster.register("wes-left")
    await cluster.create_team("left", ["wes-left"])
    topic = "team:left"
    channel = f"{cluster.env['GAMIF_REDIS_PREFIX']}hub:bus:{topic}".encode()
    before = await hub_stats(cluster.a, cluster.admin)
    async with StalledClient.open(cluster.a.ws) as client:
        await client.send({"type": "auth", "id": 1, "token": wes.access_token})
        await client.expect("welcome")
        await client.send({"type": "subscribe", "id": 2, "topic": topic})
        await client.expect("subscribed")
        assert (await cluster.redis.pubsub_numsub(channel))[0][1] == 1
        client.protocol.send_binary(
            encode_value({"type": "unsubscribe", "id": 3, "topic": topic}, Encoding.MSGPACK)
        )
        client.protocol.send_binary(b"\xc1\x00\x01")  # not msgpack: closed with 4000 bad_frame
        await client._flush()
        assert (await client.expect("unsubscribed")).id == 3
        close = await client._next_event(10)
        assert isinstance(close, Frame), close
        assert close.opcode is Opcode.CLOSE, close
        assert Close.parse(close.data).code == 4000, close
        await client._flush()  # the client's answer to the close frame (its protocol wrote it)
        assert await client.ended(timeout=10) == "eof"

    async def released() -> bool:
        stats = await hub_stats(cluster.a, cluster.admin)
        return bool((stats["sessions"], stats["topics"]) == (before["sessions"], before["topics"]))

    await until(released, "the session and its topic released", timeout=10)

    async def unsubscribed() -> bool:
        return bool((await cluster.redis.pubsub_numsub(channel))[0][1] == 0)

    await until(unsubscribed, "the bus channel released", timeout=10)
