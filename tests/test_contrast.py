"""Every text of every gallery card is readable in Teams' light, dark and high-contrast themes.

Contrast is WCAG 2.2 AA (SC 1.4.3): 4.5:1, or 3:1 for large text, between the colour the
theme's host config gives a text and the background it is drawn on (tests/support/contrast.py
says how both are found; tests/fixtures/host_configs/README.md where the host configs are from).
`pytest -s tests/test_contrast.py` prints how many texts were checked in each theme.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.contrast import (
    HOST_CONFIGS,
    THEMES,
    accessibility_problems,
    contrast,
    drawn_texts,
    load_host,
    parse_color,
)
from tests.support.gallery import all_cards

CARDS = all_cards()
# The gallery has about 75 cards and over 1,000 texts; a walker that stopped looking inside
# containers or skipped a kind of card would fall well under this.
MIN_TEXTS_PER_THEME = 900
ROOT = Path(__file__).resolve().parent.parent
DESIGNER = ROOT / "node_modules" / "adaptivecards-designer" / "lib" / "hostConfigs"


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_every_gallery_text_is_readable(theme: str) -> None:
    host = load_host(theme)
    checked = 0
    failures: list[str] = []
    host_drawn_low: list[str] = []
    silent_cards = []
    for name, card in sorted(CARDS.items()):
        texts = drawn_texts(card, host)
        own = [t for t in texts if not t.host_drawn]
        if not own:
            silent_cards.append(name)
        checked += len(own)
        failures += [f"{name}: {t.describe()}" for t in own if not t.passes]
        host_drawn_low += [
            f"{name}: {t.describe()}" for t in texts if t.host_drawn and not t.passes
        ]
    summary = (
        f"{theme}: {checked} texts checked on {len(CARDS)} cards, {len(failures)} under the "
        f"threshold (and {len(host_drawn_low)} required marks and error messages, whose colour "
        "the host config chooses and no card can change)"
    )
    print(summary)
    assert not silent_cards, f"{summary}\nno text found on: {', '.join(silent_cards)}"
    assert checked >= MIN_TEXTS_PER_THEME, summary
    assert not failures, summary + "\n" + "\n".join(failures)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_inputs_are_labelled_and_images_described(name: str) -> None:
    assert accessibility_problems(CARDS[name]) == []


def test_contrast_ratio_matches_wcag() -> None:
    black, white = parse_color("#000000")[0], parse_color("#FFFFFF")[0]
    assert contrast(black, white) == pytest.approx(21.0)
    assert contrast(parse_color("#767676")[0], white) == pytest.approx(4.54, abs=0.01)
    assert contrast(white, white) == pytest.approx(1.0)


def _card(*body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "version": "1.5", "body": list(body)}


def test_the_walker_finds_text_where_the_renderer_draws_it() -> None:
    """The issue's unreadable paused line, and what each place gives it (values checked
    against adaptivecards 3.0.6's computed styles in Chromium)."""
    light = load_host("light")
    paused = _card(
        {
            "type": "Container",
            "style": "warning",
            "items": [{"type": "TextBlock", "text": "Paused", "color": "Warning"}],
        }
    )
    (text,) = drawn_texts(paused, light)
    assert (text.style, text.ratio < 1.3, text.passes) == ("warning", True, False)

    nested = _card(
        {
            "type": "ColumnSet",
            "columns": [
                {
                    "type": "Column",
                    "style": "attention",
                    "items": [
                        {"type": "FactSet", "facts": [{"title": "T", "value": "V"}]},
                        {"type": "Input.Text", "id": "x", "label": "L", "isRequired": True},
                    ],
                }
            ],
        },
        {
            "type": "ActionSet",
            "actions": [
                {
                    "type": "Action.ShowCard",
                    "title": "More",
                    "card": {
                        "type": "AdaptiveCard",
                        "body": [{"type": "TextBlock", "text": "Shown", "isSubtle": True}],
                    },
                }
            ],
        },
    )
    texts = drawn_texts(nested, light)
    assert [(t.kind, t.style, t.host_drawn) for t in texts] == [
        ("fact title", "attention", False),
        ("fact value", "attention", False),
        ("label", "attention", False),
        ("required mark", "attention", True),
        ("TextBlock", "default", False),
    ]
    emphasis = parse_color(light.styles["emphasis"].background or "")[0]
    assert texts[-1].background == emphasis  # a shown card is painted in showCard.style


def test_accessibility_problems_are_found() -> None:
    card = _card(
        {"type": "Input.Text", "id": "a"},
        {"type": "Input.ChoiceSet", "id": "b", "label": "B", "isRequired": True, "choices": []},
        {"type": "Image", "url": "https://example.org/x.png"},
    )
    assert len(accessibility_problems(card)) == 3


@pytest.mark.skipif(not DESIGNER.is_dir(), reason="node_modules not installed (npm ci)")
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_host_configs_are_the_designer_packages(theme: str) -> None:
    """teams-light/dark.json are copies of adaptivecards-designer's, pinned in package.json."""
    ours = json.loads((HOST_CONFIGS / f"teams-{theme}.json").read_text(encoding="utf-8"))
    theirs = json.loads((DESIGNER / f"microsoft-teams-{theme}.json").read_text(encoding="utf-8"))
    assert ours == theirs
