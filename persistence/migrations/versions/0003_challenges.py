"""Team challenges: definitions and lifecycle, per-member scores, goals reached, rewards paid.

Revision ID: 0003_challenges
Revises: 0002_notifications
Create Date: 2026-11-24 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_challenges"
down_revision: str | Sequence[str] | None = "0002_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "challenges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("ends_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("results", JSON, nullable=True),
        _fk("challenges", "created_by", "users", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenges")),
    )
    op.create_index(op.f("ix_challenges_state"), "challenges", ["state"], unique=False)
    op.create_index("ix_challenges_starts_at_id", "challenges", ["starts_at", "id"], unique=False)

    op.create_table(
        "challenge_scores",
        sa.Column("challenge_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        _fk("challenge_scores", "challenge_id", "challenges"),
        _fk("challenge_scores", "team_id", "teams"),
        _fk("challenge_scores", "user_id", "users"),
        sa.PrimaryKeyConstraint("challenge_id", "team_id", "user_id", name=op.f("pk_challenge_scores")),
    )

    op.create_table(
        "challenge_goal_reached",
        sa.Column("challenge_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("reached_at", TIMESTAMP, nullable=False),
        _fk("challenge_goal_reached", "challenge_id", "challenges"),
        _fk("challenge_goal_reached", "team_id", "teams"),
        sa.PrimaryKeyConstraint("challenge_id", "team_id", name=op.f("pk_challenge_goal_reached")),
    )

    op.create_table(
        "challenge_rewards",
        sa.Column("challenge_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("xp", sa.Integer(), nullable=False),
        sa.Column("badge", sa.String(length=64), nullable=True),
        sa.Column("granted_at", TIMESTAMP, nullable=False),
        _fk("challenge_rewards", "challenge_id", "challenges"),
        _fk("challenge_rewards", "user_id", "users"),
        _fk("challenge_rewards", "team_id", "teams"),
        sa.PrimaryKeyConstraint("challenge_id", "user_id", "kind", name=op.f("pk_challenge_rewards")),
    )


def downgrade() -> None:
    op.drop_table("challenge_rewards")
    op.drop_table("challenge_goal_reached")
    op.drop_table("challenge_scores")
    op.drop_index("ix_challenges_starts_at_id", table_name="challenges")
    op.drop_index(op.f("ix_challenges_state"), table_name="challenges")
    op.drop_table("challenges")
