"""people: whom the bot can reach 1:1 by email (learnt from Teams when they talk to it)

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("person_id", sa.String(256), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("upn", sa.String(254), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("learnt_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_people_tenant_email", "people", ["tenant_id", "email"])
    op.create_index("ix_people_tenant_upn", "people", ["tenant_id", "upn"])


def downgrade() -> None:
    op.drop_index("ix_people_tenant_upn", table_name="people")
    op.drop_index("ix_people_tenant_email", table_name="people")
    op.drop_table("people")
