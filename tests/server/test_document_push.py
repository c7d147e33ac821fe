"""The one compare-and-set push loop of live documents (`server.services.topics.document_push`), against a
real Redis: a lost race is diffed again against the winner's document, a push within the interval waits its
turn, and a push that loses every race gives up after the documented number of tries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from protocol import apply_ops, diff_ops, parse_op
from server.hub.documents import DocumentStore, Published
from server.hub.publish import TopicChange, decode_change, encode_change
from server.hub.redis import RedisStreams
from server.services.topics.document_push import MAX_ATTEMPTS, Compute, PushFailed, push_document

TOPIC = "challenge:push-loop"


@pytest.fixture
async def store(redis_server: str, redis_prefix: str) -> AsyncIterator[DocumentStore]:
    client = Redis.from_url(redis_server, decode_responses=False)
    yield DocumentStore(RedisStreams(client, prefix=redis_prefix))
    await client.aclose()


def change(before: dict[str, Any] | None, after: dict[str, Any]) -> TopicChange:
    return TopicChange(TOPIC, diff_ops(before or {}, after))


async def rival_publishes(store: DocumentStore, document: dict[str, Any]) -> None:
    """Another process wins the race: it publishes ``document`` from the topic's current position."""
    current = await store.read(TOPIC)
    outcome = await store.publish_if(
        TOPIC, current.position, encode_change(change(current.document, document)), document
    )
    assert isinstance(outcome, Published)


async def replayed(store: DocumentStore) -> dict[str, Any]:
    """The document every delta of the topic's epoch builds, from nothing."""
    head = await store.read(TOPIC)
    deltas = await store.streams.since(TOPIC, head.position.epoch, 0)
    assert deltas is not None
    document: dict[str, Any] = {}
    for delta in deltas:
        ops = decode_change(delta.payload)[0]
        document = apply_ops(document, [parse_op(op) for op in ops])
    return document


async def test_a_push_that_lost_a_race_diffs_again_against_the_winners_document(store: DocumentStore) -> None:
    stored = await store.read(TOPIC)
    computed = 0

    async def compute(_stored: dict[str, Any] | None) -> dict[str, Any]:
        nonlocal computed
        computed += 1
        if computed == 1:  # between reading the position and publishing, a rival publishes
            await rival_publishes(store, {"score": 1, "rival": True})
        return {"score": 2}

    after = await push_document(store, TOPIC, stored, compute, change)
    assert computed == 2
    assert after.document == {"score": 2}
    assert after.position.offset == stored.position.offset + 2  # the rival's delta, then this one
    assert await replayed(store) == {"score": 2}  # diffed against the rival's document, not the stale one


async def test_a_push_of_an_unchanged_document_publishes_nothing(store: DocumentStore) -> None:
    first = await push_document(store, TOPIC, await store.read(TOPIC), _constant({"score": 3}), change)
    again = await push_document(store, TOPIC, first, _constant({"score": 3}), change)
    assert again == first
    assert (await store.read(TOPIC)).position == first.position


async def test_a_push_within_the_interval_waits_its_turn_then_publishes(store: DocumentStore) -> None:
    first = await push_document(store, TOPIC, await store.read(TOPIC), _constant({"score": 1}), change)
    # The topic's last delta is fresh: the store answers Wait, the loop sleeps what it says and publishes.
    second = await push_document(store, TOPIC, first, _constant({"score": 2}), change, min_interval_ms=200)
    assert second.position.offset == first.position.offset + 1
    assert await replayed(store) == {"score": 2}


async def test_a_push_that_loses_every_race_gives_up_after_the_documented_tries(store: DocumentStore) -> None:
    stored = await store.read(TOPIC)
    computed = 0

    async def compute(_stored: dict[str, Any] | None) -> dict[str, Any]:
        nonlocal computed
        computed += 1
        await rival_publishes(store, {"rival": computed})  # every time, someone else gets there first
        return {"mine": True}

    with pytest.raises(PushFailed, match=f"after {MAX_ATTEMPTS} attempts"):
        await push_document(store, TOPIC, stored, compute, change)
    assert computed == MAX_ATTEMPTS
    assert await replayed(store) == {"rival": MAX_ATTEMPTS}  # nothing of the loser's was published


def _constant(document: dict[str, Any]) -> Compute:
    async def compute(_stored: dict[str, Any] | None) -> dict[str, Any]:
        return document

    return compute
