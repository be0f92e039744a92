"""The data map classifies every column, keeps nothing personal for ever or in plain text,
and the README shows it as the code has it."""

from __future__ import annotations

from bot.core.models import Base
from bot.core.settings import PROJECT_ROOT
from bot.privacy.data_map import (
    DATA_MAP,
    KEPT,
    Category,
    Rule,
    encrypted,
    stale,
    unmapped,
    with_map,
)

IDENTIFYING = {Category.SPECIAL, Category.PERSONAL}


def test_every_column_is_classified_with_a_retention_rule() -> None:
    missing = unmapped(Base.metadata)
    assert missing == [], f"classify these in bot/privacy/data_map.py: {missing}"
    assert stale(Base.metadata) == [], "the data map names columns the schema no longer has"


def test_nothing_personal_is_kept_for_ever() -> None:
    forever = [
        f"{name}.{column}"
        for name, table in DATA_MAP.items()
        for column, (category, rule) in table.columns.items()
        if category in IDENTIFYING and rule in KEPT - {Rule.DESK}
    ]
    assert forever == []


def test_everything_personal_is_encrypted_at_rest() -> None:
    secret = set(encrypted(Base.metadata))
    plain = [
        f"{name}.{column}"
        for name, table in DATA_MAP.items()
        for column, (category, _) in table.columns.items()
        if category in IDENTIFYING and f"{name}.{column}" not in secret
    ]
    assert plain == []
    mislabelled = [
        column
        for column in secret
        if DATA_MAP[column.split(".")[0]].columns[column.split(".")[1]][0] not in IDENTIFYING
    ]
    assert mislabelled == [], "an encrypted column is classified as not identifying anyone"


def test_the_readme_shows_the_map_as_the_code_has_it() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == with_map(readme, Base.metadata), "run `make data-map`"
