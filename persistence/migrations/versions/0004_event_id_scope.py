"""Event ids scoped to their sender and user: metric_events' key becomes (id, user_id, reported_by).

An id was one global namespace: a player who reported an id that an integration would later send for
someone else made that event a duplicate, and it was never scored. Existing rows keep their values:
they were unique by id alone, so they are unique by (id, user, sender) too.

Downgrading needs every id to be unique again: it refuses (naming some) when senders share ids.

Revision ID: 0004_event_id_scope
Revises: 0003_challenges
Create Date: 2026-12-07 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_event_id_scope"
down_revision: str | Sequence[str] | None = "0003_challenges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPED = ["id", "user_id", "reported_by"]


def _set_key(columns: list[str]) -> None:
    if op.get_context().dialect.name == "sqlite":
        # SQLite cannot alter a primary key: the table is copied into one with the new key.
        with op.batch_alter_table("metric_events", recreate="always") as batch:
            batch.drop_constraint("pk_metric_events", type_="primary")
            batch.create_primary_key("pk_metric_events", columns)
        return
    op.drop_constraint("pk_metric_events", "metric_events", type_="primary")
    op.create_primary_key("pk_metric_events", "metric_events", columns)


def upgrade() -> None:
    _set_key(SCOPED)


def downgrade() -> None:
    shared = op.get_bind().execute(
        sa.text("SELECT id FROM metric_events GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 5")
    )
    ids = [row[0] for row in shared]
    if ids:
        raise RuntimeError(
            "cannot downgrade below 0004_event_id_scope: these event ids are used by more than one "
            f"sender or user, and ids were global before: {', '.join(ids)}"
        )
    _set_key(["id"])
