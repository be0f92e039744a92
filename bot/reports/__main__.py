"""For operators: the partnership's figures as CSV, the same file the desk's Download gives.

    python -m bot.reports --from 2026-01-01 --to 2026-03-31 [--tenant ID] --csv FILE

Reads the database settings from the environment (and `.env`), as `python -m
bot.privacy.retention` does; prints a short summary. Without --tenant, every tenant's figures
together.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.core.database import engine_from_settings, session_factory
from bot.core.protocols import BUILT_IN, catalogue_of, load_protocols
from bot.core.settings import Settings
from bot.core.working_days import WorkingCalendar
from bot.reports.export import csv_of
from bot.reports.figures import Figures, Labels, figures_for
from bot.reports.period import Period, PeriodError


async def count_figures(settings: Settings, period: Period, tenant_id: str | None) -> Figures:
    protocol_dirs = [BUILT_IN] + ([settings.protocols_dir] if settings.protocols_dir else [])
    protocols = load_protocols(protocol_dirs)
    labels = Labels.of(protocols, catalogue_of(protocols, settings.offered_models))
    calendar = WorkingCalendar(time_zone=settings.time_zone)
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            figures = await figures_for(session, tenant_id, period, calendar, labels)
    finally:
        await engine.dispose()
    return figures


def summary(figures: Figures, target: Path) -> str:
    return (
        f"{figures.period.words()}: {figures.received} referrals received, "
        f"{figures.sessions} sessions held, {figures.attendance} people took part. "
        f"Written to {target}."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The partnership's figures for a period, as CSV.")
    parser.add_argument("--from", dest="first", required=True, help="first day, e.g. 2026-01-01")
    parser.add_argument("--to", dest="last", required=True, help="last day (included)")
    parser.add_argument("--tenant", default=None, help="one tenant's figures (default: all)")
    parser.add_argument("--csv", required=True, type=Path, help="the file to write")
    arguments = parser.parse_args(argv)
    try:
        period = Period.from_token(f"{arguments.first}..{arguments.last}")
    except PeriodError as problem:
        print(str(problem).replace("**", ""), file=sys.stderr)
        return 2
    figures = asyncio.run(count_figures(Settings(), period, arguments.tenant))
    arguments.csv.write_bytes(csv_of(figures))
    print(summary(figures, arguments.csv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
