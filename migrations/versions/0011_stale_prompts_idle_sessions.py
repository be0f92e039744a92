"""stale prompts, idle sessions: a prompt's last useful moment; a session's last use

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: a message that is never out of date (every one stored before this revision).
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stale_after", sa.DateTime(timezone=True), nullable=True))
    # NULL: not used since it began (the timer then counts from started_at).
    with op.batch_alter_table("meeting_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True)
        )
    # The timer looks at paused sessions now too (to end one nobody comes back to): make the
    # ones already paused due, in the past, so it looks at them once and sets their time.
    op.execute(
        "UPDATE meeting_sessions SET next_tick_at = started_at "
        "WHERE status = 'paused' AND next_tick_at IS NULL AND started_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("meeting_sessions", schema=None) as batch_op:
        batch_op.drop_column("last_activity_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("stale_after")
