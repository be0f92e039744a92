"""Re-encrypts every encrypted value with the newest key: `python -m bot.privacy.rotate`.

To rotate (README, "Rotating the encryption key"): put a new key first in ENCRYPTION_KEYS and
restart every instance, so new values are written with it and old ones still read; run this;
when it says so, remove the old key and restart again.

The encrypted columns are found from the models, not listed: every sealed column
(bot.core.sealed) and every LargeBinary column holds a Fernet token, so a column added later is
rotated without anyone remembering it. Values are read and written as stored, never through
the models, so the command needs no plaintext (but to re-hash emails) and a value no key reads
is reported and left instead of stopping the run. Each batch of rows is a transaction of its
own and a value already under the newest key is skipped: a run that stops part-way is simply
run again. A row is only written if its values are still those read, since the app may be
writing to it meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, LargeBinary, String, Table, Text, and_, select, tuple_, update
from sqlalchemy import column as raw_column
from sqlalchemy import table as raw_table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ColumnElement, TableClause

from bot.core.audit import OPERATOR, Action, Actor, entry, operator
from bot.core.crypto import Cipher, DecryptionError
from bot.core.database import rows_changed, session_factory
from bot.core.models import Base
from bot.core.sealed import SealedJSON, SealedText, cipher_of
from bot.privacy.data_map import is_encrypted

DEFAULT_BATCH = 500
# Keyed hashes kept beside an encrypted value to find it (Cipher.lookup_hash): table ->
# (hash column, the encrypted column it is the hash of). Rotation re-hashes with the newest key.
LOOKUP_HASHES: dict[str, tuple[tuple[str, str], ...]] = {
    "people": (("email_hash", "email"), ("upn_hash", "upn")),
}


@dataclass(frozen=True)
class Encrypted:
    """A column that holds Fernet tokens: as text (a sealed column) or as bytes."""

    table: str
    column: str
    as_text: bool

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


def encrypted_columns() -> list[Encrypted]:
    """Every column of the models that holds Fernet tokens, table by table."""
    return [
        Encrypted(table.name, column.name, as_text=_is_sealed(column))
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if is_encrypted(column)
    ]


def _is_sealed(column: Column[Any]) -> bool:
    return isinstance(column.type, SealedText | SealedJSON)


@dataclass
class Tally:
    """What happened to one column's values (in a dry run: what would have)."""

    rotated: int = 0  # re-encrypted (a hash: re-hashed) with the newest key
    current: int = 0  # already under the newest key: skipped
    unreadable: int = 0  # no configured key decrypts it: left as it is
    changed: int = 0  # written by someone else between reading and writing: run again


@dataclass(frozen=True)
class Unreadable:
    table: str
    column: str
    key: dict[str, Any]  # the row's primary key

    def __str__(self) -> str:
        where = ", ".join(f"{name}={value!r}" for name, value in self.key.items())
        return f"{self.table}.{self.column} where {where}"


@dataclass
class Rotation:
    """The outcome of a run, column by column (`table.column`, in the order done)."""

    dry_run: bool
    keys: int  # how many keys ENCRYPTION_KEYS holds
    tallies: dict[str, Tally] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)

    def tally(self, table: str, column: str) -> Tally:
        return self.tallies.setdefault(f"{table}.{column}", Tally())

    def total(self, what: str) -> int:
        return sum(getattr(tally, what) for tally in self.tallies.values())

    @property
    def finished(self) -> bool:
        """Whether nothing is left that needs an older key, so the older keys can go."""
        pending = self.total("changed") + (self.total("rotated") if self.dry_run else 0)
        return pending == 0 and not self.unreadable


ProgressCallback = Callable[[str, int], None]


async def rotate(
    engine: AsyncEngine,
    cipher: Cipher,
    *,
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
    actor: Actor = OPERATOR,
    progress: ProgressCallback | None = None,
) -> Rotation:
    """Re-encrypts every encrypted value (and re-hashes every lookup hash) with `cipher`'s
    newest key. `engine` must seal with `cipher` (create_engine(url, cipher=cipher)): the audit
    entry it writes has a sealed column. `progress(table, rows_done)` is called after each
    batch is committed."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if cipher_of(engine.sync_engine.dialect) is not cipher:
        raise ValueError("the engine must seal its columns with the cipher that rotates")
    result = Rotation(dry_run=dry_run, keys=cipher.key_count)
    columns = encrypted_columns()
    for table in Base.metadata.sorted_tables:
        mine = [each for each in columns if each.table == table.name]
        if mine:
            await _rotate_table(engine, cipher, table, mine, batch, result, progress)
    if not dry_run:
        async with session_factory(engine)() as session, session.begin():
            session.add(entry(actor, Action.KEYS_ROTATED, detail=_counts(result)))
    return result


async def _rotate_table(
    engine: AsyncEngine,
    cipher: Cipher,
    table: Table,
    columns: list[Encrypted],
    batch: int,
    result: Rotation,
    progress: ProgressCallback | None,
) -> None:
    hashes = LOOKUP_HASHES.get(table.name, ())
    keys = [column.name for column in table.primary_key.columns]
    # A copy of the table whose columns read and write what is stored, with no decryption.
    raw = raw_table(
        table.name,
        *(raw_column(name, table.c[name].type) for name in keys),
        *(raw_column(each.column, Text() if each.as_text else LargeBinary()) for each in columns),
        *(raw_column(hashed, String()) for hashed, _ in hashes),
    )
    for each in columns:
        result.tally(each.table, each.column)
    for hashed, _ in hashes:
        result.tally(table.name, hashed)
    last: tuple[Any, ...] | None = None
    done = 0
    while True:
        async with engine.begin() as connection:
            query = select(*raw.c).order_by(*(raw.c[name] for name in keys)).limit(batch)
            if last is not None:
                query = query.where(_after(raw, keys, last))
            rows = [row._asdict() for row in await connection.execute(query)]
            for row in rows:
                await _rotate_row(connection, cipher, raw, keys, columns, hashes, row, result)
        if not rows:
            return
        done += len(rows)
        last = tuple(rows[-1][name] for name in keys)
        if progress is not None:
            progress(table.name, done)
        if len(rows) < batch:
            return


def _after(raw: TableClause, keys: list[str], last: tuple[Any, ...]) -> ColumnElement[bool]:
    if len(keys) == 1:
        return raw.c[keys[0]] > last[0]
    return tuple_(*(raw.c[name] for name in keys)) > tuple_(*last)


async def _rotate_row(
    connection: AsyncConnection,
    cipher: Cipher,
    raw: TableClause,
    keys: list[str],
    columns: list[Encrypted],
    hashes: tuple[tuple[str, str], ...],
    row: dict[str, Any],
    result: Rotation,
) -> None:
    """Re-encrypts (and re-hashes) what the row needs, guarded on the values read."""
    table = raw.name
    values: dict[str, Any] = {}
    for each in columns:
        stored = row[each.column]
        if stored is None:
            continue
        tally = result.tally(table, each.column)
        token = _token(stored)
        if cipher.is_current(token):
            tally.current += 1
            continue
        try:
            fresh = cipher.rotate(token)
        except DecryptionError:
            tally.unreadable += 1
            result.unreadable.append(Unreadable(table, each.column, _key(row, keys)))
            continue
        values[each.column] = fresh.decode("ascii") if each.as_text else fresh
    for hashed, source in hashes:
        if row[source] is None:
            continue
        tally = result.tally(table, hashed)
        try:
            plain = cipher.decrypt(_token(row[source]))
        except DecryptionError:
            tally.unreadable += 1
            result.unreadable.append(Unreadable(table, hashed, _key(row, keys)))
            continue
        fresh_hash = cipher.lookup_hash(plain.strip().lower())
        if row[hashed] == fresh_hash:
            tally.current += 1
        else:
            values[hashed] = fresh_hash
    if not values:
        return
    written = result.dry_run or await _write(connection, raw, keys, row, values, hashes)
    for name in values:
        tally = result.tally(table, name)
        if written:
            tally.rotated += 1
        else:
            tally.changed += 1


async def _write(
    connection: AsyncConnection,
    raw: TableClause,
    keys: list[str],
    row: dict[str, Any],
    values: dict[str, Any],
    hashes: tuple[tuple[str, str], ...],
) -> bool:
    # Unchanged since read: the values being replaced, and the email a new hash is of.
    guarded = set(values) | {source for hashed, source in hashes if hashed in values}
    conditions = [raw.c[name] == row[name] for name in keys] + [
        raw.c[name].is_(None) if row[name] is None else raw.c[name] == row[name]
        for name in sorted(guarded)
    ]
    changed = await connection.execute(update(raw).where(and_(*conditions)).values(values))
    return rows_changed(changed) == 1


def _token(stored: str | bytes | memoryview) -> bytes:
    return stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)


def _key(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {name: row[name] for name in keys}


def _counts(result: Rotation) -> str:
    return (
        f"re-encrypted or re-hashed {result.total('rotated')}, "
        f"already current {result.total('current')}, "
        f"unreadable {result.total('unreadable')}, "
        f"changed meanwhile {result.total('changed')}"
    )


def report(result: Rotation) -> str:
    """What the command prints: a line per column, the values it could not read, and whether
    the older keys can now be removed."""
    done = "would re-encrypt" if result.dry_run else "re-encrypted"
    width = max([len(name) for name in result.tallies] + [len("column")])
    lines = [f"{'column':<{width}}  {done:>16}  {'already current':>15}  {'unreadable':>10}"]
    for name, tally in result.tallies.items():
        lines.append(
            f"{name:<{width}}  {tally.rotated:>16}  {tally.current:>15}  {tally.unreadable:>10}"
            + (f"  ({tally.changed} changed meanwhile)" if tally.changed else "")
        )
    lines.extend(f"cannot read {value}" for value in result.unreadable)
    lines.append("")
    lines.append(_verdict(result))
    return "\n".join(lines)


def _verdict(result: Rotation) -> str:
    if result.unreadable:
        return (
            f"{len(result.unreadable)} values cannot be read with any key in ENCRYPTION_KEYS "
            "(listed above) and were left as they are. If they were written under a key that is "
            "missing, add it at the end of ENCRYPTION_KEYS and run this again. Keep the older "
            "keys until then."
        )
    if result.total("changed"):
        return (
            f"{result.total('changed')} values changed while this ran: run it again before "
            "removing the older keys."
        )
    if result.dry_run and result.total("rotated"):
        return "Dry run: nothing was changed. Run without --dry-run to re-encrypt."
    if result.keys == 1:
        return "Every value is under the only key in ENCRYPTION_KEYS: there is no older key."
    return (
        "Every value is under the newest key: the older keys can now be removed from "
        "ENCRYPTION_KEYS (keep the first), then restart the app."
    )


async def _run(batch: int, dry_run: bool) -> int:
    from bot.core.database import engine_from_settings
    from bot.core.settings import Settings

    settings = Settings()
    if not settings.encryption_keys:  # (the app would make up a temporary key)
        print("ENCRYPTION_KEYS is not set: there is nothing to rotate with.", file=sys.stderr)
        return 2
    engine = engine_from_settings(settings)
    cipher = cipher_of(engine.sync_engine.dialect)

    def progress(table: str, rows: int) -> None:
        print(f"{table}: {rows} rows looked at", file=sys.stderr, flush=True)

    try:
        result = await rotate(
            engine, cipher, batch=batch, dry_run=dry_run, actor=operator(), progress=progress
        )
    finally:
        await engine.dispose()
    print(report(result))
    return 1 if result.unreadable else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Re-encrypt every encrypted value with the newest key in ENCRYPTION_KEYS."
    )
    parser.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help="rows per transaction (default 500)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would change; change nothing"
    )
    arguments = parser.parse_args(argv)
    if arguments.batch < 1:
        parser.error("--batch must be at least 1")
    sys.exit(asyncio.run(_run(arguments.batch, arguments.dry_run)))


if __name__ == "__main__":
    main()
