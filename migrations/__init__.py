"""Alembic migrations (env.py and versions/), run by bot.core.migrate.

A package only so that the scripts travel with the installed app and are found next to it.
"""
