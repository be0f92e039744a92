"""Brings the database schema up to date: `python -m bot.core.migrate` (make migrate), or
`reflective-practice-migrate` where the wheel is installed; or at start-up, once across
instances, with MIGRATE_ON_START=true.

The app checks the schema when it starts and on every /readyz: an app whose database is behind
its code would fail every turn, so it refuses to serve instead and says why in its log.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import migrations
from bot.core.settings import Settings

log = logging.getLogger(__name__)

# The migration scripts travel with the app as the `migrations` package, so they are found in a
# checkout and in an installed wheel alike; no alembic.ini is needed to run them.
SCRIPTS = Path(migrations.__file__).resolve().parent
# The PostgreSQL advisory lock instances take to migrate one at a time (any fixed number
# that no other code on the database uses; this one spells "RPMG").
MIGRATION_LOCK = 0x52504D47


def alembic_config(database_url: str, settings: Settings | None = None) -> Config:
    """`settings`, when given, say how env.py signs in besides the URL (DATABASE_AUTH)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    # Alembic's config is an ini file: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if settings is not None:
        config.attributes["settings"] = settings
    return config


def upgrade(database_url: str, settings: Settings | None = None) -> None:
    command.upgrade(alembic_config(database_url, settings), "head")


async def upgrade_async(database_url: str, settings: Settings | None = None) -> None:
    # env.py runs its own event loop, so it needs a thread without one.
    await asyncio.to_thread(upgrade, database_url, settings)


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def expected_revision() -> str:
    """The revision this release's code is written for: the newest migration it ships."""
    head = _scripts().get_current_head()
    assert head is not None, "the migrations package has no revisions"
    return head


class SchemaState(StrEnum):
    CURRENT = "current"
    BEHIND = "behind"  # empty, or an older revision: this release's migrations have not run
    AHEAD = "ahead"  # a revision this release does not know: a newer release has migrated


@dataclass(frozen=True)
class Schema:
    stored: str | None  # the database's alembic revision; None when it has never been migrated
    expected: str

    @property
    def state(self) -> SchemaState:
        if self.stored == self.expected:
            return SchemaState.CURRENT
        if self.stored is None or self.stored in _known_revisions():
            return SchemaState.BEHIND
        return SchemaState.AHEAD


class SchemaNotReady(RuntimeError):
    """The database is behind this release's code: serving would fail every turn."""


async def _stored_revision(connection: AsyncConnection) -> str | None:
    migrated = await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
    if not migrated:
        return None
    revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    return str(revision) if revision is not None else None


async def schema_of(engine: AsyncEngine) -> Schema:
    """The database's schema against the code's; raises if the database cannot be reached."""
    async with engine.connect() as connection:
        return Schema(await _stored_revision(connection), expected_revision())


async def migrate_once(engine: AsyncEngine, settings: Settings) -> Schema:
    """Upgrades the database unless another instance has already, under an advisory lock on
    PostgreSQL so that instances started together migrate one at a time: the first does the
    work, the others find it done. (SQLite serves one instance.) Returns the schema before."""
    async with engine.connect() as connection:
        locking = connection.dialect.name == "postgresql"
        if locking:
            # Session-level: held across the migration's own transactions, released below
            # or when this connection closes (an instance that dies lets the next one in).
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            await connection.commit()
        try:
            before = Schema(await _stored_revision(connection), expected_revision())
            await connection.rollback()  # no transaction left open while alembic works
            if before.state is SchemaState.BEHIND:
                await upgrade_async(settings.database_url, settings)
                log.info(
                    "database schema migrated from %s to %s",
                    before.stored or "empty",
                    before.expected,
                )
            else:
                log.info("database schema already at %s; nothing to migrate", before.stored)
            return before
        finally:
            if locking:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK}
                )
                await connection.commit()


def refusal(schema: Schema) -> str:
    """What the log says when the app will not serve on this database."""
    return (
        f"refusing to serve: the database schema is at {schema.stored or 'nothing (empty)'} "
        f"but this release needs {schema.expected}. Run `reflective-practice-migrate` "
        "(make migrate in a checkout) as the release's one-off step, or start the app with "
        "MIGRATE_ON_START=true."
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    upgrade(settings.database_url, settings)
    log.info("database schema is up to date")


if __name__ == "__main__":
    main()
