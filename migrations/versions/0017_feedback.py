"""feedback: answers after a session and three months on, attendance by agency, and the
further reflection meetings the desk books

Each participant is asked once and reminded at most once (bot.feedback); their answers are
stored against the session, without who gave them. A model's `further_reflection` asks the
triage desk to book a further reflection meeting three months on.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
PARTICIPANT_MOMENTS = (
    "feedback_asked_at",
    "feedback_reminded_at",
    "feedback_answered_at",
    "follow_up_asked_at",
    "follow_up_reminded_at",
    "follow_up_answered_at",
)


def upgrade() -> None:
    with op.batch_alter_table("session_participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agency", sa.String(120), nullable=True))
        for name in PARTICIPANT_MOMENTS:
            batch_op.add_column(sa.Column(name, TZ, nullable=True))
        batch_op.create_index("ix_session_participants_follow_up_due_at", ["follow_up_due_at"])
    with op.batch_alter_table("meeting_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feedback_card_id", sa.String(256), nullable=True))
        batch_op.add_column(sa.Column("follow_up_card_id", sa.String(256), nullable=True))
        batch_op.create_index("ix_meeting_sessions_ended_at", ["ended_at"])
    op.create_table(
        "feedback_responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("meeting_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("round", sa.String(16), nullable=False),
        sa.Column("agency", sa.String(120), nullable=True),
        sa.Column("answered_on", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("words", sa.Text(), nullable=True),
    )
    op.create_index("ix_feedback_responses_session_id", "feedback_responses", ["session_id"])
    op.create_index("ix_feedback_responses_answered_on", "feedback_responses", ["answered_on"])
    op.create_table(
        "further_reflections",
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("meeting_sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column(
            "referral_id",
            sa.Integer(),
            sa.ForeignKey("referrals.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("card_id", sa.String(256), nullable=True),
        sa.Column("session_at", TZ, nullable=True),
        sa.Column("join_url", sa.String(2048), nullable=True),
        sa.Column("event_id", sa.String(512), nullable=True),
        sa.Column("transaction_id", sa.String(64), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.String(256), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_further_reflections_referral_id", "further_reflections", ["referral_id"])
    op.create_index("ix_further_reflections_state", "further_reflections", ["state"])


def downgrade() -> None:
    op.drop_table("further_reflections")
    op.drop_table("feedback_responses")
    with op.batch_alter_table("meeting_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_sessions_ended_at")
        batch_op.drop_column("follow_up_card_id")
        batch_op.drop_column("feedback_card_id")
    with op.batch_alter_table("session_participants", schema=None) as batch_op:
        batch_op.drop_index("ix_session_participants_follow_up_due_at")
        for name in reversed(PARTICIPANT_MOMENTS):
            batch_op.drop_column(name)
        batch_op.drop_column("agency")
