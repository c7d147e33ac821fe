"""The demo's seeded history is stamped at the events' own times (`seed_demo`): its ledger lines, badges
and notable moments span the four weeks of the sample, so the boards' periods (today, this week, this
month, all time) show different numbers, each the XP awarded within it, and a profile's history reads
as history. Its awards carry their summaries."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from persistence.models import BadgeAward, LedgerEntry, MetricEventRow, Notification, User
from server.app import create_app
from server.auth import passwords
from server.cli.serve_commands import DEMO_PASSWORD, seed_demo

PERIODS = ("daily", "weekly", "monthly", "all_time")


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo registers nine people: argon2's production cost would take seconds.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.mark.settings(demo_pulse_seconds=0)
async def test_the_seeded_history_reads_as_history(app_settings) -> None:
    seeded_at = datetime.now(UTC)
    await seed_demo(app_settings, now=seeded_at)
    application = create_app(app_settings, demo=True)
    async with application.router.lifespan_context(application):
        sessions = application.state.services.sessions
        async with sessions() as session:
            ledger = (
                await session.execute(select(LedgerEntry.user_id, LedgerEntry.amount, LedgerEntry.created_at))
            ).all()
            occurred = (await session.execute(select(func.min(MetricEventRow.occurred_at)))).scalar_one()
            badges = list(await session.scalars(select(BadgeAward.earned_at)))
            notes = (await session.execute(select(Notification.created_at, Notification.read_at))).all()
            summaries = list(await session.scalars(select(LedgerEntry.summary)))
            handles = dict((await session.execute(select(User.id, User.handle))).all())

        # Every award at its events' time (to the hour), none at the seed's: the sample's four weeks.
        stamps = [created_at for _, _, created_at in ledger]
        assert min(stamps) >= occurred
        assert max(stamps) <= seeded_at - timedelta(hours=1)
        assert max(stamps) - min(stamps) > timedelta(days=25)
        assert len({stamp.date() for stamp in stamps}) >= 20
        assert max(badges) - min(badges) > timedelta(days=7)
        # The notable moments are kept as scoring keeps them (the feed shows them), at their times, read.
        assert notes
        assert max(at for at, _ in notes) - min(at for at, _ in notes) > timedelta(days=7)
        assert all(read_at == created_at for created_at, read_at in notes)
        # And every award has its summary.
        assert all(summaries)
        assert "Merged a pull request" in summaries

        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            login = await http.post("/api/v1/auth/login", json={"login": "ana", "password": DEMO_PASSWORD})
            assert login.status_code == 200, login.text
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            boards = {}
            for period in PERIODS:
                read = await http.get(
                    f"/api/v1/leaderboards/xp/{period}", params={"limit": 100}, headers=auth
                )
                assert read.status_code == 200, read.text
                boards[period] = read.json()
            history = await http.get("/api/v1/me/ledger", params={"limit": 200}, headers=auth)
            assert history.status_code == 200, history.text

    # Each period's board is the XP awarded within it, by the ledger's times.
    for period, board in boards.items():
        start = datetime.fromisoformat(board["period_start"]) if board["period_start"] else None
        end = datetime.fromisoformat(board["period_end"]) if board["period_end"] else None
        expected: dict[str, int] = defaultdict(int)
        for user_id, amount, created_at in ledger:
            if (start is None or created_at >= start) and (end is None or created_at < end):
                expected[handles[user_id]] += amount
        shown = {row["handle"]: row["score"] for row in board["rows"]}
        assert shown == {handle: xp for handle, xp in expected.items() if xp}, period
    totals = {period: sum(row["score"] for row in board["rows"]) for period, board in boards.items()}
    # A week is at most seven of the history's twenty-eight days; whatever today's date, the periods
    # differ (a Monday's week may equal its day, and a month's last days the whole history).
    assert totals["daily"] <= totals["weekly"] < totals["all_time"]
    assert totals["weekly"] <= totals["monthly"] <= totals["all_time"]
    assert len(set(totals.values())) >= 2, totals

    # A profile's history: ana's awards, spread over the weeks, newest first.
    items = history.json()["items"]
    times = [datetime.fromisoformat(item["created_at"]) for item in items]
    assert times == sorted(times, reverse=True)
    assert times[0] - times[-1] > timedelta(days=14)
    assert all(item["summary"] for item in items)
