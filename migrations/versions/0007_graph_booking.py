"""graph booking: the Outlook event behind a scheduled session, and the times offered

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("booking_state", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("booking_problem", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("meeting_transaction_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("meeting_event_id", sa.String(512), nullable=True))
        batch_op.add_column(
            sa.Column("meeting_event_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "meeting_app_installed", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("slot_search", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        for column in (
            "slot_search",
            "meeting_app_installed",
            "meeting_event_at",
            "meeting_event_id",
            "meeting_transaction_id",
            "booking_problem",
            "booking_state",
            "session_minutes",
        ):
            batch_op.drop_column(column)
