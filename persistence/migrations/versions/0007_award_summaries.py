"""Awards' human summaries: each XP ledger line and earned badge keeps the engine's short summary
("Merged a pull request") beside its explanation. Nullable: rows written before have none, and
readers fall back to the explanation.

Revision ID: 0007_award_summaries
Revises: 0006_live_outbox
Create Date: 2026-12-07 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_award_summaries"
down_revision: str | Sequence[str] | None = "0006_live_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("xp_ledger", "badges_earned"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("summary", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in ("xp_ledger", "badges_earned"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("summary")
