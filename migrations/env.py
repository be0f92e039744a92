"""Alembic environment: runs migrations on the async engine for DATABASE_URL.

bot.core.migrate passes the URL in its config; the alembic command line (alembic.ini, for
writing a new revision in a checkout) passes none, so settings give it. It signs in as the app
does: with DATABASE_AUTH=entra, with a token from the managed identity (bot.core.database).
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection, make_url

from bot.core.database import CredentialFactory, create_engine, database_credential
from bot.core.models import Base
from bot.core.settings import Settings

target_metadata = Base.metadata


def _sign_in(url: str) -> CredentialFactory | None:
    """How to sign in to `url` besides what it carries: as the settings that bot.core.migrate
    hands over (config.attributes["settings"]) say; without those, as this deployment's
    settings say when the URL is theirs (`python -m bot.core.migrate`, migrate-at-start)."""
    settings = context.config.attributes.get("settings")
    if settings is None:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql" or parsed.password:
            return None  # a URL that carries its own way in, or SQLite's
        settings = Settings()
        if settings.database_url != url:
            return None
    return database_credential(settings)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url, credential=_sign_in(url))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


url = context.config.get_main_option("sqlalchemy.url") or Settings().database_url
if context.is_offline_mode():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(url))
