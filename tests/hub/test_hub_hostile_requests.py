"""Requests that used to crash a session (a traceback and a connection dropped without a close frame,
1006, which tells a client to reconnect and send them again) get their documented error, and the
session goes on; and subscribing to another user's topic answers the same whether or not that user
exists. Against two real hubs on PostgreSQL and Redis, whose logs must show no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as connect_sync

from protocol import (
    MAX_TIME_MS,
    SERVER_FRAME_LIMITS,
    Auth,
    Delta,
    Encoding,
    Error,
    Ingest,
    Message,
    Ping,
    ProtocolError,
    Refresh,
    Subscribe,
    Unsubscribe,
    decode,
    encode_value,
)
from server.hub.publish import TopicChange
from tests.hub.cluster import Account, Raw
from tests.hub.conftest import Cluster

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
async def people(shared_cluster: Cluster) -> dict[str, Account]:
    accounts = {handle: await shared_cluster.register(handle) for handle in ("ivy", "jon")}
    await shared_cluster.create_team("quiet", ["ivy"])
    return accounts


@pytest.fixture
async def no_traceback(shared_cluster: Cluster) -> AsyncIterator[None]:
    """The hubs log no traceback (nor an unhandled error) while the test runs."""
    seen = {hub.name: len(hub.output) for hub in (shared_cluster.a, shared_cluster.b)}
    yield
    for hub in (shared_cluster.a, shared_cluster.b):
        logged = "".join(hub.output[seen[hub.name] :])
        assert "Traceback" not in logged, logged
        assert " failed (ref " not in logged, logged


@pytest.fixture
async def watcher(
    shared_cluster: Cluster, people: dict[str, Account]
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A session on node A; calling the fixture's value checks that it still gets live deltas."""
    async with Raw.open(shared_cluster.a.ws) as raw:
        await raw.login(people["jon"].access_token)
        offset = (await raw.subscribe("team:quiet")).offset

        async def still_served() -> None:
            nonlocal offset
            change = TopicChange("team:quiet", [["set", ["description"], uuid.uuid4().hex]])
            await shared_cluster.publisher.publish([change])
            delta = await raw.expect("delta")
            assert isinstance(delta, Delta)
            assert delta.offset == offset + 1
            offset = delta.offset

        yield still_served


def ingest(request_id: int, **event: Any) -> dict[str, Any]:
    sent = {"id": f"e-{request_id}", "metric": "tickets_closed", "value": 1, "occurred_at_ms": 0} | event
    return {"type": "ingest", "id": request_id, "events": [sent]}


HOSTILE_INGESTS = [
    ("after the year 9999", {"occurred_at_ms": 253_402_300_800_000}, "events.0.occurred_at_ms"),
    ("2^53 - 1 ms", {"occurred_at_ms": 2**53 - 1}, "events.0.occurred_at_ms"),
    ("NUL in the id", {"id": "a\x00b"}, "events.0.id"),
    ("NUL in the metric", {"metric": "tickets_closed\x00"}, "events.0.metric"),
    ("NUL in a metadata value", {"metadata": {"branch": "main\x00"}}, "events.0.metadata"),
    ("NUL in a metadata key", {"metadata": {"\x00": 1}}, "events.0.metadata"),
    ("NUL deep in metadata", {"metadata": {"a": [[{"b": "\x00"}]]}}, "events.0.metadata"),
]


@pytest.mark.parametrize("encoding", [Encoding.MSGPACK, Encoding.JSON])
async def test_an_ingest_the_server_cannot_keep_gets_invalid_message(
    shared_cluster, people, watcher, no_traceback, encoding
):
    async with Raw.open(shared_cluster.a.ws, encoding) as raw:
        await raw.login(people["ivy"].access_token)
        for request_id, (case, event, field) in enumerate(HOSTILE_INGESTS, start=10):
            await raw.send(ingest(request_id, **event))
            error = await raw.expect("error")
            assert (error.id, error.code, error.field) == (request_id, "invalid_message", field), case
            assert error.message.startswith(f"{field}: "), error.message
            # The session goes on.
            await raw.send({"type": "ping", "id": request_id})
            assert (await raw.expect("pong")).id == request_id
        # The last millisecond a calendar holds is a time: that event is answered on its own (too far
        # ahead), and the one beside it is scored as usual.
        await raw.send(
            {
                "type": "ingest",
                "id": 99,
                "events": [
                    ingest(0, occurred_at_ms=MAX_TIME_MS)["events"][0] | {"id": f"late-{encoding.name}"},
                    ingest(0, occurred_at_ms=0)["events"][0] | {"id": f"early-{encoding.name}"},
                ],
            }
        )
        reply = await raw.expect("ingested")
        assert [(e.status, e.code, e.field) for e in reply.events] == [
            ("rejected", "in_the_future", "occurred_at_ms"),
            ("rejected", "too_old", "occurred_at_ms"),
        ]
    await watcher()


async def test_another_users_topic_is_forbidden_whether_or_not_they_exist(
    shared_cluster, people, watcher, no_traceback
):
    ivy, jon = people["ivy"], people["jon"]
    nobody = str(uuid.uuid4())
    async with Raw.open(shared_cluster.a.ws) as raw:
        await raw.login(ivy.access_token)
        answers = []
        for request_id, user_id in enumerate(
            [jon.user_id, nobody, "not-a-uuid", jon.user_id.upper()[:8]], start=3
        ):
            await raw.send({"type": "subscribe", "id": request_id, "topic": f"user:{user_id}".lower()})
            error = await raw.expect("error")
            assert error.id == request_id
            answers.append((error.code, error.message))
        # One answer for all: nothing tells an account's id from a made-up one.
        assert set(answers) == {("forbidden_topic", "user topics are private")}
        assert (await raw.subscribe(f"user:{ivy.user_id}", id=9)).snapshot["user_id"] == ivy.user_id
    await watcher()


# -- a fuzz test of the session: hostile frames from Hypothesis -------------------------------------

FUZZ_EXAMPLES = 300
"""Sessions, each sending one to three hostile frames: about 5 s against a real hub."""
SKIPPED = ("delta", "batch", "event")
"""Unsolicited messages that may come between a request and its reply."""
REPLIES: dict[type[Message], tuple[set[str], set[str]]] = {
    # request type: (its success replies, the error codes it may get for what the fuzzer sends)
    Auth: (set(), {"already_authenticated"}),
    Subscribe: ({"subscribed"}, {"forbidden_topic", "unknown_topic"}),
    Unsubscribe: ({"unsubscribed"}, set()),
    Ping: ({"pong"}, set()),
    Refresh: ({"refreshed"}, {"auth_failed", "token_expired"}),
    Ingest: (
        {"ingested"},
        set(),
    ),  # what the protocol lets through, the server must take (or reject per event)
}

wire_ints = st.integers(-(2**63), 2**64 - 1)  # all msgpack holds; beyond ±(2^53 - 1) is refused
texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "\x00", "a\x00b", "ü" * 3, "💥"]
)
"""Strings msgpack can carry (lone surrogates are not UTF-8: the JSON frames below try those)."""
scalars = (
    st.none()
    | st.booleans()
    | wire_ints
    | st.sampled_from([2**53 - 1, 2**53, -(2**53), 253_402_300_800_000, MAX_TIME_MS])
    | st.floats()
    | texts
    | st.binary(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts | wire_ints, inner, max_size=4),
    max_leaves=10,
)
client_types = st.sampled_from(["auth", "subscribe", "unsubscribe", "ping", "refresh", "ingest"])
fields = st.sampled_from(["id", "token", "topic", "since", "events", "epoch", "offset"]) | texts
topics_any = st.sampled_from(
    [
        "team:quiet",
        "presence:global",
        "activity:global",
        "leaderboard:xp:weekly",
        "challenge:none",
        "team:x\n",
    ]
) | st.builds(lambda u: f"user:{u}", st.uuids().map(str) | texts)
request_ids = st.integers(0, 1000) | values
"""Mostly a valid id, so that the rest of the message is what is judged."""
good_events = st.fixed_dictionaries(
    {
        "id": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12),
        "metric": st.sampled_from(["tickets_closed", "commits", "focus_minutes"]),
        "value": st.integers(0, 100) | st.floats(0, 100),
        "occurred_at_ms": st.integers(0, MAX_TIME_MS),
    }
)
edge_times = st.sampled_from([253_402_300_799_999, 253_402_300_800_000, 2**53 - 1, 2**53, -1])
"""The last millisecond of the year 9999, the next one, the integers' edges, before 1970."""
hostile_fields = st.one_of(
    st.tuples(st.just("occurred_at_ms"), edge_times),
    st.tuples(st.just("occurred_at_ms"), st.integers(253_402_300_800_000, 2**53 - 1) | wire_ints),
    st.tuples(st.sampled_from(["id", "metric", "user"]), texts | scalars),
    st.tuples(st.just("metadata"), values),
    st.tuples(st.just("value"), scalars),
)
ingest_events = st.one_of(
    good_events,
    *[st.tuples(good_events, hostile_fields).map(lambda e: {**e[0], e[1][0]: e[1][1]})] * 3,
)
"""An event right but for (at most) one field."""
ingests = st.fixed_dictionaries(
    {"type": st.just("ingest"), "events": st.lists(ingest_events, min_size=1, max_size=3)},
    optional={"id": request_ids},
)
any_maps = st.dictionaries(fields, values, max_size=4).flatmap(
    lambda body: (client_types | texts | wire_ints).map(lambda kind: {**body, "type": kind})
)
requests = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("subscribe"), "topic": topics_any}, optional={"id": request_ids, "since": values}
    ),
    st.fixed_dictionaries({"type": st.just("refresh"), "token": texts}, optional={"id": request_ids}),
    st.fixed_dictionaries({"type": st.just("ping")}, optional={"id": request_ids}),
)


def _json_text(value: Any) -> str:
    """JSON text of a value (bytes as lists of numbers; NaN and lone surrogates written as Python does:
    `NaN` is not JSON, an escaped surrogate is JSON but not Unicode: both refused)."""
    return json.dumps(value, default=list)


def nested_frame(depth: int) -> bytes:
    return b"\x82\xa4type\xa4ping\xa1x" + b"\x91" * (depth - 1) + b"\x90"


@st.composite
def frames(draw: st.DrawFn, encoding: Encoding) -> bytes | str:
    """One hostile frame for a session on `encoding` (now and then of the other frame type)."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(max_size=40))  # anything at all
    if choice == 1:
        depth = draw(st.integers(1, 60))
        return (
            nested_frame(depth)
            if encoding is Encoding.MSGPACK
            else '{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}"
        )
    if choice == 2 and encoding is Encoding.JSON:  # text that is JSON, but not of the data model
        return draw(
            st.sampled_from(
                [
                    '{"type": "ping", "x": "\\ud800"}',  # an escaped lone surrogate
                    '{"type": "ping", "type": "ping"}',  # a key twice
                    '{"type": "ping", "x": NaN}',
                    '{"type": "ping", "x": 1e400}',
                    '{"type": "ping"} {}',
                    "[1]",
                ]
            )
        )
    if choice == 2:
        return b"\x82\xa4type\xa4ping\xa1x" + draw(
            st.sampled_from([b"\xa2\xff\xfe", b"\xa3\xed\xa0\x80", b"\xc1", b"\xd9"])
        )
    value = draw(values if choice == 3 else any_maps if choice <= 5 else ingests if choice <= 8 else requests)
    if encoding is Encoding.MSGPACK:
        return msgpack.packb(value, use_bin_type=True)
    return _json_text(value)


@dataclass
class Expected:
    close: tuple[int, str] | None = None
    """The close code and reason (its error code) the frame must get."""
    replies: set[str] = dataclass_field(default_factory=set)
    errors: set[str] = dataclass_field(default_factory=set)
    id: Any = None


def expected(frame: bytes | str, encoding: Encoding, authenticated: bool) -> Expected:
    """What PROTOCOL.md (§3.3, §5, §16) says the hub answers to this frame."""
    try:
        message = decode(frame, encoding, sender="client")
    except ProtocolError as error:
        close = error.close_code
        if close is not None:  # a fatal error
            return Expected(close=(int(close), str(error.code)))
        return Expected(errors={str(error.code)}, id=error.message_id)
    if not authenticated:
        if isinstance(message, Auth):
            return Expected(close=(4001, "auth_failed"))  # a made-up token
        return Expected(close=(4000, "not_authenticated"))
    replies, errors = REPLIES[type(message)]
    return Expected(replies=replies, errors=errors, id=getattr(message, "id", None))


def read(ws: ClientConnection, encoding: Encoding) -> Message:
    """The next message that is not an unsolicited delta, batch or event, decoded strictly."""
    while True:
        message = decode(ws.recv(timeout=10), encoding, sender="server")
        if message.type not in SKIPPED:
            return message


def fuzz_session(
    url: str, token: str, encoding: Encoding, before_auth: bool, sent: list[bytes | str]
) -> None:
    """One session (authenticated first unless `before_auth`): each frame sent, its answer checked
    against `expected`, then a ping that must still be answered."""
    with connect_sync(
        url,
        subprotocols=[encoding.value],  # type: ignore[list-item]
        compression=None,
        max_size=SERVER_FRAME_LIMITS.max_frame_bytes,
    ) as ws:
        authenticated = False
        if not before_auth:
            ws.send(encode_value({"type": "auth", "id": 1, "token": token}, encoding))
            assert read(ws, encoding).type == "welcome"
            authenticated = True
        for frame in sent:
            want = expected(frame, encoding, authenticated)
            ws.send(frame)
            if want.close is not None:
                with contextlib.suppress(ConnectionClosed):
                    while True:  # the replies to earlier frames may come first
                        ws.recv(timeout=10)
                received = ws.protocol.close_rcvd
                assert received is not None, "closed without a close frame (1006)"
                assert (received.code, received.reason.split(":")[0]) == want.close
                return
            reply = read(ws, encoding)
            if isinstance(reply, Error):
                assert reply.code in want.errors, (frame, reply)
                assert reply.code != "internal_error"
            else:
                assert reply.type in want.replies, (frame, reply)
            assert getattr(reply, "id", None) == want.id, (frame, reply)
        # Whatever came before, the session still answers.
        ws.send(encode_value({"type": "ping", "id": "still-here"}, encoding))
        if authenticated:
            assert read(ws, encoding).id == "still-here"
        else:  # a ping before auth closes the connection (4000)
            with contextlib.suppress(ConnectionClosed):
                while True:
                    ws.recv(timeout=10)
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == 4000


def run_fuzz(url: str, token: str) -> None:
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def session(data: st.DataObject) -> None:
        encoding = data.draw(st.sampled_from(Encoding), label="encoding")
        before_auth = data.draw(st.integers(0, 7), label="before auth") == 0
        sent = data.draw(st.lists(frames(encoding), min_size=1, max_size=3), label="frames")
        fuzz_session(url, token, encoding, before_auth, sent)

    session()


async def test_hostile_frames_get_their_documented_answer(shared_cluster, people, watcher, no_traceback):
    """Random msgpack and JSON values, message-shaped maps with random types and fields, huge numbers,
    NUL characters, deep nesting, invalid UTF-8, frames of the wrong type: each gets its error frame
    or its close code (never a dropped connection, never a traceback), and a watcher on the same node
    is still served after them all."""
    await asyncio.to_thread(run_fuzz, shared_cluster.a.ws, people["ivy"].access_token)
    await watcher()
