"""stage card in reach: how often a session's stage card was posted, what is below it, and
the furthest step reached

The live stage card is posted afresh below anything else the bot posts in the meeting chat
(bot.sessions.store); a stage's contribution form goes out only the first time the stage is
reached.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meeting_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stage_card_posts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("below_stage_card", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("reached_step", sa.Integer(), nullable=False, server_default="-1")
        )
    # Sessions under way: their card was posted once, and every step up to the present one
    # has had its form (so going back and forth posts none again).
    op.execute("UPDATE meeting_sessions SET stage_card_posts = 1 WHERE stage_card_id IS NOT NULL")
    op.execute("UPDATE meeting_sessions SET reached_step = step WHERE started_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("meeting_sessions", schema=None) as batch_op:
        batch_op.drop_column("reached_step")
        batch_op.drop_column("below_stage_card")
        batch_op.drop_column("stage_card_posts")
