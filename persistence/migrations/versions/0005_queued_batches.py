"""The embedded scoring queue: batches accepted by a server without Redis, kept until scored.

Revision ID: 0005_queued_batches
Revises: 0004_event_id_scope
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_queued_batches"
down_revision: str | Sequence[str] | None = "0004_event_id_scope"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "queued_batches",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("queued_at", TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", TIMESTAMP, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_batches")),
    )


def downgrade() -> None:
    op.drop_table("queued_batches")
