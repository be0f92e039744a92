"""The built-in session models as data: one TOML file per protocol (read by bot.core.protocols).

A package only so that the files travel with the installed app and are found next to it.
"""
