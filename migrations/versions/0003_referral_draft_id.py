"""referral draft id: a repeated Submit of one draft stores one referral

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("draft_id", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint("uq_referrals_draft_id", ["draft_id"])


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_constraint("uq_referrals_draft_id", type_="unique")
        batch_op.drop_column("draft_id")
