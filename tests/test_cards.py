"""Every card the bot can send validates against Adaptive Cards 1.5."""

import json
from pathlib import Path

import pytest

from cards.binder import TemplateError, render
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


def test_user_text_is_bound_as_text_not_template() -> None:
    hostile = 'He said "stop" ${title} }{ \\ </at>'
    card = render("signpost", {"text": hostile, "url": "https://example.org"})
    assert card["body"][0]["items"][1]["text"] == hostile
    assert card_errors(card) == []


def test_missing_template_value_is_an_error_not_a_blank() -> None:
    with pytest.raises(TemplateError):
        render("signpost", {"text": "x"})
