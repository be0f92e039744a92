"""The shapes of Teams' chart elements for Adaptive Cards, as JSON schemas.

Written from Microsoft's "Charts in Adaptive Cards" (learn.microsoft.com, microsoftteams/
platform/task-modules-and-cards/cards/charts-in-adaptive-cards): each element's properties,
and its data points' (bars: x and y; donut and pie slices: legend and value; an optional
color). The Adaptive Cards 1.5 schema knows none of them, so tests/support/card_schema.py
checks each chart here and the card with each chart replaced by its `fallback`. Stricter than
the page in two places: a data point must have both its label and its number (a chart
without them draws nothing), and no property outside the page's list is allowed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft6Validator

COLORS = [
    "good", "warning", "attention", "neutral",
    "categoricalRed", "categoricalPurple", "categoricalLavender", "categoricalBlue",
    "categoricalLightBlue", "categoricalTeal", "categoricalGreen", "categoricalLime",
    "categoricalMarigold",
    *(f"sequential{n}" for n in range(1, 9)),
    "divergingBlue", "divergingLightBlue", "divergingCyan", "divergingTeal", "divergingYellow",
    "divergingPeach", "divergingLightRed", "divergingRed", "divergingMaroon", "divergingGray",
]  # fmt: skip
COLOR_SETS = ["categorical", "sequential", "diverging"]
TARGET_WIDTHS = [
    "VeryNarrow", "Narrow", "Standard", "Wide",
    *(f"{edge}:{width}" for edge in ("atLeast", "atMost")
      for width in ("VeryNarrow", "Narrow", "Standard", "Wide")),
]  # fmt: skip
SPACINGS = ["None", "ExtraSmall", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"]

# What every chart element may carry (the page's common rows).
_COMMON: dict[str, Any] = {
    "type": {"type": "string"},
    "id": {"type": "string"},
    "title": {"type": "string"},
    "colorSet": {"enum": COLOR_SETS},
    # Checked here only as an element; the card check validates it against 1.5 in its place.
    "fallback": {"type": "object", "required": ["type"]},
    "grid.area": {"type": "string"},
    "height": {"enum": ["auto", "stretch"]},
    "horizontalAlignment": {"enum": ["Left", "Center", "Right"]},
    "isVisible": {"type": "boolean"},
    "lang": {"type": "string"},
    "requires": {"type": "object", "additionalProperties": {"type": "string"}},
    "separator": {"type": "boolean"},
    "spacing": {"enum": SPACINGS},
    "targetWidth": {"enum": TARGET_WIDTHS},
}
_BAR_POINT = {
    "type": "object",
    "properties": {
        "x": {"type": ["string", "number"]},
        "y": {"type": "number"},
        "color": {"enum": COLORS},
    },
    "required": ["x", "y"],
    "additionalProperties": False,
}
_SLICE = {
    "type": "object",
    "properties": {
        "legend": {"type": "string"},
        "value": {"type": "number"},
        "color": {"enum": COLORS},
    },
    "required": ["legend", "value"],
    "additionalProperties": False,
}
_AXES = {"xAxisTitle": {"type": "string"}, "yAxisTitle": {"type": "string"}}


def _element(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**_COMMON, **properties, "type": {"const": name}},
        "required": ["type", "data"],
        "additionalProperties": False,
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "Chart.Donut": _element("Chart.Donut", data={"type": "array", "items": _SLICE}),
    "Chart.Pie": _element("Chart.Pie", data={"type": "array", "items": _SLICE}),
    "Chart.VerticalBar": _element(
        "Chart.VerticalBar",
        data={"type": "array", "items": _BAR_POINT},
        color={"enum": COLORS},
        showBarValues={"type": "boolean"},
        **_AXES,
    ),
    "Chart.HorizontalBar": _element(
        "Chart.HorizontalBar",
        data={"type": "array", "items": _BAR_POINT},
        color={"enum": COLORS},
        displayMode={"enum": ["AbsoluteWithAxis", "AbsoluteNoAxis", "PartToWhole"]},
        **_AXES,
    ),
}


@cache
def _validator(chart_type: str) -> Draft6Validator:
    return Draft6Validator(SCHEMAS[chart_type])


def is_chart(node: Any) -> bool:
    return isinstance(node, dict) and str(node.get("type", "")).startswith("Chart.")


def chart_errors(chart: dict[str, Any]) -> list[str]:
    """What is wrong with one chart element (its fallback apart), as 'where: message'."""
    chart_type = str(chart.get("type"))
    if chart_type not in SCHEMAS:
        return [f"{chart_type} is not a chart type these tests know: add its schema here"]
    errors = []
    for error in _validator(chart_type).iter_errors(chart):
        where = "/".join(str(part) for part in error.absolute_path) or "(chart)"
        errors.append(f"{where}: {error.message}")
    if not isinstance(chart.get("fallback"), dict):
        errors.append(
            "fallback: a chart needs a 1.5 element (a Table or a FactSet) to fall back to"
        )
    return errors
