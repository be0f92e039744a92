"""retention: referrals and sessions say when their case text and names were purged

A purged referral keeps no narrative, so narrative_encrypted may be empty. Audit details of
acceptances named the facilitator; they no longer do (audit details are kept for good), and
the names already written are taken out here.

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
    bind = op.get_bind()
    named = bind.execute(
        sa.text(
            "SELECT id, detail FROM audit_log "
            "WHERE action = 'triage.accepted' AND detail LIKE '%; facilitator %'"
        )
    ).all()
    for entry_id, detail in named:
        bind.execute(
            sa.text("UPDATE audit_log SET detail = :detail WHERE id = :id"),
            {"detail": detail.split("; facilitator ", 1)[0], "id": entry_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("meeting_sessions") as sessions:
        sessions.drop_column("purged_at")
    with op.batch_alter_table("referrals") as referrals:
        referrals.alter_column(
            "narrative_encrypted", existing_type=sa.LargeBinary(), nullable=False
        )
        referrals.drop_column("purged_at")
