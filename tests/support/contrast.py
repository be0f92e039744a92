"""What colour each text of an Adaptive Card is drawn in, and on what, under a Teams theme.

Follows what Microsoft's renderer (`adaptivecards` 3.0.6, card-elements.js) does with a host
config, so that a card can be checked for WCAG 2.x contrast without a browser:

* A text's colours come from the `foregroundColors` of the container style it sits in: the
  nearest Container, Column, ColumnSet, Table, TableRow or TableCell with a `style` the host
  config knows, else the card's `default` style (the root card's own `style` counts only when
  the host config's `adaptiveCard.allowCustomStyle` is true; Teams' is false). `color` picks
  the set (default, dark, light, accent, good, warning, attention), `isSubtle` its `subtle`
  shade. Colours may be `#AARRGGBB` (alpha first, as `Utils.stringToCssColor` reads them).
* The background is the colour drawn last beneath the text: the card's default style, then a
  styled container's `backgroundColor` where the renderer paints one (`getHasBackground`: an
  explicit style that differs from an ancestor's). The card of an Action.ShowCard is painted in
  `actions.showCard.style` (emphasis in all three Teams configs) while its texts keep the
  colours of the style around the button.
* Text the renderer draws for the card: TextBlock, RichTextBlock's TextRuns, FactSet titles
  and values (`factSet.title`/`value` of the host config), input labels
  (`inputs.label.requiredInputs`/`optionalInputs`), Input.Toggle titles and the choices of an
  expanded ChoiceSet (default colour). The required mark (" *") and an input's errorMessage
  are drawn in colours the host config chooses (`suffixColor`, `inputs.errorMessage.color`):
  they are reported with `host_drawn=True`, as no card can change them. Buttons, text boxes,
  drop-downs and links are drawn by Teams' own styles, not the host config, and are not here.
* Large text (WCAG: at least 18pt = 24px, or 14pt = 18.66px bold) is judged with the host
  config's font sizes and weights; "bold" means a weight of 700 or more, so Teams' "bolder"
  (600, semibold) is not bold for this purpose.

The three themes' host configs are in tests/fixtures/host_configs (README there: where from).
Standard library only, so docs/render_cards.py can use it as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

HOST_CONFIGS = Path(__file__).resolve().parent.parent / "fixtures" / "host_configs"

AA_TEXT = 4.5  # WCAG 2.2 SC 1.4.3, normal text
AA_LARGE_TEXT = 3.0  # large text
LARGE_PX = 24.0  # 18pt
LARGE_BOLD_PX = 18.66  # 14pt
BOLD_WEIGHT = 700

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Theme:
    """A Teams theme: its host config file and the chat background around a card."""

    name: str
    file: str
    page: str  # behind the card's bubble (adaptivecards-designer's TeamsContainer for light/dark)

    @property
    def path(self) -> Path:
        return HOST_CONFIGS / self.file


THEMES = {
    "light": Theme("light", "teams-light.json", "#F6F6F6"),
    "dark": Theme("dark", "teams-dark.json", "#201E1F"),
    "high-contrast": Theme("high-contrast", "teams-high-contrast.json", "#000000"),
}

# The renderer's own defaults (host-config.js), for what a host config leaves out.
_FONT_SIZES = {"small": 12, "default": 14, "medium": 17, "large": 21, "extralarge": 26}
_FONT_WEIGHTS = {"lighter": 200, "default": 400, "bolder": 600}
_STYLE_NAMES = ("default", "emphasis", "accent", "good", "attention", "warning")
_COLOR_NAMES = ("default", "dark", "light", "accent", "good", "warning", "attention")
_DEFAULT_FOREGROUNDS = {
    "default": ("#333333", "#EE333333"),
    "dark": ("#000000", "#66000000"),
    "light": ("#FFFFFF", "#33000000"),
    "accent": ("#2E89FC", "#882E89FC"),
    "good": ("#028A02", "#DD027502"),
    "warning": ("#E69500", "#DDE69500"),
    "attention": ("#CC3300", "#DDCC3300"),
}
_HIGHLIGHT = ("#22000000", "#11000000")


@dataclass(frozen=True)
class TextLook:
    """size, weight, color, isSubtle as a host config's text definitions give them."""

    size: str = "default"
    weight: str = "default"
    color: str = "default"
    subtle: bool = False

    def over(self, element: dict[str, Any]) -> TextLook:
        """This look with what an element sets itself."""
        subtle = element.get("isSubtle")
        return TextLook(
            _name(element.get("size"), self.size),
            _name(element.get("weight"), self.weight),
            _name(element.get("color"), self.color),
            subtle if isinstance(subtle, bool) else self.subtle,
        )


def _name(value: Any, default: str) -> str:
    return value.lower() if isinstance(value, str) and value else default


def _look(definition: dict[str, Any] | None, base: TextLook = TextLook()) -> TextLook:
    return base.over(definition or {})


@dataclass(frozen=True)
class ContainerStyle:
    background: str | None
    foregrounds: dict[str, tuple[str, str]]  # color name -> (default, subtle)


@dataclass(frozen=True)
class Host:
    """A host config, read the way the renderer reads it."""

    theme: Theme
    config: dict[str, Any]
    styles: dict[str, ContainerStyle]
    font_sizes: dict[str, float]
    font_weights: dict[str, int]
    allow_custom_style: bool
    show_card_style: str
    fact_title: TextLook
    fact_value: TextLook
    required_label: TextLook
    optional_label: TextLook
    required_mark: tuple[str, str]  # suffix text, colour name
    error_message: TextLook
    text_styles: dict[str, TextLook]

    def size_px(self, size: str) -> float:
        return float(self.font_sizes.get(size, self.font_sizes["default"]))

    def weight_of(self, weight: str) -> int:
        return int(self.font_weights.get(weight, self.font_weights["default"]))


@cache
def load_host(theme_name: str) -> Host:
    theme = THEMES[theme_name]
    config = json.loads(theme.path.read_text(encoding="utf-8"))
    return host_of(theme, config)


def host_of(theme: Theme, config: dict[str, Any]) -> Host:
    raw_styles = config.get("containerStyles") or {}
    styles: dict[str, ContainerStyle] = {}
    for name in _STYLE_NAMES:
        raw = raw_styles.get(name) or {}
        colors = raw.get("foregroundColors") or {}
        foregrounds = {}
        for color in _COLOR_NAMES:
            given = colors.get(color) or {}
            default, subtle = _DEFAULT_FOREGROUNDS[color]
            foregrounds[color] = (given.get("default") or default, given.get("subtle") or subtle)
        styles[name] = ContainerStyle(raw.get("backgroundColor"), foregrounds)
    font = (config.get("fontTypes") or {}).get("default") or config
    sizes = {k.lower(): v for k, v in (font.get("fontSizes") or {}).items() if v}
    weights = {k.lower(): v for k, v in (font.get("fontWeights") or {}).items() if v}
    inputs = config.get("inputs") or {}
    label = inputs.get("label") or {}
    required = label.get("requiredInputs") or {}
    fact_set = config.get("factSet") or {}
    text_styles = config.get("textStyles") or {}
    return Host(
        theme=theme,
        config=config,
        styles=styles,
        font_sizes={**_FONT_SIZES, **sizes},
        font_weights={**_FONT_WEIGHTS, **weights},
        allow_custom_style=bool((config.get("adaptiveCard") or {}).get("allowCustomStyle")),
        show_card_style=((config.get("actions") or {}).get("showCard") or {}).get("style")
        or "emphasis",
        fact_title=_look(fact_set.get("title"), TextLook(weight="bolder")),
        fact_value=_look(fact_set.get("value")),
        required_label=_look(required),
        optional_label=_look(label.get("optionalInputs")),
        required_mark=(
            required.get("suffix") or " *",
            _name(required.get("suffixColor"), "attention"),
        ),
        error_message=_look(inputs.get("errorMessage"), TextLook(color="attention")),
        text_styles={
            "default": _look(text_styles.get("default")),
            "heading": _look(text_styles.get("heading"), TextLook("large", "bolder")),
            "columnheader": _look(text_styles.get("columnHeader"), TextLook(weight="bolder")),
        },
    )


# Colours and the WCAG 2.x contrast ratio.


def parse_color(text: str) -> tuple[RGB, float]:
    """`#RRGGBB` or `#AARRGGBB` (alpha first) as ((r, g, b) in 0..255, alpha in 0..1)."""
    match = re.fullmatch(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})", text.strip())
    if match is None:
        raise ValueError(f"not a host config colour: {text!r}")
    digits = match.group(1)
    alpha = 1.0
    if len(digits) == 8:
        alpha, digits = int(digits[:2], 16) / 255, digits[2:]
    rgb = (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    return (float(rgb[0]), float(rgb[1]), float(rgb[2])), alpha


def over(color: str, beneath: RGB) -> RGB:
    """`color` painted over the opaque `beneath`."""
    rgb, alpha = parse_color(color)
    r, g, b = (alpha * rgb[i] + (1 - alpha) * beneath[i] for i in range(3))
    return (r, g, b)


def luminance(rgb: RGB) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def hex_of(rgb: RGB) -> str:
    return "#" + "".join(f"{round(v):02X}" for v in rgb)


# The walk.


@dataclass(frozen=True)
class DrawnText:
    """One text as the renderer draws it, with the colours it gets."""

    card_path: str  # where in the card, e.g. body[2].items[0]
    kind: str  # TextBlock, TextRun, fact title, fact value, label, required mark, ...
    text: str
    style: str  # the container style whose foregroundColors apply
    look: TextLook
    foreground: RGB
    background: RGB
    size_px: float
    weight: int
    host_drawn: bool = False  # colour chosen by the host config, not by the card

    @property
    def ratio(self) -> float:
        return contrast(self.foreground, self.background)

    @property
    def large(self) -> bool:
        return self.size_px >= LARGE_PX or (
            self.weight >= BOLD_WEIGHT and self.size_px >= LARGE_BOLD_PX
        )

    @property
    def required_ratio(self) -> float:
        return AA_LARGE_TEXT if self.large else AA_TEXT

    @property
    def passes(self) -> bool:
        return self.ratio >= self.required_ratio

    def describe(self) -> str:
        shade = " subtle" if self.look.subtle else ""
        excerpt = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (
            f"{self.card_path} {self.kind} {excerpt!r}: {self.look.color}{shade} "
            f"{hex_of(self.foreground)} on {hex_of(self.background)} ({self.style} style), "
            f"{self.ratio:.2f}:1, needs {self.required_ratio}:1"
        )


@dataclass(frozen=True)
class _Place:
    """Where an element sits: the style its texts take colours from and what is beneath."""

    style: str
    background: RGB
    ancestors: tuple[str, ...]  # effective styles of the stylable containers above
    text_style: TextLook = field(default_factory=TextLook)


_STYLABLE = {"Container", "Column", "ColumnSet", "Table", "TableRow", "TableCell"}


def drawn_texts(card: dict[str, Any], host: Host) -> list[DrawnText]:
    """Every text of `card` the renderer draws in a host-config colour, in card order."""
    page = parse_color(host.theme.page)[0]
    style = "default"
    if host.allow_custom_style and card.get("style") in host.styles:
        style = card["style"]
    place = _Place(style, _paint(host, style, page), (), host.text_styles["default"])
    out: list[DrawnText] = []
    _walk_card(card, "", place, host, out)
    return out


def _paint(host: Host, style: str, beneath: RGB) -> RGB:
    color = host.styles[style].background
    return over(color, beneath) if color else beneath


def _walk_card(
    card: dict[str, Any], path: str, place: _Place, host: Host, out: list[DrawnText]
) -> None:
    ancestors = (*place.ancestors, place.style)
    inner = _Place(place.style, place.background, ancestors, place.text_style)
    for i, element in enumerate(card.get("body") or []):
        _walk(element, f"{path}body[{i}]", inner, host, out)
    for i, action in enumerate(card.get("actions") or []):
        _walk_action(action, f"{path}actions[{i}]", inner, host, out)


def _walk_action(
    action: dict[str, Any], path: str, place: _Place, host: Host, out: list[DrawnText]
) -> None:
    if action.get("type") != "Action.ShowCard" or not isinstance(action.get("card"), dict):
        return
    card = action["card"]
    # InlineAdaptiveCard: painted in showCard.style; its own style only if custom styles are
    # allowed, else its texts take the colours of the style around the button.
    style = place.style
    if host.allow_custom_style and card.get("style") in host.styles:
        style = card["style"]
    painted = card.get("style") if card.get("style") in host.styles else None
    background = _paint(host, painted or host.show_card_style, place.background)
    inner = _Place(style, background, place.ancestors, place.text_style)
    _walk_card(card, f"{path}.card.", inner, host, out)


def _enter(element: dict[str, Any], place: _Place, host: Host) -> _Place:
    """The place inside a stylable container."""
    style = element.get("style")
    if not (isinstance(style, str) and style in host.styles):
        return _Place(place.style, place.background, (*place.ancestors, place.style),
                      place.text_style)  # fmt: skip
    # Container.getHasBackground: an explicit style that differs from some ancestor's.
    differs = any(ancestor != style for ancestor in (*place.ancestors, place.style))
    background = _paint(host, style, place.background) if differs else place.background
    return _Place(style, background, (*place.ancestors, style), place.text_style)


def _walk(element: Any, path: str, place: _Place, host: Host, out: list[DrawnText]) -> None:
    if not isinstance(element, dict):
        return
    kind = element.get("type")
    if kind in _STYLABLE:
        if element.get("backgroundImage"):
            raise ValueError(f"{path}: text on a background image cannot be checked")
        inner = _enter(element, place, host)
        for key in ("items", "columns", "rows", "cells"):
            children = element.get(key) or []
            for i, child in enumerate(children):
                child_place = inner
                if (
                    kind == "Table"
                    and key == "rows"
                    and i == 0
                    and element.get("firstRowAsHeader", True)
                ):
                    header = host.text_styles["columnheader"]
                    child_place = _Place(inner.style, inner.background, inner.ancestors, header)
                _walk(child, f"{path}.{key}[{i}]", child_place, host, out)
        return
    if kind == "TextBlock":
        look = place.text_style
        if _name(element.get("style"), "") == "heading":
            look = host.text_styles["heading"]
        _add(out, host, place, path, "TextBlock", element.get("text", ""), look.over(element))
    elif kind == "RichTextBlock":
        for i, inline in enumerate(element.get("inlines") or []):
            run = {"text": inline} if isinstance(inline, str) else inline
            where = f"{path}.inlines[{i}]"
            look = place.text_style.over(run)
            background = place.background
            if run.get("highlight"):  # the renderer's default highlightColors
                background = over(_HIGHLIGHT[1] if look.subtle else _HIGHLIGHT[0], background)
            _add(out, host, place, where, "TextRun", run.get("text", ""), look, background)
    elif kind == "FactSet":
        for i, fact in enumerate(element.get("facts") or []):
            where = f"{path}.facts[{i}]"
            _add(out, host, place, where, "fact title", fact.get("title", ""), host.fact_title)
            _add(out, host, place, where, "fact value", fact.get("value", ""), host.fact_value)
    elif isinstance(kind, str) and kind.startswith("Input."):
        _walk_input(element, path, place, host, out)
    elif kind == "ActionSet":
        for i, action in enumerate(element.get("actions") or []):
            _walk_action(action, f"{path}.actions[{i}]", place, host, out)
    elif isinstance(kind, str) and kind.startswith("Chart."):
        # Teams draws the chart in its own colours; a 1.5 host draws the fallback: check that.
        _walk(element.get("fallback"), f"{path}.fallback", place, host, out)


def _walk_input(
    element: dict[str, Any], path: str, place: _Place, host: Host, out: list[DrawnText]
) -> None:
    required = bool(element.get("isRequired"))
    if element.get("label"):
        look = host.required_label if required else host.optional_label
        _add(out, host, place, path, "label", element["label"], look)
        if required:
            suffix, color = host.required_mark
            mark = TextLook(color=color)
            _add(out, host, place, path, "required mark", suffix.strip(), mark, host_drawn=True)
    kind = element.get("type")
    if kind == "Input.Toggle":
        _add(out, host, place, path, "toggle title", element.get("title", ""), TextLook())
    elif kind == "Input.ChoiceSet" and (
        element.get("style") == "expanded" or element.get("isMultiSelect")
    ):
        for i, choice in enumerate(element.get("choices") or []):
            title = choice.get("title", "")
            _add(out, host, place, f"{path}.choices[{i}]", "choice", title, TextLook())
    if element.get("errorMessage"):
        message = element["errorMessage"]
        look = host.error_message
        _add(out, host, place, path, "error message", message, look, host_drawn=True)


def _add(
    out: list[DrawnText],
    host: Host,
    place: _Place,
    path: str,
    kind: str,
    text: Any,
    look: TextLook,
    background: RGB | None = None,
    *,
    host_drawn: bool = False,
) -> None:
    text = str(text or "")
    if not text.strip():
        return
    beneath = place.background if background is None else background
    color = look.color if look.color in _COLOR_NAMES else "default"
    default, subtle = host.styles[place.style].foregrounds[color]
    foreground = over(subtle if look.subtle else default, beneath)
    out.append(
        DrawnText(
            path,
            kind,
            text,
            place.style,
            look,
            foreground,
            beneath,
            host.size_px(look.size),
            host.weight_of(look.weight),
            host_drawn,
        )
    )


# What else a reader of any theme needs: labels, error messages, alternative text.


def accessibility_problems(card: dict[str, Any]) -> list[str]:
    """Inputs without a label (a toggle's title counts), required inputs without an
    errorMessage, images without altText."""
    problems = []
    for path, element in _elements(card, ""):
        kind = str(element.get("type", ""))
        if kind.startswith("Input."):
            name = element.get("id", "?")
            # A toggle's title is drawn as the <label> of its checkbox, so it labels it too.
            label = element.get("label") or (element.get("title") if kind == "Input.Toggle" else "")
            if not str(label or "").strip():
                problems.append(f"{path} {kind} {name!r} has no label")
            if element.get("isRequired") and not str(element.get("errorMessage") or "").strip():
                problems.append(f"{path} {kind} {name!r} is required but has no errorMessage")
        elif kind == "Image" and not str(element.get("altText") or "").strip():
            problems.append(f"{path} Image has no altText")
    return problems


def _elements(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "type" in node:
            yield path or "(card)", node
        for key, value in node.items():
            yield from _elements(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _elements(item, f"{path}[{i}]")
