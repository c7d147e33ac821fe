"""The live path's transactional outbox: deltas written with the change, published after the commit;
each user's live document version; and an index on when a user's state last changed (the team
documents' reconciliation reads it).

Revision ID: 0006_live_outbox
Revises: 0005_queued_batches
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_live_outbox"
down_revision: str | Sequence[str] | None = "0005_queued_batches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("user_states") as batch:
        batch.add_column(sa.Column("live_version", BIG_ID, server_default="0", nullable=False))
        batch.create_index("ix_user_states_updated_at", ["updated_at"])
    op.create_table(
        "live_outbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("version", BIG_ID, nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_outbox")),
    )
    op.create_index("ix_live_outbox_topic_version", "live_outbox", ["topic", "version"])


def downgrade() -> None:
    op.drop_index("ix_live_outbox_topic_version", table_name="live_outbox")
    op.drop_table("live_outbox")
    with op.batch_alter_table("user_states") as batch:
        batch.drop_index("ix_user_states_updated_at")
        batch.drop_column("live_version")
