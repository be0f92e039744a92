"""Brings the database schema up to date: `python -m bot.core.migrate` (make migrate), or
`reflective-practice-migrate` where the wheel is installed."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from bot.core.settings import Settings

# The migration scripts travel with the app as the `migrations` package, so they are found in a
# checkout and in an installed wheel alike; no alembic.ini is needed to run them.
SCRIPTS = Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    # Alembic's config is an ini file: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_async(database_url: str) -> None:
    # env.py runs its own event loop, so it needs a thread without one.
    await asyncio.to_thread(upgrade, database_url)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    upgrade(settings.database_url)
    logging.getLogger("bot.core.migrate").info("database schema is up to date")


if __name__ == "__main__":
    main()
