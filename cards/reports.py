"""The report card on the triage desk: the partnership's figures for a period, with Teams'
chart elements where a picture reads faster, each with a FactSet of the same numbers as its
1.5 `fallback` (tests/support/card_schema.py checks both)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.working_days import WorkingCalendar
from bot.reports.figures import SMALLEST, Figures, Measure, ModelFeedback, Rate, Spread, Tally
from cards.binder import render
from cards.common import when
from cards.verbs import ReportVerb

# Bars beyond these are summed into one "Other" bar: the CSV has them all.
MOST_BARS = 8
WITHHELD = f"fewer than {SMALLEST} answers"
WITHHELD_RULE = (
    f"A figure from fewer than {SMALLEST} people's answers is not shown, so nobody's answer "
    "can be singled out."
)


def report_card(figures: Figures, calendar: WorkingCalendar, now: datetime) -> dict[str, Any]:
    agencies = _top(figures.by_agency, "Other agencies")
    attendance = _top(figures.attendance_by_agency, "Other agencies")
    return render(
        "report",
        {
            "period": figures.period.words(),
            "counted_at": when(now, calendar),
            "time_zone": str(calendar.zone),
            "headline": [
                {"value": str(figures.received), "title": "referrals received"},
                {"value": str(figures.sessions), "title": "sessions held"},
                {"value": str(figures.attendance), "title": "people took part"},
            ],
            "no_referrals": figures.received == 0,
            "months": _chart(figures.by_month if figures.received else []),
            "kinds": _chart(figures.by_kind),
            "models": _chart(figures.by_model),
            "agencies": _chart(agencies),
            "outcomes": [
                {"title": "Declined", "value": _of_received(figures.declined, figures)},
                {"title": "Withdrawn", "value": _of_received(figures.withdrawn, figures)},
            ],
            "times": [
                {"title": "Referral to decision", "value": _spread(figures.to_decision, "decided")},
                {"title": "Referral to session", "value": _spread(figures.to_session, "held")},
            ],
            "no_sessions": figures.sessions == 0,
            "sessions": _chart(figures.sessions_by_model),
            "attendance": _chart(attendance),
            "withheld_rule": WITHHELD_RULE,
            "no_feedback": not figures.feedback,
            "feedback": _by_model(figures.feedback),
            "follow_up": _follow_up(figures.follow_up),
            "follow_up_feedback": _by_model(figures.follow_up_feedback),
            "download_verb": ReportVerb.DOWNLOAD.value,
            "token": figures.period.token(),
        },
    )


def _by_model(feedback: list[ModelFeedback]) -> list[dict[str, Any]]:
    return [
        {
            "title": f"{model.model}: {_people(model.responses, 'response')}",
            "facts": [
                {"title": measure.label, "value": _measure(measure)} for measure in model.measures
            ],
        }
        for model in feedback
    ]


def _chart(tallies: list[Tally]) -> dict[str, Any]:
    """One set of numbers, as a chart's data (bars or slices) and as its fallback's facts."""
    return {
        "shown": bool(tallies),
        "bars": [{"x": tally.label, "y": tally.count} for tally in tallies],
        "slices": [{"legend": tally.label, "value": tally.count} for tally in tallies],
        "facts": [{"title": tally.label, "value": str(tally.count)} for tally in tallies],
    }


def _top(tallies: list[Tally], other: str) -> list[Tally]:
    if len(tallies) <= MOST_BARS:
        return tallies
    rest = tallies[MOST_BARS - 1 :]
    return [*tallies[: MOST_BARS - 1], Tally(f"{other} ({len(rest)})", sum(t.count for t in rest))]


def _of_received(count: int, figures: Figures) -> str:
    return f"{count} of the {figures.received} received"


def _spread(spread: Spread, what: str) -> str:
    if spread.median is None or spread.p90 is None:
        return f"none {what} yet"
    return (
        f"median {spread.median:.1f} days; 9 in 10 within {spread.p90:.1f} days "
        f"({_people(spread.count, 'referral')} {what})"
    )


def _measure(measure: Measure) -> str:
    if measure.value is None:
        return WITHHELD
    if measure.share:
        return f"{100 * measure.value:.0f}% said yes ({measure.answers} answers)"
    return f"{measure.value:.1f} out of 5 ({measure.answers} answers)"


def _follow_up(rate: Rate) -> list[dict[str, str]]:
    if rate.value is None:
        answered = WITHHELD if rate.answered else "none yet"
        return [
            {"title": "Asked", "value": str(rate.asked)},
            {"title": "Answered", "value": answered},
        ]
    return [
        {"title": "Asked", "value": str(rate.asked)},
        {"title": "Answered", "value": f"{rate.answered} ({100 * rate.value:.0f}%)"},
    ]


def _people(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
