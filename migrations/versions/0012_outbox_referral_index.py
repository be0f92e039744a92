"""outbox referral index: a referral's card reads whom its messages could not reach

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_referral_id", "outbox", ["referral_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_referral_id", table_name="outbox")
