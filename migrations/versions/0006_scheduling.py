"""scheduling: when and where an accepted referral's session is held; outbox index

The outbox keeps sent rows for a while; without a partial index on the waiting ones,
finding due messages reads the whole table on every scheduler run (61 ms at a million rows
on SQLite, measured with bench/timers.py --history; about 1 ms with it).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("meeting_join_url", sa.String(2048), nullable=True))
        batch_op.add_column(sa.Column("meeting_chat_id", sa.String(256), nullable=True))
        batch_op.create_index("ix_referrals_meeting_chat_id", ["meeting_chat_id"])
    op.create_index(
        "ix_outbox_waiting",
        "outbox",
        ["due_at"],
        postgresql_where=sa.text("sent_at IS NULL AND failed_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL AND failed_at IS NULL"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_index("ix_outbox_waiting", table_name="outbox")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_meeting_chat_id")
        batch_op.drop_column("meeting_chat_id")
        batch_op.drop_column("meeting_join_url")
        batch_op.drop_column("session_at")
