"""The Python client SDK (protocol.client).

Most tests drive its decisions as pure code, with the time and the randomness given: the reconnection
schedule, the heartbeat, the pacing, the refresh schedule, matching replies, and routing messages to the
mirrors (with the resubscriptions that repair gaps and divergences). The last section runs the real
client against a scripted in-process WebSocket server, to check the wiring: it waits for what the client
does (frames received, predicates on the client) with timeouts, never sleeps hoping for it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, TypeVar

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from protocol import (
    SUBPROTOCOLS,
    Auth,
    Batch,
    ClientMessage,
    Delta,
    Encoding,
    Error,
    Event,
    Limits,
    Ping,
    Pong,
    Refresh,
    Refreshed,
    ServerMessage,
    SetOp,
    Since,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    decode,
    encode,
    encode_value,
    to_wire,
)
from protocol.client import Client, ClientClosed, ClientError, CloseStatus, ConnectionLost, Update
from protocol.client._connection import close_status
from protocol.client._replies import MessageId, Replies
from protocol.client._sync import Stats, Sync
from protocol.client._timing import (
    Heartbeat,
    Reconnects,
    TokenBucket,
    handshake_close_code,
    refresh_delay_ms,
)

USER = "user:5b0c2a3e-8f1d-4c6b-9a7e-2d4f6b8c0a1e"
BOARD = "leaderboard:xp:weekly"
TEAM = "team:platform"


def delta(offset: int, *, topic: str = BOARD, epoch: str = "e1") -> Delta:
    """The delta at ``offset``: it sets ``n`` to the offset."""
    return Delta(topic=topic, epoch=epoch, offset=offset, ops=(SetOp(("n",), offset),), at_ms=1)


def snapshot(
    offset: int, *, topic: str = BOARD, epoch: str = "e1", msg_id: MessageId | None = None
) -> Subscribed:
    state = {"n": offset}
    return Subscribed(id=msg_id, topic=topic, epoch=epoch, offset=offset, recovered=False, snapshot=state)


def recovered(
    *offsets: int, topic: str = BOARD, epoch: str = "e1", msg_id: MessageId | None = None
) -> Subscribed:
    deltas = tuple(delta(o, topic=topic, epoch=epoch) for o in offsets)
    return Subscribed(id=msg_id, topic=topic, epoch=epoch, offset=offsets[-1], recovered=True, deltas=deltas)


# ------------------------------------------------------------------------------- reconnecting (§17)


def sequence(*values: float) -> Iterator[float]:
    return itertools.chain(values, itertools.repeat(values[-1]))


def test_backoff_is_exponential_with_full_jitter_and_a_cap() -> None:
    draws = iter(sequence(0.5))
    reconnects = Reconnects(random=lambda: next(draws))
    delays = [reconnects.closed(1006, now_ms=0).delay_ms for _ in range(8)]
    # attempt 0 (after the first connection failed), then each failed attempt doubles the window, up to 30 s
    assert delays == [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]
    assert reconnects.attempt == 7


@pytest.mark.parametrize(("rand", "delay_ms"), [(0.0, 0), (0.999, 999)])
def test_the_jitter_spans_the_whole_window(rand: float, delay_ms: int) -> None:
    assert Reconnects(random=lambda: rand).closed(1001, now_ms=0).delay_ms == delay_ms


@pytest.mark.parametrize(("code", "floor"), [(1013, 5000), (4029, 5000), (4999, 1000), (1002, 1000)])
def test_codes_with_a_least_delay(code: int, floor: int) -> None:
    assert Reconnects(random=lambda: 0.0).closed(code, now_ms=0).delay_ms == floor
    assert Reconnects(random=lambda: 0.5).closed(code, now_ms=0).delay_ms == floor + 500


@pytest.mark.parametrize("code", [1000, 1003, 1008, 1009, 4000, 4003])
def test_codes_that_say_do_not_reconnect(code: int) -> None:
    plan = Reconnects(random=lambda: 0.5).closed(code, now_ms=0)
    assert plan.delay_ms is None
    assert not plan.new_token


def test_the_count_resets_once_a_connection_was_authenticated_for_60_s() -> None:
    reconnects = Reconnects(random=lambda: 0.5)
    for _ in range(4):
        reconnects.closed(1006, now_ms=0)
    assert reconnects.attempt == 3
    reconnects.welcomed(now_ms=1_000)
    assert reconnects.closed(1001, now_ms=59_999).delay_ms == 4000  # not 60 s yet: n stays 3
    assert reconnects.attempt == 3
    reconnects.welcomed(now_ms=100_000)
    assert reconnects.closed(1001, now_ms=160_000).delay_ms == 500  # 60 s authenticated: n = 0
    assert reconnects.attempt == 0


def test_a_new_token_first_on_4001_and_4004_and_a_second_4001_stops() -> None:
    reconnects = Reconnects(random=lambda: 0.0)
    assert reconnects.closed(4004, now_ms=0).new_token
    assert reconnects.closed(4004, now_ms=0).new_token  # an expired token again: keep trying
    first = reconnects.closed(4001, now_ms=0)
    assert first.new_token
    assert first.delay_ms is not None
    assert reconnects.closed(1006, now_ms=0).delay_ms is not None  # a network failure in between
    assert reconnects.closed(4001, now_ms=0).delay_ms is None  # the new token failed too: stop
    # a welcome in between: the next 4001 is a first one again
    reconnects = Reconnects(random=lambda: 0.0)
    reconnects.closed(4001, now_ms=0)
    reconnects.welcomed(now_ms=0)
    assert reconnects.closed(4001, now_ms=10).new_token
    assert not Reconnects(random=lambda: 0.0).closed(1001, now_ms=0).new_token


@pytest.mark.parametrize(
    ("status", "code"), [(500, 1006), (503, 1006), (429, 1006), (403, None), (404, None)]
)
def test_refused_upgrades(status: int, code: int | None) -> None:
    assert handshake_close_code(status) == code


# ---------------------------------------------------------------------------------- heartbeat (§14)


def test_ping_when_nothing_was_sent_for_a_heartbeat() -> None:
    heartbeat = Heartbeat(25_000, now_ms=0)
    assert heartbeat.next(now_ms=0) == ("ping", 25_000)
    heartbeat.sent(now_ms=10_000)  # any message counts
    assert heartbeat.next(now_ms=20_000) == ("ping", 15_000)
    heartbeat.sent(now_ms=35_000, ping=True)
    assert heartbeat.next(now_ms=36_000) == ("drop", 24_000)  # a pong is due within heartbeat_ms
    heartbeat.sent(now_ms=40_000)  # other messages do not stand for the pong
    assert heartbeat.next(now_ms=40_000) == ("drop", 20_000)
    assert heartbeat.pong(now_ms=35_120) == 120
    assert heartbeat.next(now_ms=40_000) == ("ping", 25_000)
    assert heartbeat.pong(now_ms=41_000) is None  # no ping was waiting


def test_no_more_than_one_ping_a_second() -> None:
    heartbeat = Heartbeat(200, now_ms=0)
    heartbeat.sent(now_ms=0, ping=True)
    heartbeat.pong(now_ms=10)
    assert heartbeat.next(now_ms=10) == ("ping", 990)


# ------------------------------------------------------------------------------------ pacing (§15)


def test_the_client_paces_itself_below_the_servers_bucket() -> None:
    bucket = TokenBucket(rate_per_second=20, burst=40, now_ms=0)
    sent = 0
    while bucket.delay_ms(now_ms=0) == 0:
        bucket.take(now_ms=0)
        sent += 1
    assert sent == 36  # 90% of the burst, for the jitter of the network
    assert bucket.delay_ms(now_ms=0) == pytest.approx(1000 / 18)
    assert bucket.delay_ms(now_ms=1000 / 18) == 0
    bucket.configure(rate_per_second=10, burst=5, now_ms=1000)  # welcome announced lower limits
    assert bucket.burst == 4
    for _ in range(4):
        assert bucket.delay_ms(now_ms=1000) == 0
        bucket.take(now_ms=1000)
    assert bucket.delay_ms(now_ms=1000) == pytest.approx(1000 / 9)


# ----------------------------------------------------------------------------- token refresh (§18)


@pytest.mark.parametrize(
    ("remaining_ms", "delay_ms"),
    [
        (900_000, 720_000),  # a 15-minute token: at 80%, 12 minutes in (§21)
        (300_000, 240_000),
        (120_000, 60_000),  # 80% would be 96 s: no later than 60 s before expiry wins
        (60_000, 30_000),  # a token of a minute or less: at half its life, never in a loop
        (30_000, 15_000),
        (-5_000, 0),
    ],
)
def test_refresh_at_80_percent_not_later_than_60_s_before_nor_before_half(
    remaining_ms: int, delay_ms: int
) -> None:
    server_now = 1_795_167_000_000
    assert refresh_delay_ms(server_now + remaining_ms, server_now) == delay_ms


def test_a_failed_refresh_is_retried_not_at_once() -> None:
    assert refresh_delay_ms(999_995_000, 1_000_000_000, failures=1) == 5_000
    assert refresh_delay_ms(1_000_900_000, 1_000_000_000, failures=2) == 720_000


# ----------------------------------------------------------------------------------- replies (§4)


async def test_replies_are_matched_by_id() -> None:
    replies = Replies()
    ping, refresh = replies.expect(1), replies.expect("r-2")
    assert not replies.resolve(Pong(id=99, server_time_ms=1))  # nobody asked
    assert not replies.resolve(snapshot(3))  # unsolicited
    assert replies.resolve(Pong(id=1, server_time_ms=5))
    assert replies.resolve(
        Error(id="r-2", code="auth_failed", message="bad token", field="token", retry_after_ms=10)
    )
    assert await ping == Pong(id=1, server_time_ms=5)
    with pytest.raises(ClientError) as caught:
        await refresh
    error = caught.value
    assert (error.code, error.message, error.field, error.retry_after_ms) == (
        "auth_failed",
        "bad token",
        "token",
        10,
    )
    assert len(replies) == 0
    with pytest.raises(ValueError, match="already waiting"):
        replies.expect(3), replies.expect(3)


async def test_a_reply_proves_the_earlier_unanswered_requests_were_dropped() -> None:
    replies = Replies()
    first, second, third = replies.expect(1), replies.expect(2), replies.expect(3)
    assert replies.resolve(Error(id=1, code="rate_limited", message="slow down", retry_after_ms=50))
    # the rate limiter answers the first of a run only; the reply to 3 shows that 2 was dropped
    assert replies.resolve(Pong(id=3, server_time_ms=1))
    for future in (first, second):
        with pytest.raises(ClientError) as caught:
            await future
        assert caught.value.code == "rate_limited"
    assert isinstance(await third, Pong)


async def test_an_error_without_id_answers_the_oldest_request_and_a_drop_fails_all() -> None:
    replies = Replies()
    first, second = replies.expect(1), replies.expect(2)
    assert replies.resolve(Error(code="internal_error", message="oops", ref_id="ref-1"))
    with pytest.raises(ClientError, match="internal_error"):
        await first
    replies.fail_all(ConnectionLost("gone"))
    with pytest.raises(ConnectionLost):
        await second
    assert not replies.resolve(Error(code="internal_error", message="nothing waits"))


# ------------------------------------------------------------------------ routing and repair (§12)


def new_sync(*topics: str) -> tuple[Sync, Stats]:
    stats = Stats()
    sync = Sync(stats, itertools.count(1).__next__)
    for topic in topics:
        sync.add(topic)
    return sync, stats


def test_subscribing_creates_an_empty_mirror_and_one_request() -> None:
    sync, _ = new_sync()
    mirror, request = sync.add(BOARD)
    assert request == Subscribe(id=1, topic=BOARD)
    assert not mirror.synced
    assert sync.add(BOARD) == (mirror, None)  # already subscribed
    reaction = sync.receive(snapshot(5, msg_id=1))
    assert [(u.topic, u.kind) for u in reaction.updates] == [(BOARD, "snapshot")]
    assert (mirror.epoch, mirror.offset, mirror.document) == ("e1", 5, {"n": 5})


def test_a_batch_is_routed_delta_by_delta_to_each_mirror() -> None:
    sync, stats = new_sync(BOARD, USER)
    sync.receive(snapshot(5, msg_id=1))
    sync.receive(snapshot(40, topic=USER, epoch="u1", msg_id=2))
    batch = Batch(
        deltas=(
            delta(6),
            delta(41, topic=USER, epoch="u1"),
            delta(9, topic=TEAM),  # not subscribed: ignored
            delta(7),
        )
    )
    reaction = sync.receive(batch)
    assert [(u.topic, u.kind, u.message.offset) for u in reaction.updates] == [  # type: ignore[union-attr]
        (BOARD, "delta", 6),
        (USER, "delta", 41),
        (BOARD, "delta", 7),
    ]
    assert reaction.subscribes == []
    assert sync.receive(delta(41, topic=USER, epoch="u1")).updates == []  # a duplicate
    assert sync.mirrors[BOARD].document == {"n": 7}
    assert sync.mirrors[USER].offset == 41
    assert (stats.deltas, stats.duplicates, stats.gaps) == (3, 1, 0)


def test_a_gap_resubscribes_once_with_since_and_the_recovered_reply_repairs_it() -> None:
    sync, stats = new_sync(BOARD)
    sync.receive(snapshot(5, msg_id=1))
    reaction = sync.receive(delta(7))  # 6 is missing
    assert reaction.updates == []
    assert reaction.subscribes == [Subscribe(id=2, topic=BOARD, since=Since(epoch="e1", offset=5))]
    # more gaps while that subscribe is on its way: no second one (§12)
    assert sync.receive(Batch(deltas=(delta(8), delta(9)))).subscribes == []
    reaction = sync.receive(recovered(6, 7, 8, 9, msg_id=2))
    assert [(u.kind, u.message) for u in reaction.updates] == [("recovered", recovered(6, 7, 8, 9, msg_id=2))]
    assert (sync.mirrors[BOARD].offset, sync.mirrors[BOARD].document) == (9, {"n": 9})
    assert sync.receive(delta(10)).updates[0].kind == "delta"
    assert (stats.gaps, stats.recovered, stats.deltas) == (1, 1, 5)
    # the reply came: the next gap asks again
    assert sync.receive(delta(12)).subscribes == [
        Subscribe(id=3, topic=BOARD, since=Since(epoch="e1", offset=10))
    ]


def test_a_delta_that_does_not_apply_resubscribes_without_since() -> None:
    sync, stats = new_sync(BOARD)
    sync.receive(snapshot(5, msg_id=1))
    assert sync.receive(delta(7)).subscribes == [
        Subscribe(id=2, topic=BOARD, since=Since(epoch="e1", offset=5))
    ]
    bad = Delta(topic=BOARD, epoch="e1", offset=6, ops=(SetOp(("missing", "n"), 1),), at_ms=1)
    # a subscribe with since is on its way, but its reply would bring the same delta back: ask for a snapshot
    assert sync.receive(bad).subscribes == [Subscribe(id=3, topic=BOARD)]
    assert sync.mirrors[BOARD].document == {"n": 5}
    assert sync.receive(bad).subscribes == []  # the snapshot is on its way
    # the reply to the first subscribe brings the delta that does not apply: still waiting for the snapshot
    assert sync.receive(recovered(6, msg_id=2)).subscribes == []
    sync.receive(snapshot(8, msg_id=3))
    assert sync.mirrors[BOARD].since() == Since(epoch="e1", offset=8)
    assert (stats.gaps, stats.diverged, stats.snapshots) == (1, 1, 2)


def test_a_new_epoch_is_a_gap_and_an_unsolicited_snapshot_resets_the_mirror() -> None:
    sync, _ = new_sync(BOARD)
    sync.receive(snapshot(5, msg_id=1))
    assert sync.receive(delta(1, epoch="e2")).subscribes == [
        Subscribe(id=2, topic=BOARD, since=Since(epoch="e1", offset=5))
    ]
    # the answer: a snapshot of the new epoch; later, the server resets the stream on its own
    sync.receive(snapshot(3, epoch="e2", msg_id=2))
    reaction = sync.receive(snapshot(0, epoch="e3"))
    assert [u.kind for u in reaction.updates] == ["snapshot"]
    assert sync.mirrors[BOARD].since() == Since(epoch="e3", offset=0)
    # a recovery that does not start where the mirror stands (another epoch) is a gap: ask again
    assert sync.receive(recovered(1, epoch="e4")).subscribes == [
        Subscribe(id=3, topic=BOARD, since=Since(epoch="e3", offset=0))
    ]


def test_resume_subscribes_with_since_where_a_mirror_has_a_state() -> None:
    sync, _ = new_sync(BOARD, USER)  # ids 1 and 2
    sync.receive(snapshot(1186, msg_id=1))
    sync.receive(delta(1187))
    sync.disconnected()
    assert sync.resume() == [
        Subscribe(id=3, topic=BOARD, since=Since(epoch="e1", offset=1187)),
        Subscribe(id=4, topic=USER),  # never got its snapshot
    ]
    # the requests of the old connection are forgotten: a gap now asks again at once
    assert sync.receive(delta(1189)).subscribes == []  # id 3 is on its way
    sync.disconnected()
    assert sync.receive(delta(1189)).subscribes == [
        Subscribe(id=5, topic=BOARD, since=Since(epoch="e1", offset=1187))
    ]


def test_a_resync_refused_for_now_is_retried_and_one_refused_for_good_drops_the_topic() -> None:
    sync, _ = new_sync(BOARD, TEAM)
    sync.receive(snapshot(5, msg_id=1))
    sync.receive(snapshot(2, topic=TEAM, msg_id=2))
    sync.receive(delta(7))  # subscribe 3 (BOARD, since 5)
    sync.receive(delta(9, topic=TEAM))  # subscribe 4 (TEAM, since 2)
    reaction = sync.receive(Error(id=3, code="unavailable", message="redis is down", retry_after_ms=250))
    assert (reaction.retries, reaction.failures, reaction.updates) == ([(BOARD, 250)], [], [])
    assert sync.resync(BOARD) == Subscribe(id=5, topic=BOARD, since=Since(epoch="e1", offset=5))
    assert sync.resync(BOARD) is None  # on its way
    gone = Error(id=4, code="unknown_topic", message="no such team", topic=TEAM)
    reaction = sync.receive(gone)
    assert reaction.failures == [(TEAM, gone)]
    assert [(u.topic, u.kind, u.message) for u in reaction.updates] == [
        (TEAM, "unsubscribed", Unsubscribed(topic=TEAM, reason="unknown_topic"))
    ]
    assert TEAM not in sync.mirrors
    assert sync.resync(TEAM) is None
    assert sync.receive(Error(id=77, code="unavailable", message="not about a subscribe")).failures == []


def test_a_refused_first_subscribe_drops_the_topic() -> None:
    sync, _ = new_sync(USER)
    forbidden = Error(id=1, code="forbidden_topic", message="user topics are private", topic=USER)
    assert sync.receive(forbidden).failures == [(USER, forbidden)]
    assert sync.mirrors == {}
    sync.add(USER)
    unavailable = Error(id=2, code="unavailable", message="later")  # no state to keep: the caller decides
    assert sync.receive(unavailable).failures == [(USER, unavailable)]


def test_events_and_unsubscriptions() -> None:
    sync, stats = new_sync(USER)
    level_up = Event(
        topic=USER,
        name="level_up",
        data={"level": 11, "previous_level": 10, "xp": 3170, "rule_id": "levels", "rule_version": 3,
              "explanation": "3,170 XP reaches level 11"},
        at_ms=1,
        offset=43,
    )  # fmt: skip
    assert sync.receive(level_up).updates == [Update(USER, "event", level_up)]
    assert sync.receive(level_up.model_copy(update={"topic": TEAM})).updates == []  # not subscribed
    assert stats.events == 1
    # the reply to the application's own unsubscribe is not an update; the server ending one is
    assert sync.receive(Unsubscribed(id=9, topic=USER)).updates == []
    ended = Unsubscribed(topic=USER, reason="forbidden_topic")
    assert sync.receive(ended).updates == [Update(USER, "unsubscribed", ended)]
    assert sync.mirrors == {}
    assert sync.receive(delta(44, topic=USER)).updates == []
    # a reply to a subscribe of a topic dropped meanwhile is ignored
    sync.add(BOARD)
    assert sync.drop(BOARD)
    assert sync.receive(snapshot(5, msg_id=2)).updates == []
    assert not sync.drop(BOARD)


# ------------------------------------------------------------------------------------ close status


def test_the_close_that_decides() -> None:
    server = Close(4001, "auth_failed: bad signature")
    assert close_status(ConnectionClosedError(server, None)).code == 4001
    assert close_status(ConnectionClosedError(server, Close(4001, ""), True)).code == 4001
    assert close_status(ConnectionClosedError(None, None)).code == 1006
    too_big = close_status(ConnectionClosedError(Close(1009, ""), Close(1009, "too big"), False))
    assert too_big.code == 1002  # the library refused a server frame: a broken server, reconnect
    assert close_status(ConnectionClosedOK(Close(1000, ""), Close(1000, "bye"), False)).code == 1000


# ------------------------------------------------------------------- the client on a scripted server

TIMEOUT = 5.0


def welcome(msg_id: MessageId | None, *, heartbeat_ms: int = 25_000, expires_in_ms: int = 900_000) -> Welcome:
    now = 1_795_167_000_000
    return Welcome(
        id=msg_id,
        session_id="s-1",
        user_id="5b0c2a3e-8f1d-4c6b-9a7e-2d4f6b8c0a1e",
        heartbeat_ms=heartbeat_ms,
        server_time_ms=now,
        expires_at_ms=now + expires_in_ms,
        limits=Limits.default(),
    )


M = TypeVar("M", bound=ClientMessage)


class Peer:
    """The server's side of one connection, driven by the test."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.encoding = Encoding(str(ws.subprotocol))

    async def expect(self, cls: type[M]) -> M:
        frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        message = decode(frame, self.encoding, sender="client")
        assert isinstance(message, cls), message
        return message

    async def send(self, message: ServerMessage) -> None:
        await self.ws.send(encode(message, self.encoding))

    async def close(self, code: int, reason: str = "") -> None:
        await self.ws.close(code, reason)

    async def handshake(self, subscribes: int = 0, **welcome_fields: Any) -> tuple[Auth, list[Subscribe]]:
        """Reads ``auth`` and the ``subscribes`` the client pipelines right after it: they come before the
        welcome is sent. Then welcomes."""
        auth = await self.expect(Auth)
        pipelined = [await self.expect(Subscribe) for _ in range(subscribes)]
        await self.send(welcome(auth.id, **welcome_fields))
        return auth, pipelined


class Hub:
    def __init__(self) -> None:
        self.peers: asyncio.Queue[Peer] = asyncio.Queue()
        self.url = ""

    async def _handler(self, ws: ServerConnection) -> None:
        self.peers.put_nowait(Peer(ws))
        await ws.wait_closed()

    async def accept(self) -> Peer:
        return await asyncio.wait_for(self.peers.get(), TIMEOUT)


@asynccontextmanager
async def scripted_hub() -> AsyncIterator[Hub]:
    hub = Hub()
    subprotocols = [Subprotocol(name) for name in SUBPROTOCOLS]
    async with serve(hub._handler, "127.0.0.1", 0, subprotocols=subprotocols) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        hub.url = f"ws://127.0.0.1:{port}/ws"
        yield hub


class Tokens:
    def __init__(self) -> None:
        self.issued = 0

    async def __call__(self) -> str:
        self.issued += 1
        return f"token-{self.issued}"


def fast_client(url: str, tokens: Tokens, encoding: Encoding = Encoding.MSGPACK) -> Client:
    client = Client(url, tokens, encoding=encoding)
    client._reconnects = Reconnects(random=lambda: 0.0)  # reconnect at once (the schedule is tested above)
    return client


async def test_subscribe_pipelines_after_auth_and_keeps_the_mirror_live() -> None:
    async with scripted_hub() as hub, fast_client(hub.url, Tokens()) as client:
        updates = client.updates()
        subscribing = asyncio.create_task(client.subscribe(BOARD, timeout=TIMEOUT))
        peer = await hub.accept()
        auth = await peer.expect(Auth)
        assert auth.token == "token-1"
        subscribe = await peer.expect(Subscribe)  # sent before any welcome: pipelined
        assert (subscribe.topic, subscribe.since) == (BOARD, None)
        assert (client.welcome, client.stats.connects) == (None, 0)
        await peer.send(welcome(auth.id))
        await peer.send(snapshot(5, msg_id=subscribe.id))
        mirror = await subscribing
        assert (mirror.offset, mirror.document, client.state) == (5, {"n": 5}, "live")
        assert client.welcome is not None
        assert client.welcome.session_id == "s-1"
        await peer.send(Batch(deltas=(delta(6), delta(7))))
        await client.wait_for(lambda: mirror.offset == 7, timeout=TIMEOUT)
        assert [(u.kind, u.message) async for u in take(updates, 3)] == [
            ("snapshot", snapshot(5, msg_id=subscribe.id)),
            ("delta", delta(6)),
            ("delta", delta(7)),
        ]
        # a gap: the client resubscribes from where its mirror stands
        await peer.send(delta(9))
        resync = await peer.expect(Subscribe)
        assert resync.since == Since(epoch="e1", offset=7)
        await peer.send(recovered(8, 9, msg_id=resync.id))
        await client.wait_for(lambda: mirror.offset == 9, timeout=TIMEOUT)
        assert (client.stats.gaps, client.stats.recovered) == (1, 1)
        # requests, and an error reply
        pinging = asyncio.create_task(client.request(Ping()))
        ping = await peer.expect(Ping)
        await peer.send(Pong(id=ping.id, server_time_ms=1))
        assert await pinging == Pong(id=ping.id, server_time_ms=1)
        refreshing = asyncio.create_task(client.request(Refresh(token="t")))
        refresh = await peer.expect(Refresh)
        await peer.send(Error(id=refresh.id, code="auth_failed", message="bad token"))
        with pytest.raises(ClientError, match="auth_failed"):
            await refreshing
        # a refused subscribe raises to its caller; the connection goes on
        forbidden = asyncio.create_task(client.subscribe(USER, timeout=TIMEOUT))
        request = await peer.expect(Subscribe)
        await peer.send(Error(id=request.id, code="forbidden_topic", message="private", topic=USER))
        with pytest.raises(ClientError) as caught:
            await forbidden
        assert (caught.value.code, caught.value.topic) == ("forbidden_topic", USER)
        # unsubscribe: the request, and the mirror is gone
        unsubscribing = asyncio.create_task(client.unsubscribe(BOARD))
        unsubscribe = await peer.expect(Unsubscribe)
        await peer.send(Unsubscribed(id=unsubscribe.id, topic=BOARD))
        await unsubscribing
        assert client.mirrors == {}
    assert client.state == "closed"
    rest = [u async for u in updates]
    assert [(u.kind, u.topic) for u in rest] == [("recovered", BOARD), ("unsubscribed", USER)]  # then it ends


async def take(updates: AsyncIterator[Update], n: int) -> AsyncIterator[Update]:
    for _ in range(n):
        yield await asyncio.wait_for(anext(updates), TIMEOUT)


async def test_the_json_subprotocol_for_debugging() -> None:
    async with scripted_hub() as hub, fast_client(hub.url, Tokens(), Encoding.JSON) as client:
        subscribing = asyncio.create_task(client.subscribe(BOARD, timeout=TIMEOUT))
        peer = await hub.accept()
        assert peer.encoding is Encoding.JSON
        _, [subscribe] = await peer.handshake(subscribes=1)
        await peer.send(snapshot(5, msg_id=subscribe.id))
        await peer.send(delta(6))
        mirror = await subscribing
        await client.wait_for(lambda: mirror.document == {"n": 6}, timeout=TIMEOUT)


async def test_after_going_away_the_client_reconnects_and_resumes_from_its_offsets() -> None:
    async with scripted_hub() as hub, fast_client(hub.url, Tokens()) as client:
        subscribing = asyncio.create_task(client.subscribe(BOARD, timeout=TIMEOUT))
        peer = await hub.accept()
        _, [subscribe] = await peer.handshake(subscribes=1)
        await peer.send(snapshot(1186, msg_id=subscribe.id))
        mirror = await subscribing
        await peer.send(delta(1187))
        await client.wait_for(lambda: mirror.offset == 1187, timeout=TIMEOUT)
        await peer.close(1001, "going_away")
        await client.wait_for(lambda: client.state == "reconnecting", timeout=TIMEOUT)

        peer = await hub.accept()
        later = asyncio.create_task(client.subscribe(TEAM, timeout=TIMEOUT))  # while reconnecting
        auth, [resume, team] = await peer.handshake(subscribes=2)
        assert auth.token == "token-1"  # no new token needed
        assert resume.since == Since(epoch="e1", offset=1187)
        assert (team.topic, team.since) == (TEAM, None)
        await peer.send(recovered(1188, msg_id=resume.id))
        await peer.send(snapshot(3, topic=TEAM, msg_id=team.id))
        assert (await later).offset == 3
        assert client.mirrors[BOARD] is mirror
        assert mirror.offset == 1188
        assert client.last_close == CloseStatus(1001, "going_away")
        assert (client.stats.reconnects, client.stats.connects, client.stats.recovered) == (1, 2, 1)


async def test_frames_the_client_cannot_read() -> None:
    async with scripted_hub() as hub, fast_client(hub.url, Tokens()) as client:
        subscribing = asyncio.create_task(client.subscribe(BOARD, timeout=TIMEOUT))
        peer = await hub.accept()
        _, [subscribe] = await peer.handshake(subscribes=1)
        # an invalid reply stands as an error for its request: the caller does not wait forever
        invalid: dict[str, Any] = {**to_wire(snapshot(5, msg_id=subscribe.id)), "offset": -1}
        await peer.ws.send(encode_value(invalid, Encoding.MSGPACK))
        with pytest.raises(ClientError) as caught:
            await subscribing
        assert (caught.value.code, caught.value.field) == ("invalid_message", "offset")
        # a message of a type from a newer server is ignored
        await peer.ws.send(encode_value({"type": "news", "text": "hello"}, Encoding.MSGPACK))
        pinging = asyncio.create_task(client.request(Ping()))
        await peer.send(Pong(id=(await peer.expect(Ping)).id, server_time_ms=1))
        await pinging
        # a frame no one can read: the client closes with 1002 and will reconnect (after at least 1 s)
        await peer.ws.send('{"type": "pong"}')  # a text frame on msgpack
        await client.wait_for(lambda: client.state == "reconnecting", timeout=TIMEOUT)
        assert client.last_close is not None
        assert client.last_close.code == 1002
        await asyncio.wait_for(peer.ws.wait_closed(), TIMEOUT)
        assert peer.ws.close_code == 1002


async def test_token_failures_get_a_new_token_and_a_second_4001_ends_the_client() -> None:
    tokens = Tokens()
    async with scripted_hub() as hub, fast_client(hub.url, tokens) as client:
        peer = await hub.accept()
        await peer.handshake()
        await peer.close(4004, "token_expired")
        peer = await hub.accept()
        auth, _ = await peer.handshake()
        assert auth.token == "token-2"  # 4004: a new token first
        await peer.close(4001, "auth_failed")
        peer = await hub.accept()
        assert (await peer.expect(Auth)).token == "token-3"  # 4001: a new token first
        await peer.close(4001, "auth_failed")  # the new token fails too: stop and ask the user
        with pytest.raises(ClientClosed) as caught:
            await client.wait_for(lambda: False, timeout=TIMEOUT)
        assert (caught.value.code, caught.value.reason) == (4001, "auth_failed")
        assert client.error is caught.value
        assert client.state == "closed"
        assert tokens.issued == 3
        with pytest.raises(ClientClosed):
            await client.subscribe(BOARD)
        with pytest.raises(ClientClosed):
            await anext(client.updates())


async def test_a_close_that_says_do_not_reconnect_fails_the_waiters() -> None:
    states: list[str] = []
    async with scripted_hub() as hub:
        client = fast_client(hub.url, Tokens())
        client._on_state = states.append
        async with client:
            updates = client.updates()
            subscribing = asyncio.create_task(client.subscribe(USER, timeout=TIMEOUT))
            peer = await hub.accept()
            await peer.handshake(subscribes=1)
            await peer.close(4003, "forbidden")
            with pytest.raises(ClientClosed) as caught:
                await subscribing
            assert caught.value.code == 4003
            with pytest.raises(ClientClosed):
                await anext(updates)
            assert hub.peers.empty()  # the client has ended: nothing can connect any more
    assert states == ["live", "closed"]


async def test_a_refused_upgrade_ends_the_client() -> None:
    async def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "no\n")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=refuse) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with fast_client(f"ws://127.0.0.1:{port}/ws", Tokens()) as client:
            with pytest.raises(ClientClosed) as caught:
                await client.subscribe(BOARD, timeout=TIMEOUT)
    assert (caught.value.code, caught.value.http_status) == (None, 403)


async def test_no_pong_within_the_heartbeat_drops_and_resumes() -> None:
    async with scripted_hub() as hub, fast_client(hub.url, Tokens()) as client:
        peer = await hub.accept()
        await peer.handshake(heartbeat_ms=300)
        await peer.expect(Ping)  # nothing else was sent for a heartbeat
        peer = await hub.accept()  # no pong came: the client dropped the connection and came back
        await peer.handshake()
        assert client.last_close == CloseStatus(1006, "no pong within 300 ms")
        pinging = asyncio.create_task(client.request(Ping()))
        await peer.send(Pong(id=(await peer.expect(Ping)).id, server_time_ms=1))
        await pinging
        assert client.rtt_ms is not None


async def test_the_token_is_refreshed_in_band_before_it_expires() -> None:
    async with scripted_hub() as hub, fast_client(hub.url, Tokens()) as client:
        peer = await hub.accept()
        await peer.handshake(expires_in_ms=400)  # a short token: at half its remaining life, in 200 ms
        refresh = await peer.expect(Refresh)
        assert refresh.token == "token-2"
        await peer.send(Refreshed(id=refresh.id, expires_at_ms=1_795_167_900_000))
        await client.wait_for(lambda: client.stats.refreshes == 1, timeout=TIMEOUT)
        assert client.state == "live"
