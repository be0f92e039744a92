"""triage: desks, decisions with versions, questions, outbox, digests, 1:1 chats

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("decided_by_id", sa.String(256), nullable=True))
        batch_op.add_column(sa.Column("decided_by_name", sa.String(256), nullable=True))
        batch_op.add_column(sa.Column("decided_at", TZ, nullable=True))
        batch_op.add_column(sa.Column("facilitator_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("facilitator_name", sa.String(256), nullable=True))
        batch_op.add_column(sa.Column("decision_note_encrypted", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("signpost", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("triage_card_id", sa.String(256), nullable=True))
        batch_op.add_column(sa.Column("triage_conversation_id", sa.String(256), nullable=True))
        batch_op.add_column(sa.Column("reminder_due_at", TZ, nullable=True))
        batch_op.create_index("ix_referrals_reminder_due_at", ["reminder_due_at"])
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("actor_name", sa.String(256), nullable=False, server_default="")
        )
    op.create_table(
        "triage_desks",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("conversation_id", sa.String(256), nullable=False),
        sa.Column("conversation_reference", sa.JSON(), nullable=False),
        sa.Column("registered_by_id", sa.String(256), nullable=False),
        sa.Column("registered_at", TZ, nullable=False),
    )
    op.create_table(
        "referral_questions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "referral_id",
            sa.Integer(),
            sa.ForeignKey("referrals.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("asked_by_id", sa.String(256), nullable=False),
        sa.Column("asked_by_name", sa.String(256), nullable=False),
        sa.Column("asked_at", TZ, nullable=False),
        sa.Column("question_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("answer_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("answered_at", TZ, nullable=True),
    )
    op.create_table(
        "personal_chats",
        sa.Column("person_id", sa.String(256), primary_key=True),
        sa.Column("conversation_reference", sa.JSON(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column(
            "referral_id",
            sa.Integer(),
            sa.ForeignKey("referrals.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("activity_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_until", TZ, nullable=True),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("failed_at", TZ, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
    )
    op.create_table(
        "digests_sent",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("week_of", sa.Date(), primary_key=True),
        sa.Column("sent_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("digests_sent", "outbox", "personal_chats", "referral_questions", "triage_desks"):
        op.drop_table(table)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("actor_name")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_reminder_due_at")
        for column in (
            "reminder_due_at",
            "triage_conversation_id",
            "triage_card_id",
            "signpost",
            "decision_note_encrypted",
            "facilitator_name",
            "facilitator_id",
            "decided_at",
            "decided_by_name",
            "decided_by_id",
            "version",
        ):
            batch_op.drop_column(column)
