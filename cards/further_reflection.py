"""The further reflection card on the triage desk: which session, how many took part, what
to do, and how it went. The reference only, never case detail: the desk is a shared chat."""

from __future__ import annotations

from typing import Any

from bot.core.working_days import WorkingCalendar
from bot.further_reflection.view import MEETING_MINUTES, RULES, FurtherView, Rule, State
from cards.binder import render
from cards.common import long_when, when
from cards.triage import LINE_LOOKS
from cards.verbs import FurtherVerb

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
NOT_BOOKED = (
    "The meeting is not booked: Outlook did not let me book it. Press Try booking again in a "
    "few minutes. If it fails again, send the details below to your IT team, or book it "
    "yourself in Outlook and give its date, time and join link with Booked it myself."
)
STATUS = {
    State.WAITING: ("Waiting to be booked", "Accent"),
    State.BOOKING: ("Booking the Teams meeting in Outlook\u2026", "Accent"),
    State.FAILED: ("Not booked yet", "Accent"),
    State.BOOKED: ("Booked", "Default"),
    State.NOT_NEEDED: ("Not needed", "Default"),
}


def _months(n: int) -> str:
    """ "three months" """
    words = NUMBERS[n] if n < len(NUMBERS) else str(n)
    return f"{words} month{'' if n == 1 else 's'}"


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def _title(view: FurtherView, calendar: WorkingCalendar) -> str:
    """ "Further reflection for RP-2026-0003 (Think Space, held 24 November 2026)" """
    held = ""
    if view.held_at is not None:
        local = calendar.local(view.held_at)
        held = f", held {local.day} {local:%B %Y}"
    return f"Further reflection for {view.reference} ({view.model}{held})"


def _decision(view: FurtherView, calendar: WorkingCalendar) -> str:
    who = view.decided_by_name or "someone"
    at = when(view.decided_at, calendar)
    if view.state is State.BOOKED and view.in_outlook:
        return f"Booked in Outlook, asked for by {who}, {at}."
    if view.state is State.BOOKED:
        return f"Booked by {who}, who gave its date and join link, {at}."
    if view.state is State.NOT_NEEDED:
        return f"Marked not needed by {who}, {at}."
    if view.state is State.BOOKING:
        return f"Asked for by {who}, {at}."
    return ""


def _lines(view: FurtherView) -> list[dict[str, str]]:
    """How the booking went, when Graph had a say; what Graph said is for IT, under a toggle."""
    lines: list[tuple[str, str, str]] = []
    if view.state is State.FAILED:
        lines.append((NOT_BOOKED, "Attention", view.problem or ""))
    elif view.state is State.BOOKED and view.in_outlook:
        lines.append(("The people invited have the invitation, with its join link.", "Good", ""))
    return [
        {"text": text, **LINE_LOOKS[color], "details": details, "details_id": f"it-details-{i}"}
        for i, (text, color, details) in enumerate(lines)
    ]


def _steps(view: FurtherView, graph: bool) -> list[str]:
    if graph and view.invitable:
        return [
            f"Book in Outlook: give a date and a start time, and I book a {MEETING_MINUTES}-"
            f"minute Teams meeting for the {_people(view.invitable)} I know the email of: "
            "the referrer, the facilitator and the people invited (the invitation carries the "
            "reference only, never case details).",
            "Or book it yourself, then give its date, time and join link and press Booked it "
            "myself. Not needed: if the practitioners will not meet again.",
        ]
    nobody = (
        "I do not know the email of anyone who took part, so I cannot book it in Outlook. "
        if graph
        else ""
    )
    return [
        f"{nobody}Book a Teams meeting in Outlook with the practitioners (the invitation "
        "carries the reference only, never case details), then give its date, time and join "
        "link here and press Booked it myself.",
        "Not needed: if the practitioners will not meet again.",
    ]


def _execute(title: str, rule: Rule, view: FurtherView, inputs: bool = True) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": title,
        "verb": rule.verb.value,
        "data": {"session": view.session_id, "version": view.version},
    }
    if rule.style:
        action["style"] = rule.style
    if not inputs:
        action["associatedInputs"] = "none"
    return action


def _actions(view: FurtherView, graph: bool) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    if view.state in RULES[FurtherVerb.BY_HAND].allowed_from:
        book = RULES[FurtherVerb.BOOK]
        if graph and view.invitable:
            title = "Try booking again" if view.state is State.FAILED else book.button
            actions.append(_execute(title, book, view))
        by_hand = RULES[FurtherVerb.BY_HAND]
        actions.append(_execute(by_hand.button, by_hand, view))
        not_needed = RULES[FurtherVerb.NOT_NEEDED]
        actions.append(_execute(not_needed.button, not_needed, view, inputs=False))
    if view.state is State.BOOKED and view.join_url:
        actions.append({"type": "Action.OpenUrl", "title": "Join", "url": view.join_url})
    return actions


def further_reflection_card(
    view: FurtherView,
    calendar: WorkingCalendar,
    *,
    graph: bool,
    notice: str = "",
    notice_style: str = "warning",
) -> dict[str, Any]:
    """The shared card (no notice), or what the admin who pressed sees (with one)."""
    status, color = STATUS[view.state]
    if view.state is State.BOOKED and view.session_at is not None:
        status = f"Booked for {long_when(view.session_at, calendar)}"
    moment = view.session_at
    return render(
        "further_reflection",
        {
            "title": _title(view, calendar),
            "status": status,
            "status_color": color,
            "decision": _decision(view, calendar),
            "why": f"The {view.model} model invites each practitioner to a further reflection "
            f"meeting {_months(view.months)} on: how the session felt for them, and how it has "
            "changed their practice.",
            "facts": [
                {"title": "Took part", "value": _people(view.participants)},
                {"title": "Due", "value": f"{view.due_on.day} {view.due_on:%B %Y}"},
            ],
            "lines": _lines(view),
            "form": {
                "shown": view.state in RULES[FurtherVerb.BY_HAND].allowed_from,
                "steps": _steps(view, graph),
                "day": f"{calendar.local(moment):%Y-%m-%d}" if moment else "",
                "time": f"{calendar.local(moment):%H:%M}" if moment else "13:00",
                "time_label": f"Start time ({calendar.zone})",
                "link_label": "Join link (if you booked it yourself)"
                if graph and view.invitable
                else "Teams meeting join link",
            },
            "notice": notice,
            "notice_style": notice_style,
            "actions": _actions(view, graph),
        },
    )
