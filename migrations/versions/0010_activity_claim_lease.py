"""activity claim lease: a turn's claim on an activity id expires if its process dies

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: the turn finished (every row stored before this revision is a finished turn).
    with op.batch_alter_table("processed_activities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True)
        )
        # Which turn holds the claim: only it may renew, finish or give back the claim.
        batch_op.add_column(sa.Column("claimed_by", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_activities", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("claimed_until")
