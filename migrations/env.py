"""Alembic environment: runs migrations on the async engine for DATABASE_URL.

bot.core.migrate passes the URL in its config; the alembic command line (alembic.ini, for
writing a new revision in a checkout) passes none, so settings give it.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from bot.core.database import create_engine
from bot.core.models import Base
from bot.core.settings import Settings

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
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
