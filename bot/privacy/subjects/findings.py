"""What a search found and, when erasing, what it did: the export's JSON and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.privacy.subjects.subject import Subject
from bot.privacy.subjects.values import dumps

NOTICE = (
    "Everything the reflective practice bot stores about this person, decrypted. Some items "
    "hold data about other people: a referral's narrative and answers are about a child and "
    "the professionals around them, and questions, decisions and sessions name others. Review "
    "and redact third-party data before releasing this to the person."
)


@dataclass(frozen=True)
class Item:
    """One stored value about the person: where it is and what it holds (decrypted)."""

    table: str
    key: dict[str, Any]
    column: str
    value: Any

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "column": self.column, "value": self.value}


@dataclass(frozen=True)
class Outcome:
    """What an erasure did to some rows of a table, and why what was kept is kept."""

    table: str
    what: str
    rows: int
    why: str = ""

    def line(self) -> str:
        return f"{self.table}: {self.rows} {self.what}" + (f": {self.why}" if self.why else "")


@dataclass
class Findings:
    """A search's result: the items found and, when erasing, what was done."""

    subject: Subject
    pseudonym: str
    items: list[Item] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # After an erasure: values that still name the person (kept; the operator should look).
    remaining: list[Item] = field(default_factory=list)
    dry_run: bool = False

    def add(self, item: Item) -> None:
        if item.value not in (None, "", [], {}):
            self.items.append(item)

    def did(self, table: str, what: str, rows: int, why: str = "") -> None:
        if rows:
            self.outcomes.append(Outcome(table, what, rows, why))

    def note(self, count: int, text: str) -> None:
        if count:
            self.notes.append(f"{count} {text}")

    def rows_by_table(self) -> dict[str, int]:
        rows: dict[str, set[str]] = {}
        for item in self.items:
            rows.setdefault(item.table, set()).add(dumps(item.key))
        return {table: len(keys) for table, keys in rows.items()}

    def changed_by_table(self) -> dict[str, int]:
        changed: dict[str, int] = {}
        for outcome in self.outcomes:
            changed[outcome.table] = changed.get(outcome.table, 0) + outcome.rows
        return changed

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "subject": {
                "asked_for": self.subject.asked_for,
                "entra_object_ids": sorted(self.subject.ids),
                "emails": sorted(self.subject.emails),
                "pseudonym": self.pseudonym,
            },
            "exported_at": now.isoformat(),
            "notice": NOTICE,
            "rows_by_table": self.rows_by_table(),
            "items": [item.as_json() for item in self.items],
        }

    def report(self) -> str:
        if not self.outcomes and not self.remaining:
            return "Nothing stored names this person."
        heading = "Would do (dry run, nothing changed):" if self.dry_run else "Done:"
        lines = [heading, *(f"  {outcome.line()}" for outcome in self.outcomes)]
        lines += [f"  Note: {note}" for note in self.notes]
        if self.remaining:
            lines.append("Still naming them, kept (look at these by hand):")
            lines += [f"  {i.table} {_key_text(i.key)} {i.column}" for i in self.remaining]
        lines.append(f"The audit log names them as {self.pseudonym}.")
        return "\n".join(lines)


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {rows}" for name, rows in counts.items()) or "nothing found"


def _key_text(key: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in key.items())
