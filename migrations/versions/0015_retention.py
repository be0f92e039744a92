"""retention: referrals and sessions say when their case text and names were purged

A purged referral keeps no narrative, so narrative_encrypted may be empty.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referrals") as referrals:
        referrals.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        referrals.alter_column("narrative_encrypted", existing_type=sa.LargeBinary(), nullable=True)
    with op.batch_alter_table("meeting_sessions") as sessions:
        sessions.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meeting_sessions") as sessions:
        sessions.drop_column("purged_at")
    with op.batch_alter_table("referrals") as referrals:
        referrals.alter_column("narrative_encrypted", existing_type=sa.LargeBinary(), nullable=False)
        referrals.drop_column("purged_at")
