"""Challenges start and finish on their own, each transition exactly once (also with two processes at it,
on PostgreSQL): results frozen, rewards paid once per member through the engine, with ledger lines that
explain them; a finish that fails mid-way leaves nothing behind. The clock sleeps until the next boundary
and wakes when told."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from game.challenges import ChallengeDefinition
from persistence import challenge_results
from persistence.live_outbox import Outbox
from persistence.models import (
    BadgeAward,
    Challenge,
    ChallengeGoalReached,
    ChallengeReward,
    ChallengeScore,
    LedgerEntry,
    Notification,
    Team,
    TeamMembership,
    UserStateRow,
    utcnow,
)
from persistence.scoring import ScoredBatch
from protocol import EVENT_DATA, TopicMirror
from protocol import Delta as WireDelta
from protocol import Outcome as MirrorOutcome
from server.hub.publish import decode_change
from server.hub.streams import Delta as StreamDelta
from server.hub.streams import Position
from server.services.challenges import lifecycle as lifecycle_module
from server.services.challenges.lifecycle import (
    ChallengeClock,
    ChallengeLifecycle,
    RedisWakePublisher,
    RedisWakeups,
)
from server.services.challenges.service import ChallengesService
from server.services.scoring.live import NOTIFIED, ScoringPush
from server.services.scoring.rules import RulesService
from tests.live.conftest import NOW, Clock, RecordingRelay, World, snapshot
from tests.polling import until

JOINED = NOW - timedelta(days=30)
ENDS = NOW - timedelta(hours=2)
"""The usual challenge's end; with an hour's grace, it closes at NOW - 1h: due at NOW."""
BADGE = "mission-accomplished"
"""A badge of the default rules that is only ever granted."""

Sessions = async_sessionmaker[AsyncSession]


class Recorder:
    """A `ChallengeNotifier` that remembers."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def changed(self, challenge_ids: Any) -> None:
        self.calls.append(list(challenge_ids))


@pytest.fixture
def notifier() -> Recorder:
    return Recorder()


@pytest.fixture
def lifecycle(
    sessions: Sessions, rules: RulesService, notifier: Recorder, clock: Clock
) -> ChallengeLifecycle:
    return ChallengeLifecycle(sessions, rules, notifier, clock=clock)


async def add_challenge(sessions: Sessions, *, state: str = "live", **fields: Any) -> ChallengeDefinition:
    data: dict[str, Any] = {
        "id": "sprint",
        "name": "Review sprint",
        "metrics": ["reviews_done"],
        "starts_at": NOW - timedelta(days=2),
        "ends_at": ENDS,
        "grace_seconds": 3600,
    } | fields
    definition = ChallengeDefinition.model_validate(data)
    async with sessions() as session, session.begin():
        session.add(
            Challenge(
                id=definition.id,
                definition=definition.model_dump(mode="json"),
                state=state,
                starts_at=definition.starts_at,
                ends_at=definition.ends_at,
                started_at=definition.starts_at if state == "live" else None,
            )
        )
    return definition


async def team_id(sessions: Sessions, slug: str) -> uuid.UUID:
    async with sessions() as session:
        found = await session.scalar(select(Team.id).where(Team.slug == slug))
    assert found is not None
    return found


async def add_scores(sessions: Sessions, challenge_id: str, scores: dict[tuple[str, str], float]) -> None:
    ids = {slug: await team_id(sessions, slug) for slug, _ in scores}
    async with sessions() as session, session.begin():
        for (slug, user_id), total in scores.items():
            session.add(
                ChallengeScore(
                    challenge_id=challenge_id,
                    team_id=ids[slug],
                    user_id=uuid.UUID(user_id),
                    total=total,
                    events=1,
                )
            )


async def rewards(sessions: Sessions, challenge_id: str = "sprint") -> dict[tuple[str, str], int]:
    async with sessions() as session:
        rows = await session.execute(
            select(ChallengeReward.user_id, ChallengeReward.kind, ChallengeReward.xp).where(
                ChallengeReward.challenge_id == challenge_id
            )
        )
        return {(str(user_id), kind): xp for user_id, kind, xp in rows}


async def xp_of(sessions: Sessions, user_id: str) -> int:
    async with sessions() as session:
        return (
            await session.scalar(select(UserStateRow.xp).where(UserStateRow.user_id == uuid.UUID(user_id)))
            or 0
        )


async def ledger_of(sessions: Sessions, user_id: str) -> list[tuple[int, str, str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(LedgerEntry.amount, LedgerEntry.source, LedgerEntry.rule_id, LedgerEntry.explanation)
            .where(LedgerEntry.user_id == uuid.UUID(user_id))
            .order_by(LedgerEntry.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def challenge_row(sessions: Sessions, challenge_id: str = "sprint") -> Challenge:
    async with sessions() as session:
        row = await session.get(Challenge, challenge_id)
    assert row is not None
    return row


async def two_teams(world: World) -> tuple[str, str, str]:
    """alpha: ana and bob; beta: cid."""
    ana, bob, cid = [await world.add_user(handle) for handle in ("ana", "bob", "cid")]
    await world.add_team("alpha", {ana: JOINED, bob: JOINED})
    await world.add_team("beta", {cid: JOINED})
    return ana, bob, cid


# ------------------------------------------------------------------------------------------ start


async def test_start_due_moves_due_ones_only(sessions, lifecycle, notifier):
    later = NOW + timedelta(days=1)
    await add_challenge(
        sessions, id="due", state="scheduled", starts_at=NOW - timedelta(minutes=1), ends_at=later
    )
    await add_challenge(sessions, id="exactly", state="scheduled", starts_at=NOW, ends_at=later)
    await add_challenge(
        sessions, id="later", state="scheduled", starts_at=NOW + timedelta(hours=1), ends_at=later
    )
    await add_challenge(sessions, id="running", state="live")

    assert await lifecycle.start_due() == ["due", "exactly"]
    assert notifier.calls == [["due", "exactly"]]
    due, later, running = [await challenge_row(sessions, i) for i in ("due", "later", "running")]
    assert (due.state, due.started_at) == ("live", NOW)
    assert (later.state, later.started_at) == ("scheduled", None)
    assert running.started_at == NOW - timedelta(days=2)  # untouched
    assert await lifecycle.start_due() == []
    assert notifier.calls == [["due", "exactly"]]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_processes_start_a_challenge_once(sessions, rules):
    await add_challenge(
        sessions, state="scheduled", starts_at=NOW - timedelta(minutes=1), ends_at=NOW + timedelta(hours=1)
    )
    first, second = ChallengeLifecycle(sessions, rules), ChallengeLifecycle(sessions, rules)
    moved = await asyncio.gather(*(lc.start_due(NOW) for lc in (first, second) for _ in range(3)))
    assert sorted(i for ids in moved for i in ids) == ["sprint"]


# ------------------------------------------------------------------------------------------ finish


async def test_finish_freezes_results_and_pays_each_member_once(sessions, world, lifecycle, notifier):
    ana, bob, cid = await two_teams(world)
    late = await world.add_user("dan")
    alpha = await team_id(sessions, "alpha")
    async with sessions() as session, session.begin():  # joined during the grace period: not paid
        session.add(
            TeamMembership(team_id=alpha, user_id=uuid.UUID(late), joined_at=ENDS + timedelta(minutes=5))
        )
    await add_challenge(sessions, rewards=[{"rank": 1, "xp": 100, "badge": BADGE}, {"rank": 2, "xp": 40}])
    await add_scores(sessions, "sprint", {("alpha", ana): 5, ("alpha", bob): 3, ("beta", cid): 4})
    await add_challenge(sessions, id="not-yet", ends_at=NOW - timedelta(minutes=30))  # closes at NOW + 30m

    assert await lifecycle.finish_due() == ["sprint"]
    assert notifier.calls == [["sprint"]]
    row = await challenge_row(sessions)
    assert (row.state, row.finished_at) == ("finished", NOW)
    assert row.results is not None
    assert row.results["ranks"] == {"alpha": 1, "beta": 2}
    assert row.results["winners"] == ["alpha"]
    assert (await challenge_row(sessions, "not-yet")).state == "live"
    paid = {(ana, "rank"): 100, (bob, "rank"): 100, (cid, "rank"): 40}
    assert await rewards(sessions) == paid
    assert [await xp_of(sessions, u) for u in (ana, bob, cid, late)] == [100, 100, 40, 0]
    [line] = await ledger_of(sessions, ana)
    assert line == (
        100,
        "challenge",
        "challenges.sprint",
        "reward for rank 1 of 2 in Review sprint (score 8) → +100 XP",
    )
    assert (await ledger_of(sessions, cid))[0][
        3
    ] == "reward for rank 2 of 2 in Review sprint (score 4) → +40 XP"
    async with sessions() as session:
        badges = list(
            await session.execute(select(BadgeAward.user_id, BadgeAward.badge_id, BadgeAward.explanation))
        )
        state = await session.scalar(select(UserStateRow.state).where(UserStateRow.user_id == uuid.UUID(ana)))
    assert sorted((str(u), b) for u, b, _ in badges) == sorted([(ana, BADGE), (bob, BADGE)])
    assert all(
        text == "Mission accomplished: reward for rank 1 of 2 in Review sprint (score 8)"
        for *_, text in badges
    )
    assert state is not None
    assert state["badges"] == {BADGE: 1}
    assert state["reward_xp"] == 100

    # Again (a second worker, a restart): nothing more.
    assert await lifecycle.finish_due() == []
    assert await challenge_results.finish(sessions, await lifecycle.rules.engine(), "sprint", NOW) is None
    assert await rewards(sessions) == paid
    assert [await xp_of(sessions, u) for u in (ana, bob, cid)] == [100, 100, 40]
    assert len(await ledger_of(sessions, ana)) == 1
    assert (await challenge_row(sessions)).results == row.results


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_processes_finish_a_challenge_once(sessions, world, rules):
    ana, bob, cid = await two_teams(world)
    await add_challenge(sessions, rewards=[{"rank": 1, "xp": 100}, {"rank": 2, "xp": 40}])
    await add_scores(sessions, "sprint", {("alpha", ana): 5, ("beta", cid): 4})
    lifecycles = [ChallengeLifecycle(sessions, rules) for _ in range(4)]
    finished = await asyncio.gather(*(lc.finish_due(NOW) for lc in lifecycles))
    assert sorted(i for ids in finished for i in ids) == ["sprint"]
    assert await rewards(sessions) == {(ana, "rank"): 100, (bob, "rank"): 100, (cid, "rank"): 40}
    assert [await xp_of(sessions, u) for u in (ana, bob, cid)] == [100, 100, 40]
    assert [len(await ledger_of(sessions, u)) for u in (ana, bob, cid)] == [1, 1, 1]


async def test_tied_teams_each_get_their_ranks_reward(sessions, world, lifecycle):
    ana, bob, cid = await two_teams(world)
    await add_challenge(sessions, rewards=[{"rank": 1, "xp": 100}, {"rank": 2, "xp": 40}])
    await add_scores(sessions, "sprint", {("alpha", ana): 2, ("alpha", bob): 3, ("beta", cid): 5})
    await lifecycle.finish_due()
    row = await challenge_row(sessions)
    assert row.results is not None
    assert row.results["ranks"] == {"alpha": 1, "beta": 1}
    assert await rewards(sessions) == {(ana, "rank"): 100, (bob, "rank"): 100, (cid, "rank"): 100}
    assert (await ledger_of(sessions, cid))[0][3].startswith("reward for rank 1 (tied) of 2 in Review sprint")


@pytest.mark.parametrize(("goal", "achieved"), [(8.0, True), (100.0, False)])
async def test_cooperative(sessions, world, lifecycle, goal, achieved):
    ana, bob, cid = await two_teams(world)
    await add_challenge(sessions, mode="cooperative", goal=goal, completion_reward={"xp": 30, "badge": BADGE})
    await add_scores(sessions, "sprint", {("alpha", ana): 5, ("beta", cid): 4})
    await lifecycle.finish_due()
    row = await challenge_row(sessions)
    assert row.results is not None
    assert row.results["achieved"] is achieved
    if achieved:
        assert row.results["winners"] == ["alpha", "beta"]
        assert await rewards(sessions) == {
            (ana, "completion"): 30,
            (bob, "completion"): 30,
            (cid, "completion"): 30,
        }
        assert (await ledger_of(sessions, bob))[0][3] == (
            "reward for the teams of Review sprint reached the goal of 8 together (9 combined) → +30 XP"
        )
    else:
        assert row.results["winners"] == []
        assert await rewards(sessions) == {}
        assert await xp_of(sessions, ana) == 0


async def test_first_to_goal(sessions, world, lifecycle):
    ana, _bob, cid = await two_teams(world)
    await add_challenge(
        sessions,
        mode="first_to_goal",
        goal=4,
        rewards=[{"rank": 1, "xp": 100}],
        completion_reward={"xp": 10},
    )
    await add_scores(sessions, "sprint", {("alpha", ana): 9, ("beta", cid): 4})
    async with sessions() as session, session.begin():  # only beta's reaching was recorded
        session.add(
            ChallengeGoalReached(
                challenge_id="sprint",
                team_id=await team_id(sessions, "beta"),
                reached_at=NOW - timedelta(days=1),
            )
        )
    await lifecycle.finish_due()
    row = await challenge_row(sessions)
    assert row.results is not None
    assert (row.results["ranks"], row.results["winners"]) == ({"beta": 1, "alpha": 2}, ["beta"])
    assert await rewards(sessions) == {(cid, "rank"): 100, (cid, "completion"): 10}
    assert await xp_of(sessions, cid) == 110
    assert [line[3] for line in await ledger_of(sessions, cid)] == [
        "reward for rank 1 of 2 in Review sprint (score 4) → +100 XP",
        "reward for reached the goal of 4 in Review sprint on 2026-11-19 15:00 (UTC), rank 1 of 2 → +10 XP",
    ]


async def test_an_ineligible_team_gets_nothing(sessions, world, lifecycle):
    ana, bob, cid = await two_teams(world)
    await add_challenge(sessions, min_members=2, rewards=[{"rank": 1, "xp": 100}, {"rank": 2, "xp": 40}])
    await add_scores(sessions, "sprint", {("alpha", ana): 1, ("beta", cid): 50})
    await lifecycle.finish_due()
    row = await challenge_row(sessions)
    assert row.results is not None
    assert row.results["ranks"] == {"alpha": 1}
    assert await rewards(sessions) == {(ana, "rank"): 100, (bob, "rank"): 100}
    assert await xp_of(sessions, cid) == 0


async def test_a_member_of_two_rewarded_teams_is_paid_the_larger_reward_once(sessions, world, lifecycle):
    ana, bob, cid = await two_teams(world)
    async with sessions() as session, session.begin():
        session.add(
            TeamMembership(team_id=await team_id(sessions, "beta"), user_id=uuid.UUID(ana), joined_at=JOINED)
        )
    await add_challenge(sessions, rewards=[{"rank": 1, "xp": 100}, {"rank": 2, "xp": 40}])
    await add_scores(sessions, "sprint", {("alpha", bob): 5, ("beta", cid): 4})
    await lifecycle.finish_due()
    assert await rewards(sessions) == {(ana, "rank"): 100, (bob, "rank"): 100, (cid, "rank"): 40}


async def test_a_failure_mid_way_leaves_it_live_and_a_rerun_finishes_it(
    sessions, world, lifecycle, monkeypatch
):
    ana, bob, cid = await two_teams(world)
    await add_challenge(sessions, rewards=[{"rank": 1, "xp": 100}])
    await add_scores(sessions, "sprint", {("alpha", ana): 5, ("beta", cid): 4})
    real = challenge_results._insert_rewards
    calls = 0

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(challenge_results, "_insert_rewards", failing_once)
    with pytest.raises(ConnectionError):
        await lifecycle.finish_due()
    row = await challenge_row(sessions)
    assert (row.state, row.results, row.finished_at) == ("live", None, None)
    assert await rewards(sessions) == {}
    assert await xp_of(sessions, ana) == 0

    assert await lifecycle.finish_due() == ["sprint"]
    assert (await challenge_row(sessions)).state == "finished"
    assert await rewards(sessions) == {(ana, "rank"): 100, (bob, "rank"): 100}
    assert await lifecycle.finish_due() == []
    assert [await xp_of(sessions, u) for u in (ana, bob)] == [100, 100]


async def test_one_failing_challenge_does_not_hold_up_the_others(sessions, world, lifecycle, monkeypatch):
    await two_teams(world)
    await add_challenge(sessions, id="first")
    await add_challenge(sessions, id="second")
    real = challenge_results.finish

    async def finish(sessions: Sessions, engine: Any, challenge_id: str, now: datetime, **kw: Any) -> Any:
        if challenge_id == "first":
            raise RuntimeError("broken")
        return await real(sessions, engine, challenge_id, now, **kw)

    monkeypatch.setattr(challenge_results, "finish", finish)
    with pytest.raises(RuntimeError, match="broken"):
        await lifecycle.finish_due()
    assert [(await challenge_row(sessions, i)).state for i in ("first", "second")] == ["live", "finished"]


async def test_a_window_that_passed_unattended_starts_and_finishes(sessions, world, lifecycle, notifier):
    await two_teams(world)
    await add_challenge(sessions, state="scheduled")
    assert await lifecycle.start_due() == ["sprint"]
    assert await lifecycle.finish_due() == ["sprint"]
    row = await challenge_row(sessions)
    assert (row.state, row.started_at, row.finished_at) == ("finished", NOW, NOW)
    assert row.results is not None
    assert await lifecycle.next_boundary() is None


async def test_an_end_moved_later_is_not_finished(sessions, world, rules):
    await two_teams(world)
    await add_challenge(sessions)
    engine = await rules.engine()
    # Listed as due from a stale read, but its grace has not ended by the time the lock is held.
    assert await challenge_results.finish(sessions, engine, "sprint", ENDS + timedelta(minutes=59)) is None
    assert await challenge_results.finish(sessions, engine, "unknown", NOW) is None
    assert (await challenge_row(sessions)).state == "live"


# ------------------------------------------------------------------------------------------ live rewards


async def notifications_of(sessions: Sessions, user_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Notification.kind, Notification.data)
            .where(Notification.user_id == uuid.UUID(user_id))
            .order_by(Notification.id)
        )
        return [(kind, data) for kind, data in rows]


def mirror_of(topic: str, document: dict[str, Any], position: Position) -> TopicMirror:
    """A screen's mirror of ``topic``, subscribed at ``position``."""
    mirror = TopicMirror(topic)
    mirror.apply_snapshot(position.epoch, position.offset, document)
    return mirror


def delivered(delta: StreamDelta) -> tuple[WireDelta, list[dict[str, Any]]]:
    """A stream delta as the hub sends it (§11), and its events."""
    ops, events = decode_change(delta.payload)
    return WireDelta(
        topic=delta.topic, epoch=delta.epoch, offset=delta.offset, ops=ops, at_ms=delta.at_ms
    ), events


async def test_a_rewarded_member_sees_the_reward_land_live(
    sessions, world, rules, clock, directory, streams, relay
):
    ana, bob, cid = await two_teams(world)
    await add_challenge(sessions, rewards=[{"rank": 1, "xp": 100, "badge": BADGE}, {"rank": 2, "xp": 40}])
    await add_scores(sessions, "sprint", {("alpha", ana): 5, ("alpha", bob): 3, ("beta", cid): 4})
    topics = {user: f"user:{user}" for user in (ana, bob, cid)}
    mirrors = {
        user: mirror_of(topic, *await snapshot(directory, streams, topic)) for user, topic in topics.items()
    }
    lifecycle = ChallengeLifecycle(sessions, rules, relay=relay, clock=clock)

    assert await lifecycle.finish_due() == ["sprint"]
    # One publish, after the commit: the members, their teams, then the feed (the badges); nothing left.
    [published] = relay.published
    assert published[:3] == sorted(topics.values())
    assert sorted(published[3:5]) == ["team:alpha", "team:beta"]
    assert published[5:] == ["activity:global"]
    assert await Outbox(sessions).count() == 0
    events: dict[str, list[dict[str, Any]]] = {}
    for user, topic in topics.items():
        mirror = mirrors[user]
        assert mirror.offset is not None
        assert mirror.epoch is not None
        deltas = await streams.since(topic, mirror.epoch, mirror.offset)
        assert deltas is not None
        (delta,) = deltas
        wire, events[user] = delivered(delta)
        assert mirror.apply_delta(wire) is MirrorOutcome.APPLIED
        fresh, position = await snapshot(directory, streams, topic)
        assert position == delta.position
        assert mirror.document == fresh
        for item in events[user]:
            EVENT_DATA[item["name"]].model_validate(item["data"])
    assert [mirrors[user].document["xp"] for user in (ana, bob, cid)] == [100, 100, 40]  # type: ignore[index]
    assert BADGE in mirrors[ana].document["badges"]  # type: ignore[index]
    assert [item["data"] for item in events[ana] if item["name"] == "xp_awarded"] == [
        {
            "amount": 100,
            "xp": 100,
            "rule_id": "challenges.sprint",
            "rule_version": 1,
            "explanation": "reward for rank 1 of 2 in Review sprint (score 8) → +100 XP",
            "summary": "Review sprint: Alpha, rank 1 of 2",  # the team's name, not its slug
        }
    ]
    [badge] = [item["data"] for item in events[ana] if item["name"] == "badge_earned"]
    assert (badge["badge_id"], badge["explanation"]) == (
        BADGE,
        "Mission accomplished: reward for rank 1 of 2 in Review sprint (score 8)",
    )
    assert [item["name"] for item in events[cid]] == ["xp_awarded", *(["level_up"] * (len(events[cid]) - 1))]
    # Kept for the player, as a scoring batch keeps them: what the events were.
    stored = await notifications_of(sessions, ana)
    assert dict(stored)["badge_earned"] == badge
    assert [name for name, _ in stored] == [item["name"] for item in events[ana] if item["name"] in NOTIFIED]

    # Again (another process, a restart): nothing more published, nothing more kept.
    assert await lifecycle.finish_due() == []
    assert len(relay.published) == 1
    assert await notifications_of(sessions, ana) == stored


async def test_a_finish_whose_transaction_fails_publishes_nothing_and_is_retried(
    sessions, world, rules, clock, directory, streams, relay, monkeypatch
):
    ana, _bob, cid = await two_teams(world)
    await add_challenge(sessions, rewards=[{"rank": 1, "xp": 100, "badge": BADGE}])
    await add_scores(sessions, "sprint", {("alpha", ana): 5, ("beta", cid): 4})
    topic = f"user:{ana}"
    mirror = mirror_of(topic, *await snapshot(directory, streams, topic))
    lifecycle = ChallengeLifecycle(sessions, rules, relay=relay, clock=clock)

    class FailingPush(ScoringPush):
        """Writes the live changes, then the transaction fails (the database went away)."""

        async def __call__(self, batch: ScoredBatch) -> None:
            await super().__call__(batch)
            raise ConnectionError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(lifecycle_module, "ScoringPush", FailingPush)
        with pytest.raises(ConnectionError):
            await lifecycle.finish_due()
    assert relay.published == []  # nothing committed: nothing to publish
    assert (await challenge_row(sessions)).state == "live"
    assert await rewards(sessions) == {}
    assert await notifications_of(sessions, ana) == []
    assert mirror.epoch is not None
    assert mirror.offset is not None
    # The member's change was not committed: never published, no outbox entry; the screen stays.
    assert await streams.since(topic, mirror.epoch, mirror.offset) == []
    assert await Outbox(sessions).count() == 0

    assert await lifecycle.finish_due() == ["sprint"]
    document, position = await snapshot(directory, streams, topic)
    mirror = mirror_of(topic, document, position)
    assert document["xp"] == 100
    assert [name for name, _ in await notifications_of(sessions, ana)].count("badge_earned") == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_processes_finishing_at_once_push_and_keep_the_reward_once(
    sessions, world, rules, directory, streams, documents
):
    ana, bob, cid = await two_teams(world)
    await add_challenge(sessions, rewards=[{"rank": 1, "xp": 100, "badge": BADGE}, {"rank": 2, "xp": 40}])
    await add_scores(sessions, "sprint", {("alpha", ana): 5, ("beta", cid): 4})
    topics = {user: f"user:{user}" for user in (ana, bob, cid)}
    before = {user: await snapshot(directory, streams, topic) for user, topic in topics.items()}
    relays = [RecordingRelay(Outbox(sessions), streams, documents) for _ in range(4)]  # one per process
    lifecycles = [ChallengeLifecycle(sessions, rules, relay=r) for r in relays]

    finished = await asyncio.gather(*(lc.finish_due(NOW) for lc in lifecycles))
    assert sorted(i for ids in finished for i in ids) == ["sprint"]
    assert sum(len(r.published) for r in relays) == 1
    for user, topic in topics.items():
        mirror = mirror_of(topic, *before[user])
        assert mirror.epoch is not None
        assert mirror.offset is not None
        deltas = await streams.since(topic, mirror.epoch, mirror.offset)
        assert deltas is not None
        (delta,) = deltas
        assert mirror.apply_delta(delivered(delta)[0]) is MirrorOutcome.APPLIED
        assert mirror.document == (await snapshot(directory, streams, topic))[0]
    for user in (ana, bob):
        kinds = [name for name, _ in await notifications_of(sessions, user)]
        assert kinds.count("badge_earned") == 1
        assert len(kinds) == len(set(kinds))
    assert [len(await ledger_of(sessions, u)) for u in (ana, bob, cid)] == [1, 1, 1]


# ------------------------------------------------------------------------------------------ the clock


class FakeSleep:
    """Records each requested sleep and returns only when the test releases it."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._release = asyncio.Event()
        self._asked = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self._asked.set()
        await self._release.wait()
        self._release.clear()

    async def next(self, count: int) -> float:
        """Wait until the clock has asked for its ``count``-th sleep; its length."""
        async with asyncio.timeout(5):
            while len(self.delays) < count:
                self._asked.clear()
                await self._asked.wait()
        return self.delays[count - 1]

    def release(self) -> None:
        self._release.set()


async def run_clock(clock: ChallengeClock, test: Callable[[], Any]) -> None:
    task = asyncio.create_task(clock.run())
    try:
        await test()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_the_clock_sleeps_until_each_boundary(sessions, world, lifecycle, clock, notifier):
    await two_teams(world)
    await add_challenge(
        sessions,
        state="scheduled",
        starts_at=NOW + timedelta(minutes=10),
        ends_at=NOW + timedelta(hours=1),
        grace_seconds=60,
    )
    await add_challenge(sessions, id="overdue")  # finished at once: the catch-up of a restart
    sleep = FakeSleep()
    ticker = ChallengeClock(lifecycle, clock=clock, sleep=sleep, max_sleep_seconds=3600 * 24)

    async def test() -> None:
        assert await sleep.next(1) == 600  # until the start
        assert notifier.calls == [["overdue"]]
        clock.now = NOW + timedelta(minutes=10)
        sleep.release()
        assert await sleep.next(2) == 50 * 60 + 60  # until it closes
        assert (await challenge_row(sessions)).state == "live"
        assert notifier.calls[-1] == ["sprint"]
        clock.now = NOW + timedelta(hours=1, seconds=60)
        sleep.release()
        assert await sleep.next(3) == 3600 * 24  # nothing pending: the safety cap
        assert (await challenge_row(sessions)).state == "finished"

    await run_clock(ticker, test)


async def test_the_clock_wakes_when_told_and_caps_its_sleep(sessions, world, lifecycle, clock):
    sleep = FakeSleep()
    ticker = ChallengeClock(lifecycle, clock=clock, sleep=sleep, max_sleep_seconds=300)

    async def test() -> None:
        assert await sleep.next(1) == 300  # nothing at all: the cap
        await add_challenge(
            sessions,
            state="scheduled",
            starts_at=NOW + timedelta(minutes=1),
            ends_at=NOW + timedelta(hours=1),
        )
        ticker.wake()  # the sleep is not released: the wake alone makes it look again
        assert await sleep.next(2) == 60
        await add_challenge(
            sessions,
            id="far",
            state="scheduled",
            starts_at=NOW + timedelta(days=3),
            ends_at=NOW + timedelta(days=4),
        )
        ticker.wake()
        assert await sleep.next(3) == 60

    await run_clock(ticker, test)


async def test_the_clock_retries_after_a_failure(lifecycle, clock, monkeypatch):
    async def broken(now: datetime | None = None) -> list[str]:
        raise ConnectionError("no database")

    monkeypatch.setattr(lifecycle, "start_due", broken)
    ticker = ChallengeClock(lifecycle, clock=clock, retry_seconds=7)
    assert await ticker.step() == 7


async def test_the_clock_does_not_spin_on_a_boundary_that_does_not_move(lifecycle, clock, monkeypatch):
    async def past() -> datetime:
        return NOW - timedelta(seconds=1)

    monkeypatch.setattr(lifecycle, "next_boundary", past)
    ticker = ChallengeClock(lifecycle, clock=clock, retry_seconds=7)
    assert await ticker.step() == 7


async def test_start_and_close_with_a_real_sleep(sessions, world, rules):
    # The real clock and sleep: a window a few milliseconds ahead.
    ticker = ChallengeClock(ChallengeLifecycle(sessions, rules))
    soon = utcnow() + timedelta(milliseconds=30)
    await two_teams(world)
    await add_challenge(
        sessions,
        state="scheduled",
        starts_at=soon,
        ends_at=soon + timedelta(milliseconds=30),
        grace_seconds=0,
    )
    ticker.start()

    async def finished() -> bool:
        return (await challenge_row(sessions)).state == "finished"

    try:
        # Polled: the clock's sleeps are real here, and the lifecycle's commits announce nothing.
        await until(finished, "the challenge started and finished by the real clock", every=0.01)
    finally:
        await ticker.aclose()


async def test_creating_or_editing_a_challenge_wakes_the_clock(sessions, rules, clock):
    woken: list[int] = []
    service = ChallengesService(sessions, rules, clock=clock, wake=lambda: woken.append(1))
    definition = ChallengeDefinition.model_validate(
        {
            "id": "later",
            "name": "Later",
            "metrics": ["reviews_done"],
            "starts_at": NOW + timedelta(days=1),
            "ends_at": NOW + timedelta(days=2),
        }
    )
    await service.create(definition, None)
    assert woken == [1]
    await service.update("later", 1, {"name": "Later still"})
    assert woken == [1, 1]
    await service.update("later", 2, {"name": "Later still"})  # no change: no new boundary either
    assert woken == [1, 1]


async def test_redis_wakes_every_process(redis_server, redis_prefix):
    redis = Redis.from_url(redis_server, decode_responses=False, socket_timeout=4.0)
    woken = asyncio.Event()
    count = 0

    def on_wake() -> None:
        nonlocal count
        count += 1
        woken.set()

    wakeups = RedisWakeups(redis, redis_prefix, on_wake)
    publisher = RedisWakePublisher(redis, redis_prefix)
    wakeups.start()
    try:
        async with asyncio.timeout(5):
            await woken.wait()  # on subscribing: a wake may have been missed meanwhile
            woken.clear()
            while not woken.is_set():  # until the subscription is live, a publish may find nobody
                publisher()
                await publisher.aclose()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await woken.wait()
        assert count >= 2
    finally:
        await wakeups.aclose()
        await redis.aclose()
