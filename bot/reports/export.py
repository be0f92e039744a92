"""The report as CSV: one row per figure (section, item, value, note), the same figures as
the card; a withheld feedback figure is a blank value with a note saying why."""

from __future__ import annotations

import csv
import io

from bot.reports.figures import SMALLEST, Figures, Measure, ModelFeedback, Spread, Tally

HEADER = ("Section", "Item", "Value", "Note")
WITHHELD = f"fewer than {SMALLEST} answers: not shown, so no one's answer can be singled out"
# A spreadsheet runs a cell that starts with one of these as a formula; agencies are typed
# freely by practitioners, so text cells are written with a leading apostrophe instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Row = tuple[str, str, str, str]


def csv_of(figures: Figures) -> bytes:
    """UTF-8 with a byte order mark, so Excel reads the accents in agency names."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(tuple(_safe(cell) for cell in row) for row in rows_of(figures))
    return text.getvalue().encode("utf-8-sig")


def file_name(figures: Figures) -> str:
    period = figures.period
    return f"partnership-figures-{period.first.isoformat()}-to-{period.last.isoformat()}.csv"


def rows_of(figures: Figures) -> list[Row]:
    period = figures.period
    rows: list[Row] = [
        ("Period", "From", period.first.isoformat(), "the first day counted"),
        ("Period", "To", period.last.isoformat(), "the last day counted"),
        ("Referrals", "Received", str(figures.received), "referrals made in the period"),
        ("Referrals", "Declined", str(figures.declined), "of those received, declined"),
        ("Referrals", "Withdrawn", str(figures.withdrawn), "of those received, withdrawn"),
    ]
    rows += _tallies("Referrals by month", figures.by_month)
    rows += _tallies("Referrals by kind", figures.by_kind)
    rows += _tallies("Referrals by model", figures.by_model)
    rows += _tallies("Referrals by referrer's agency", figures.by_agency)
    rows += _spread("Days from referral to decision", figures.to_decision, "decided")
    rows += _spread("Days from referral to session", figures.to_session, "held")
    rows.append(
        ("Sessions held", "Total", str(figures.sessions), "sessions that started and ended")
    )
    rows += _tallies("Sessions held by model", figures.sessions_by_model)
    rows.append(("Attendance", "Total", str(figures.attendance), "people who took part"))
    rows += _tallies("Attendance by agency", figures.attendance_by_agency)
    rows += _by_model("Feedback after the session", figures.feedback)
    rate = figures.follow_up
    section = "Three months on"
    rows.append((section, "Asked", str(rate.asked), "asked in the period how it changed practice"))
    if 0 < rate.answered < SMALLEST:  # as the card: a count this small is not shown either
        rows.append((section, "Answered", "", WITHHELD))
    else:
        rows.append((section, "Answered", str(rate.answered), ""))
    rows.append(
        (section, "Response rate (%)", *_value(rate.value, share=True, answers=rate.answered))
    )
    rows += _by_model("Three months on", figures.follow_up_feedback)
    return rows


def _by_model(heading: str, feedback: list[ModelFeedback]) -> list[Row]:
    rows: list[Row] = []
    for model in feedback:
        section = f"{heading}: {model.model}"
        rows.append((section, "Responses", str(model.responses), ""))
        rows += [_measure(section, measure) for measure in model.measures]
    return rows


def _tallies(section: str, tallies: list[Tally]) -> list[Row]:
    return [(section, tally.label, str(tally.count), "") for tally in tallies]


def _spread(section: str, spread: Spread, what: str) -> list[Row]:
    note = f"of {spread.count} referrals {what}"
    return [
        (section, "Median", _number(spread.median), note),
        (section, "90th percentile", _number(spread.p90), note),
    ]


def _measure(section: str, measure: Measure) -> Row:
    item = f"{measure.label} ({'% yes' if measure.share else 'mean of 1 to 5'})"
    return (section, item, *_value(measure.value, measure.share, measure.answers))


def _value(value: float | None, share: bool, answers: int) -> tuple[str, str]:
    if value is None:
        return "", WITHHELD
    shown = f"{100 * value:.0f}" if share else f"{value:.1f}"
    return shown, f"from {answers} answers"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _safe(cell: str) -> str:
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell
