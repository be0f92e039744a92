"""Every card the bot can send validates against Adaptive Cards 1.5."""

import importlib
import inspect
import json
import pkgutil
import sys
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import pytest

import cards
from cards.binder import TEMPLATES, TemplateError, render
from tests.support.card_schema import card_errors
from tests.support.gallery import all_cards, write_gallery

CARDS = all_cards()


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_validates_against_schema_1_5(name: str) -> None:
    assert card_errors(CARDS[name]) == []


def test_validator_rejects_a_broken_card() -> None:
    typo = json.loads(json.dumps(CARDS["welcome"]))
    typo["body"][0]["wieght"] = "Bolder"  # a typo the schema must catch
    assert card_errors(typo)
    unknown_action = json.loads(json.dumps(CARDS["welcome"]))
    unknown_action["actions"][0]["type"] = "Action.Sumbit"
    assert card_errors(unknown_action)
    assert card_errors({**CARDS["welcome"], "version": "1.6"})


def test_gallery_writes_every_card(tmp_path: Path) -> None:
    paths = write_gallery(tmp_path)
    assert {p.stem for p in paths} == set(CARDS)
    assert json.loads(paths[0].read_text())["type"] == "AdaptiveCard"


def test_gallery_draws_every_card_and_template() -> None:
    """Each public `*_card` function of cards/ and each template is drawn by the gallery at
    least once, so every card the bot sends is checked here and by tests/test_contrast.py (and
    can be rendered for the README). A new card, or a new state of one, gets a gallery entry."""
    called: set[CodeType] = set()
    templates: set[str] = set()

    def watch(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call":
            called.add(frame.f_code)
            if frame.f_code is render.__code__:
                templates.add(frame.f_locals["name"])

    sys.setprofile(watch)
    try:
        all_cards()
    finally:
        sys.setprofile(None)
    builders = {
        f"{module.__name__}.{name}": function
        for info in pkgutil.iter_modules(cards.__path__)
        for module in [importlib.import_module(f"cards.{info.name}")]
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and name.endswith("_card")
    }
    assert len(builders) > 20
    assert sorted(n for n, f in builders.items() if f.__code__ not in called) == []
    assert sorted({p.stem for p in TEMPLATES.glob("*.json")} - templates) == []


def test_user_text_is_bound_as_text_not_template() -> None:
    hostile = 'He said "stop" ${title} }{ \\ </at>'
    card = render("signpost", {"text": hostile, "url": "https://example.org"})
    assert card["body"][0]["items"][1]["text"] == hostile
    assert card_errors(card) == []


def test_missing_template_value_is_an_error_not_a_blank() -> None:
    with pytest.raises(TemplateError):
        render("signpost", {"text": "x"})
