"""IngestService on its own, with a queue that records what it is given: each rejection reason is named
with its field, and a rejected event is never queued; request-level problems queue nothing at all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, update
from starlette.applications import Starlette

from persistence.models import User
from persistence.scoring import Submission
from server.api.endpoints import Principal
from server.api.problems import problem_of
from server.api.schemas import MetricEventIn
from server.config import Settings
from server.services.errors import DomainError
from server.services.scoring.ingest import IngestService

NOW = datetime.now(UTC).replace(microsecond=0)
KEY = Principal("service", str(uuid.uuid4()), scopes=frozenset({"metrics:write"}))


class RecordingQueue:
    """A `BatchQueue` that keeps each enqueue call's submissions (or fails, when told to)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[Submission]] = []
        self.fail = fail

    async def enqueue(self, submissions: Sequence[Submission], received_at: datetime) -> None:
        if self.fail:
            raise RedisConnectionError("Redis went away")
        self.calls.append(list(submissions))

    @property
    def ids(self) -> list[list[str]]:
        return [[s.event.id for s in call] for call in self.calls]


def event(event_id: str, **changes: Any) -> MetricEventIn:
    fields: dict[str, Any] = {
        "id": event_id,
        "user": "alice",
        "metric": "commits",
        "value": 1,
        "occurred_at": NOW - timedelta(minutes=5),
    }
    return MetricEventIn(**(fields | changes))


def service(app: Starlette, settings: Settings, queue: RecordingQueue) -> IngestService:
    return IngestService(app.state.services.sessions, app.state.services.rules, settings, queue)


@pytest.fixture
async def people(app: Starlette, register: Any) -> dict[str, Principal]:
    """alice and bob (players), carol (disabled), and the principals that call."""
    alice = await register("alice")
    await register("bob")
    await register("carol")
    async with app.state.services.sessions() as session, session.begin():
        await session.execute(update(User).where(User.handle == "carol").values(disabled_at=func.now()))
    return {
        "key": KEY,
        "commits_only": Principal(
            "service", str(uuid.uuid4()), scopes=frozenset({"metrics:write"}), metrics=frozenset({"commits"})
        ),
        "alice": Principal("user", alice.id),
        "gone": Principal("user", str(uuid.uuid4())),  # a valid token of an account since deleted
    }


# (caller, the bad event's changes, code, field); each is sent after a good event of the same caller.
REJECTIONS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "in_the_future": ("key", {"occurred_at": NOW + timedelta(minutes=10)}, "in_the_future", "occurred_at"),
    "too_old": ("key", {"occurred_at": NOW - timedelta(days=401)}, "too_old", "occurred_at"),
    "missing": ("key", {"user": None}, "missing", "user"),
    "unknown_user": ("key", {"user": "nobody"}, "unknown_user", "user"),
    "unknown_user (disabled)": ("key", {"user": "carol"}, "unknown_user", "user"),
    "not_yours": ("alice", {"user": "bob", "metric": "tickets_closed"}, "not_yours", "user"),
    "no_account": ("gone", {"user": None, "metric": "tickets_closed"}, "no_account", "user"),
    "scope": ("commits_only", {"metric": "reviews_done"}, "scope", "metric"),
    "unknown_metric": ("key", {"metric": "deploys"}, "unknown_metric", "metric"),
    "source_not_allowed": ("alice", {"user": None}, "source_not_allowed", "metric"),
    "invalid_value (not positive)": ("key", {"value": 0}, "invalid_value", "value"),
    "invalid_value (not whole)": ("key", {"value": 1.5}, "invalid_value", "value"),
    "above_max_value": ("key", {"value": 501}, "above_max_value", "value"),
}


@pytest.mark.parametrize(("caller", "changes", "code", "field"), REJECTIONS.values(), ids=REJECTIONS)
async def test_each_rejection_is_named_and_never_queued(
    app: Starlette,
    app_settings: Settings,
    people: dict[str, Principal],
    caller: str,
    changes: dict[str, Any],
    code: str,
    field: str,
) -> None:
    queue = RecordingQueue()
    principal = people[caller]
    good = event("good", user=None, metric="tickets_closed") if principal.kind == "user" else event("good")

    out = await service(app, app_settings, queue).ingest(principal, [event("bad", **changes), good], now=NOW)

    bad_status, good_status = out.events
    assert (bad_status.id, bad_status.status, bad_status.code, bad_status.field) == (
        "bad",
        "rejected",
        code,
        field,
    )
    assert bad_status.reason
    if caller == "gone":  # no event of a deleted account gets through
        assert good_status.code == "no_account"
        assert queue.calls == []
        return
    assert (good_status.status, good_status.code, good_status.reason, good_status.field) == (
        "accepted",
        None,
        None,
        None,
    )
    assert (out.accepted, out.duplicates, out.rejected) == (1, 0, 1)
    assert queue.ids == [["good"]]


async def test_nothing_is_queued_when_every_event_is_rejected(
    app: Starlette, app_settings: Settings, people: dict[str, Principal]
) -> None:
    queue = RecordingQueue(fail=True)  # not even tried: a queue that is down does not matter

    out = await service(app, app_settings, queue).ingest(
        KEY, [event("a", metric="deploys"), event("b", user="nobody")], now=NOW
    )

    assert (out.accepted, out.duplicates, out.rejected) == (0, 0, 2)
    assert [e.status for e in out.events] == ["rejected", "rejected"]
    assert queue.calls == []


async def test_a_repeated_id_is_a_duplicate_after_its_first_occurrence(
    app: Starlette, app_settings: Settings, people: dict[str, Principal]
) -> None:
    queue = RecordingQueue()
    events = [event("a"), event("b"), event("a", value=7), event("a", metric="deploys")]

    out = await service(app, app_settings, queue).ingest(KEY, events, now=NOW)

    assert [(e.id, e.status, e.code, e.field) for e in out.events] == [
        ("a", "accepted", None, None),
        ("b", "accepted", None, None),
        ("a", "duplicate", "duplicate_in_batch", "id"),
        ("a", "duplicate", "duplicate_in_batch", "id"),
    ]
    assert (out.accepted, out.duplicates, out.rejected) == (2, 2, 0)
    assert queue.ids == [["a", "b"]]  # one call, the first "a" only
    assert queue.calls[0][0].event.value == 1


async def test_an_id_already_scored_is_a_duplicate_and_not_queued_again(
    app: Starlette, app_settings: Settings, people: dict[str, Principal]
) -> None:
    await app.state.services.ingest.ingest(KEY, [event("scored")], now=NOW)  # the app's own queue scores it
    await app.state.queue.drain()
    queue = RecordingQueue()

    out = await service(app, app_settings, queue).ingest(KEY, [event("scored"), event("new")], now=NOW)

    assert [(e.id, e.status, e.code, e.reason, e.field) for e in out.events] == [
        ("scored", "duplicate", "already_scored", "already scored", "id"),
        ("new", "accepted", None, None, None),
    ]
    assert queue.ids == [["new"]]


async def test_request_level_problems_queue_nothing(
    app: Starlette, app_settings: Settings, people: dict[str, Principal]
) -> None:
    queue = RecordingQueue()
    ingest = service(app, app_settings, queue).ingest
    too_many = [event(f"e{i}") for i in range(app_settings.ingest_max_batch + 1)]
    # The service's refusals are domain errors; the API answers each as the problem asserted here.
    with pytest.raises(DomainError) as refused:
        await ingest(KEY, too_many, now=NOW)
    problem = problem_of(refused.value)
    assert (problem.status, [e.code for e in problem.errors or []]) == (422, ["too_many"])
    read_only = Principal("service", str(uuid.uuid4()), scopes=frozenset({"metrics:read"}))
    with pytest.raises(DomainError) as refused:
        await ingest(read_only, [event("a")], now=NOW)
    assert problem_of(refused.value).status == 403
    assert queue.calls == []
    with pytest.raises(DomainError) as refused:
        await service(app, app_settings, RecordingQueue(fail=True)).ingest(KEY, [event("a")], now=NOW)
    problem = problem_of(refused.value)
    assert (problem.status, problem.headers) == (503, {"Retry-After": "5"})
