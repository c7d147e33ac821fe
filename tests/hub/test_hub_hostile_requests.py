"""Requests that used to crash a session (a traceback and a connection dropped without a close frame,
1006, which tells a client to reconnect and send them again) get their documented error, and the
session goes on; and subscribing to another user's topic answers the same whether or not that user
exists. Against two real hubs on PostgreSQL and Redis, whose logs must show no traceback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from protocol import (
    MAX_TIME_MS,
    Delta,
    Encoding,
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
