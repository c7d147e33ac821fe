"""The database schema: SQLAlchemy 2 models, the same on PostgreSQL and SQLite.

Every timestamp is timezone-aware (UTC in storage). Ids are UUIDs, except metric events, whose id is
the client's idempotency key, and the ledger, whose integer id orders it (cursor pagination).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so that migrations (and SQLite's batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite has one integer type; BIGINT would not auto-increment there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware: SQLite forgets the zone, so restore it (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements (no ORM work per row on bulk paths)."""
    return cast(Table, model.__table__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: Json,
        list[Any]: Json,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(16), default="player")
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]


class TeamMembership(Base):
    """Membership history: a contribution counts for the team the user belonged to at event time."""

    __tablename__ = "team_memberships"
    __table_args__ = (
        # At most one open membership of a user in a team.
        Index(
            "uq_team_memberships_open",
            "team_id",
            "user_id",
            unique=True,
            postgresql_where=text("left_at IS NULL"),
            sqlite_where=text("left_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]


class MetricEventRow(Base):
    """An accepted metric event. Its id is the sender's idempotency key, scoped to the sender and the
    user: the same (id, user, sender) is scored once. Another sender's event of the same id is another
    event (ids are not one global namespace: a player must not pre-empt an integration's id)."""

    __tablename__ = "metric_events"
    __table_args__ = (Index("ix_metric_events_user_occurred", "user_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))
    reported_by: Mapped[str] = mapped_column(String(80), primary_key=True)
    """"user:<uuid>" or "service:<uuid>": who sent it (the scope of its id)."""
    rule_version: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class LedgerEntry(Base):
    """Append-only XP ledger: every award with the rule that decided it and why."""

    __tablename__ = "xp_ledger"
    __table_args__ = (Index("ix_xp_ledger_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str | None] = mapped_column(String(64))
    day: Mapped[str | None] = mapped_column(String(10))
    rule_id: Mapped[str] = mapped_column(String(200))
    rule_version: Mapped[int] = mapped_column(Integer)
    explanation: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    """The award in a person's words ("Merged a pull request"); NULL on lines written before summaries."""
    event_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BadgeAward(Base):
    __tablename__ = "badges_earned"
    __table_args__ = (Index("uq_badges_earned_award", "user_id", "badge_id", "tier", "period", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    badge_id: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(32), default="")
    """"" for an untiered badge (an empty string, not NULL, so the unique index holds)."""
    period: Mapped[str] = mapped_column(String(32), default="")
    """"" for a once-only badge, else the period it was earned in ("2026-11-20", "week of ...")."""
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    rule_version: Mapped[int] = mapped_column(Integer)
    explanation: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    """The award in a person's words ("Badge: Reviewer (silver)"); NULL on rows written before summaries."""
    earned_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Notification(Base):
    """Something a player should hear about even if they were away (a level-up, a badge): kept until
    they mark it read, and delivered to their screen when it subscribes to their own topic."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_unread", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    """The protocol event name: ``level_up``, ``badge_earned``."""
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The event's data, with its explanation."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class MissionProgressRow(Base):
    __tablename__ = "mission_progress"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    mission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    progress: Mapped[float] = mapped_column(Float)
    goal: Mapped[float] = mapped_column(Float)
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserStateRow(Base):
    """The engine's state of a user (without the seen-ids set: metric_events is the idempotency record),
    denormalised XP and level for fast reads, and the rule version it was computed under."""

    __tablename__ = "user_states"
    # The live documents' reconciliation asks which states changed lately (`topics.rows`).
    __table_args__ = (Index("ix_user_states_updated_at", "updated_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    xp: Mapped[int] = mapped_column(BigId, default=0)
    level: Mapped[int] = mapped_column(Integer, default=1)
    rule_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    live_version: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    """The number of the user's live document state: one more per committed change of it (each has its
    delta in the live outbox), so that publishers after the commit append the deltas in order."""


class RuleSetVersion(Base):
    __tablename__ = "rule_sets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ruleset: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[str] = mapped_column(Text)
    """The YAML as submitted."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(80))


class ServiceAccount(Base):
    """An integration's identity: an API key (stored hashed) with scopes."""

    __tablename__ = "service_accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    metrics: Mapped[list[Any] | None] = mapped_column(Json, nullable=True)
    """Metric types it may write; None means every metric."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class RefreshToken(Base):
    """A rotating refresh token (stored hashed). Reusing a rotated token revokes its whole family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Challenge(Base):
    """A team challenge: its definition (`game.challenges.ChallengeDefinition`, as JSON) and lifecycle."""

    __tablename__ = "challenges"
    # Newest first by start (the admin list), with the id to break ties in the cursor.
    __table_args__ = (Index("ix_challenges_starts_at_id", "starts_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column()
    """The definition's ``model_dump(mode="json")``."""
    state: Mapped[str] = mapped_column(String(16), index=True, default="scheduled")
    """scheduled | live | finished ("closing" is derived: live, and now >= ends_at)."""
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    """Copies of the definition's window: SQL orders and filters on them (the JSON is not portable)."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    """+1 per edit: an edit names the version it was made from (optimistic concurrency)."""
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    results: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    """Frozen at finish."""


class ChallengeScore(Base):
    """A member's running total in a challenge, for the team they scored it for."""

    __tablename__ = "challenge_scores"

    challenge_id: Mapped[str] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    total: Mapped[float] = mapped_column(Float, default=0.0)
    events: Mapped[int] = mapped_column(Integer, default=0)


class ChallengeGoalReached(Base):
    """When a team reached the challenge's goal (first_to_goal ranks by it)."""

    __tablename__ = "challenge_goal_reached"

    challenge_id: Mapped[str] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    reached_at: Mapped[datetime]


class ChallengeReward(Base):
    """A reward paid to a member; the primary key makes each kind of reward paid exactly once."""

    __tablename__ = "challenge_rewards"

    challenge_id: Mapped[str] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    """rank | completion."""
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    xp: Mapped[int] = mapped_column(Integer, default=0)
    badge: Mapped[str | None] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueuedBatch(Base):
    """A batch of metric events accepted for scoring by an embedded server (no Redis): kept from the
    moment ingest accepts it (before its 202) until it is scored (then deleted), so that a crash loses
    nothing; one that cannot be scored stays, as a dead letter (``failed_at`` set), until an admin replays
    or drops it (`gamif queue`). With Redis the queue is a Redis stream instead (`tasks.broker`)."""

    __tablename__ = "queued_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    """The scoring task's argument, as JSON."""
    events: Mapped[int]
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    failed_at: Mapped[datetime | None]
    """Set when the batch was given up on: a dead letter, not scored again until replayed."""
    reason: Mapped[str | None] = mapped_column(Text)


class LiveOutbox(Base):
    """A delta to publish once its transaction has committed (the transactional outbox of the live path):
    written in the transaction that made the change, published after the commit by whoever gets to it
    first (the committing process at once, or a relay that sweeps what a crash left behind), then
    deleted. ``version``: the state the user topic's delta leads to (``user_states.live_version``). Topics
    whose documents are recomputed (teams, the feed) have no rows here: see
    `server.services.topics.live_documents`."""

    __tablename__ = "live_outbox"
    __table_args__ = (Index("ix_live_outbox_topic_version", "topic", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(BigId)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    """The encoded change (`server.hub.publish.encode_change`)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
