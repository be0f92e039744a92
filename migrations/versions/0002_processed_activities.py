"""processed activities

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:47:27.757659
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('processed_activities',
    sa.Column('activity_id', sa.String(length=256), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('activity_id')
    )
    with op.batch_alter_table('processed_activities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_activities_seen_at'), ['seen_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('processed_activities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_activities_seen_at'))

    op.drop_table('processed_activities')

