"""sealed columns: people's names, emails and conversation references encrypted at rest

Every column below now holds a Fernet token as text (bot.core.sealed). Existing values are
encrypted here with ENCRYPTION_KEYS (the newest key), which must therefore be set when the
database holds data. People are found by email through keyed hashes (email_hash, upn_hash)
instead of plaintext indexes; `last_seen_at` says when someone last used the bot.

Revision ID: 0014
Revises: 0013
"""

import json
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, primary key, column, was JSON): written out, not read from the models, so this
# revision means the same thing whatever the models say later.
SEALED = [
    ("referrals", "id", "referrer_name", False),
    ("referrals", "id", "conversation_reference", True),
    ("referrals", "id", "manager_name", False),
    ("referrals", "id", "manager_email", False),
    ("referrals", "id", "invitees", True),
    ("referrals", "id", "availability", False),
    ("referrals", "id", "decided_by_name", False),
    ("referrals", "id", "facilitator_name", False),
    ("referrals", "id", "booking_problem", False),
    ("triage_desks", "tenant_id", "conversation_reference", True),
    ("referral_questions", "id", "asked_by_name", False),
    ("personal_chats", "person_id", "conversation_reference", True),
    ("people", "person_id", "name", False),
    ("people", "person_id", "email", False),
    ("people", "person_id", "upn", False),
    ("outbox", "id", "target", True),
    ("audit_log", "id", "actor_name", False),
    ("meeting_sessions", "id", "conversation_reference", True),
    ("meeting_sessions", "id", "facilitator_name", False),
    ("meeting_sessions", "id", "roles", True),
    ("session_participants", "session_id, person_id", "name", False),
    ("session_contributions", "id", "author_name", False),
]
BATCH = 500


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _, column, _ in SEALED:
        if postgres:  # SQLite keeps any text in any column; PostgreSQL needs room for a token
            op.execute(
                f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE TEXT USING "{column}"::text'
            )
    with op.batch_alter_table("people") as people:
        people.add_column(sa.Column("email_hash", sa.String(64), nullable=True))
        people.add_column(sa.Column("upn_hash", sa.String(64), nullable=True))
        people.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        people.drop_index("ix_people_tenant_email")
        people.drop_index("ix_people_tenant_upn")
        people.create_index("ix_people_tenant_email_hash", ["tenant_id", "email_hash"])
        people.create_index("ix_people_tenant_upn_hash", ["tenant_id", "upn_hash"])
    op.execute("UPDATE people SET last_seen_at = COALESCE(learnt_at, first_seen_at)")
    if _holds_data():
        cipher = _cipher()
        _hash_people(cipher)
        _rewrite(lambda text: cipher.encrypt(text).decode("ascii"))


def downgrade() -> None:
    if _holds_data():
        cipher = _cipher()
        _rewrite(lambda token: cipher.decrypt(token.encode("ascii")))
    with op.batch_alter_table("people") as people:
        people.drop_index("ix_people_tenant_upn_hash")
        people.drop_index("ix_people_tenant_email_hash")
        people.create_index("ix_people_tenant_email", ["tenant_id", "email"])
        people.create_index("ix_people_tenant_upn", ["tenant_id", "upn"])
        people.drop_column("last_seen_at")
        people.drop_column("upn_hash")
        people.drop_column("email_hash")
    if op.get_bind().dialect.name == "postgresql":
        for table, _, column, was_json in SEALED:
            if was_json:
                op.execute(
                    f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE JSON USING "{column}"::json'
                )


def _holds_data() -> bool:
    bind = op.get_bind()
    return any(
        bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None
        for table in {table for table, _, _, _ in SEALED}
    )


def _cipher():  # type: ignore[no-untyped-def]
    from bot.core.crypto import Cipher
    from bot.core.settings import Settings

    keys = Settings().encryption_keys
    if not keys:
        raise RuntimeError(
            "This database holds people's names and emails, which this revision encrypts: "
            "set ENCRYPTION_KEYS (the keys the app uses) and run the migration again."
        )
    return Cipher(keys)


def _hash_people(cipher) -> None:  # type: ignore[no-untyped-def]
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT person_id, email, upn FROM people")).all()
    for person_id, email, upn in rows:
        bind.execute(
            sa.text("UPDATE people SET email_hash = :e, upn_hash = :u WHERE person_id = :p"),
            {
                "e": cipher.lookup_hash(email) if email else None,
                "u": cipher.lookup_hash(upn) if upn else None,
                "p": person_id,
            },
        )


def _rewrite(change: Callable[[str], str]) -> None:
    """Every stored value of every sealed column, changed (encrypted, or decrypted back)."""
    bind = op.get_bind()
    for table, key, column, _ in SEALED:
        keys = [part.strip() for part in key.split(",")]
        rows = bind.execute(
            sa.text(f'SELECT {key}, "{column}" FROM {table} WHERE "{column}" IS NOT NULL')
        ).all()
        where = " AND ".join(f"{part} = :k{i}" for i, part in enumerate(keys))
        statement = sa.text(f'UPDATE {table} SET "{column}" = :value WHERE {where}')
        for start in range(0, len(rows), BATCH):
            bind.execute(
                statement,
                [
                    {
                        "value": change(_as_text(row[-1])),
                        **{f"k{i}": row[i] for i in range(len(keys))},
                    }
                    for row in rows[start : start + BATCH]
                ],
            )


def _as_text(value: object) -> str:
    # SQLite hands back JSON columns' text as stored; a driver may decode JSON for us.
    return value if isinstance(value, str) else json.dumps(value)
