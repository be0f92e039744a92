"""The operator's command: `python -m bot.privacy.subjects export|erase` (see the package)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.core.audit import operator
from bot.core.database import engine_from_settings, session_factory
from bot.core.sealed import cipher_of
from bot.core.settings import Settings
from bot.privacy.subjects.findings import counts_text
from bot.privacy.subjects.requests import erase, export


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bot.privacy.subjects",  # not "__main__.py"
        description="Answer a subject access or erasure request about one person.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="everything stored about them, as JSON")
    erasing = commands.add_parser("erase", help="erase or pseudonymise it")
    for command in (exporting, erasing):
        command.add_argument("--person", help="their Entra object id")
        command.add_argument("--email", help="their work email (finds their id where known)")
    exporting.add_argument("--out", help="write the JSON here (else to standard output)")
    erasing.add_argument(
        "--dry-run", action="store_true", help="say what would be done; change nothing"
    )
    arguments = parser.parse_args(argv)
    if not (arguments.person or arguments.email):
        parser.error("say whom: --person ID, --email ADDRESS, or both")
    sys.exit(asyncio.run(_run(arguments)))


async def _run(arguments: argparse.Namespace) -> int:
    settings = Settings()
    if not settings.encryption_keys:
        print("ENCRYPTION_KEYS is not set: stored data cannot be read.", file=sys.stderr)
        return 2
    engine = engine_from_settings(settings)
    cipher = cipher_of(engine.sync_engine.dialect)
    sessions = session_factory(engine)
    who = {"person_id": arguments.person, "email": arguments.email}
    try:
        if arguments.command == "export":
            exported = await export(sessions, cipher, actor=operator(), **who)
            _write(exported, arguments.out)
            rows = exported["rows_by_table"]
            print(
                f"{len(exported['items'])} items from {sum(rows.values())} rows"
                + (f" ({counts_text(rows)})" if rows else "")
                + (f", written to {arguments.out}" if arguments.out else "")
                + ". Review third-party data in it before releasing it.",
                file=sys.stderr,
            )
        else:
            found = await erase(
                sessions, cipher, actor=operator(), dry_run=arguments.dry_run, **who
            )
            print(found.report())
    finally:
        await engine.dispose()
    return 0


def _write(exported: dict[str, Any], out: str | None) -> None:
    text = json.dumps(exported, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    # Personal data: readable by the operator only.
    descriptor = os.open(Path(out), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


if __name__ == "__main__":
    main()
