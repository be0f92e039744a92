"""meeting sessions: durable stage timers, participants, contributions

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "meeting_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column(
            "referral_id",
            sa.Integer(),
            sa.ForeignKey("referrals.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(256), nullable=False),
        sa.Column("conversation_reference", sa.JSON(), nullable=False),
        sa.Column("meeting_id", sa.String(512), nullable=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("protocol", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("no_notes", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column(
            "independent_facilitator", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        sa.Column("facilitator_id", sa.String(256), nullable=True),
        sa.Column("facilitator_name", sa.String(256), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("ends_at", TZ, nullable=True),
        sa.Column("remaining_seconds", sa.Float(), nullable=True),
        sa.Column("allotted_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("running_since", TZ, nullable=True),
        sa.Column("warned", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("time_up_sent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("time_spent", sa.JSON(), nullable=False),
        sa.Column("next_tick_at", TZ, nullable=True, index=True),
        sa.Column("refreshed_at", TZ, nullable=True),
        sa.Column("stage_card_id", sa.String(256), nullable=True),
        sa.Column("roles_card_id", sa.String(256), nullable=True),
        sa.Column("created_by_id", sa.String(256), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
    )
    op.create_index(
        "uq_meeting_sessions_live_conversation",
        "meeting_sessions",
        ["conversation_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'ended'"),
        sqlite_where=sa.text("status <> 'ended'"),
    )
    op.create_table(
        "session_participants",
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("meeting_sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("person_id", sa.String(256), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("role", sa.String(64), nullable=True),
        sa.Column("joined_at", TZ, nullable=False),
        sa.Column("feedback_status", sa.String(16), nullable=False, index=True),
        sa.Column("feedback_due_at", TZ, nullable=True),
        sa.Column("follow_up_due_at", TZ, nullable=True),
    )
    op.create_table(
        "session_contributions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("meeting_sessions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("author_id", sa.String(256), nullable=False),
        sa.Column("author_name", sa.String(256), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("content_encrypted", sa.LargeBinary(), nullable=False),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_outbox_session_id",
            "meeting_sessions",
            ["session_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_outbox_session_id", ["session_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_session_id")
        batch_op.drop_constraint("fk_outbox_session_id", type_="foreignkey")
        batch_op.drop_column("session_id")
    op.drop_table("session_contributions")
    op.drop_table("session_participants")
    op.drop_index("uq_meeting_sessions_live_conversation", table_name="meeting_sessions")
    op.drop_table("meeting_sessions")
