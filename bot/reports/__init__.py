"""The partnership's figures: `report` on the triage desk, the same as CSV through Teams' file
consent card, and `python -m bot.reports` for operators."""
