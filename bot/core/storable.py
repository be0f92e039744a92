"""What the bot may keep of what people send: one check for text, one for numbers.

Every boundary that takes input (a card's fields, a typed argument) asks here before the
input goes any further, so a character or a number the databases cannot take is refused
politely where it arrives, never by the database at the end of a turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A lone surrogate (JSON's "\ud800" gives Python one) cannot be encoded as UTF-8, so neither
# database, nor the encryption, takes it; PostgreSQL refuses NUL in text. The other C0
# controls are nobody's typing and are not allowed in XML, which Outlook invitations are made
# of; tab, newline and carriage return are typing.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

# The largest value of an Integer column on PostgreSQL (int4); SQLite's go further.
MAX_INTEGER = 2**31 - 1


def storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def first_unstorable(fields: Mapping[str, str]) -> str | None:
    """The key of the first field whose text cannot be stored, if there is one."""
    return next((key for key, text in fields.items() if not storable(text)), None)


def without_unstorable(text: str) -> str:
    """The text with what cannot be stored taken out: to show it back to be checked."""
    return _UNSTORABLE.sub("", text)


def unstorable_message(label: str) -> str:
    """The refusal, naming the box as the card labels it (when it has a label)."""
    box = f"The \u2018{label}\u2019 box" if label else "One of the boxes"
    return f"{box} has a character that cannot be stored: please retype it."


def whole_number(value: object, low: int = 0, high: int = MAX_INTEGER) -> int | None:
    """`value` (an int, or its digits as text) when it is a whole number from `low` to `high`.

    None for anything else: a float (Infinity and NaN included), a bool, a number out of
    range, text that is not plain digits.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        # Bounded before int(): a long run of digits is refused without converting it.
        if not (digits.isascii() and digits.isdecimal()) or len(digits) > 20:
            return None
        value = int(text)
    if not isinstance(value, int) or not low <= value <= high:
        return None
    return value
