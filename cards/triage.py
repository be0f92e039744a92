"""The triage desk's cards: the shared card per referral (with each admin's own views),
reminders, the weekly digest, the audit listing, and the referrer's and facilitator's news.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.settings import Facilitator, ModelName
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import (
    KIND_LABELS,
    MODEL_LABELS,
    STATUS_LABELS,
    THEME_LABELS,
    URGENCY_LABELS,
    BookingState,
    ReferralKind,
    ReferralStatus,
    Theme,
    Urgency,
)
from bot.scheduling.slots import Slot
from bot.triage.store import OPEN, SCHEDULABLE, Details, TriageView
from cards.binder import render
from cards.verbs import TriageVerb

STATUS_COLORS = {
    ReferralStatus.SUBMITTED: "Accent",
    ReferralStatus.MORE_INFO_REQUESTED: "Warning",
    ReferralStatus.ACCEPTED: "Good",
    ReferralStatus.SCHEDULED: "Good",
    ReferralStatus.DECLINED: "Attention",
    ReferralStatus.WITHDRAWN: "Default",
    ReferralStatus.COMPLETED: "Good",
    ReferralStatus.NOTED_ONE_TO_ONE: "Default",
}
PANELS = ("accept", "ask", "decline", "withdraw", "schedule", "cancel")
CONFIRM = {
    "accept": ("Accept", TriageVerb.ACCEPT),
    "ask": ("Send question", TriageVerb.ASK),
    "decline": ("Decline", TriageVerb.DECLINE),
    "withdraw": ("Close referral", TriageVerb.WITHDRAW),
    "schedule": ("Schedule", TriageVerb.SCHEDULE),
    "cancel": ("Cancel session", TriageVerb.CANCEL),
}
OTHER_TIME = "other"  # the slot choice that means "the date and time typed below"


@dataclass(frozen=True)
class DeskOptions:
    """What the triage forms offer, from settings."""

    facilitators: tuple[Facilitator, ...]
    models: tuple[ModelName, ...]
    signposts: tuple[str, ...]
    # With Graph the bot finds times and books the meeting; without, the admin pastes a link.
    graph: bool = False
    booking_minutes: tuple[tuple[str, int], ...] = ()  # (model id, minutes booked)

    def minutes_for(self, model: str) -> int:
        return dict(self.booking_minutes).get(model, 60)


def when(moment: datetime | None, calendar: WorkingCalendar) -> str:
    if moment is None:
        return ""
    local = calendar.local(moment)
    return f"{local.day} {local:%b %Y %H:%M}"


def label_kind(kind: str, theme: str | None) -> str:
    text = KIND_LABELS.get(ReferralKind(kind), kind)
    if theme:
        text += f" ({THEME_LABELS.get(Theme(theme), theme)})"
    return text


def label_model(model: str, strategy: int | None = None) -> str:
    text = MODEL_LABELS.get(ModelName(model), model)
    return f"{text}, strategy {strategy}" if strategy else text


def facts(view: TriageView, calendar: WorkingCalendar, now: datetime) -> list[dict[str, str]]:
    age = calendar.working_days_between(view.created_at, now)
    rows = [
        ("Kind", label_kind(view.kind, view.theme)),
        ("Model", label_model(view.model, view.rethink_strategy)),
        ("Referrer", f"{view.referrer_name}, {view.referrer_agency}"),
        ("Agencies", ", ".join(view.agencies) or "-"),
        ("Invitees", str(view.invitee_count)),
        ("Manager agreed", "Yes" if view.manager_agreed else "No"),
        ("Lead Professional", "The referrer" if view.referrer_is_lead else "Someone else"),
        ("Urgency", URGENCY_LABELS[Urgency(view.urgency)] if view.urgency else "-"),
        (
            "Received",
            f"{when(view.created_at, calendar)} ({age} working day{'s' if age != 1 else ''} ago)",
        ),
    ]
    if view.facilitator_name:
        rows.append(("Facilitator", view.facilitator_name))
    if view.session_at is not None:
        rows.append(("Session", when(view.session_at, calendar)))
    return [{"title": title, "value": value} for title, value in rows]


def decision_line(view: TriageView, calendar: WorkingCalendar) -> str:
    if view.decided_by_name is None or view.decided_at is None:
        return ""
    verb = {
        ReferralStatus.ACCEPTED: "Accepted",
        ReferralStatus.DECLINED: "Declined",
        ReferralStatus.WITHDRAWN: "Closed",
        ReferralStatus.SCHEDULED: "Scheduled",
        ReferralStatus.MORE_INFO_REQUESTED: "More information asked",
        ReferralStatus.SUBMITTED: "More information asked",
    }.get(view.status, "Updated")
    line = f"{verb} by {view.decided_by_name}, {when(view.decided_at, calendar)}."
    if view.status is ReferralStatus.DECLINED and view.signpost:
        line += f" Signposted to: {view.signpost}"
    return line


def question_line(view: TriageView, calendar: WorkingCalendar) -> str:
    if view.last_answer_at is not None and (
        view.last_question_at is None or view.last_answer_at >= view.last_question_at
    ):
        return (
            f"The referrer answered on {when(view.last_answer_at, calendar)}: "
            "press Details to read it."
        )
    if view.status is ReferralStatus.MORE_INFO_REQUESTED:
        return "Waiting for the referrer's answer."
    return ""


def triage_card(
    view: TriageView,
    calendar: WorkingCalendar,
    now: datetime,
    options: DeskOptions,
    *,
    details: Details | None = None,
    panel: str | None = None,
    notice: str = "",
    notice_style: str = "warning",
) -> dict[str, Any]:
    """The shared card (no details, no panel), or one admin's own view of it."""
    return render(
        "triage",
        {
            "reference": view.reference,
            "status": STATUS_LABELS[view.status],
            "status_color": STATUS_COLORS[view.status],
            "decision": decision_line(view, calendar),
            "question_note": question_line(view, calendar),
            "facts": facts(view, calendar, now),
            "notice": notice,
            "notice_style": notice_style,
            "details": _details(details, calendar) if details else None,
            "form": {name: panel == name for name in PANELS},
            "models": [{"title": MODEL_LABELS[m], "value": m.value} for m in options.models],
            "model_value": view.model,
            "facilitators": [
                {"title": f.name, "value": f.aad_object_id} for f in options.facilitators
            ],
            "signposts": [
                {"title": text, "value": str(i)} for i, text in enumerate(options.signposts)
            ],
            "calendar_lines": calendar_lines(view, calendar),
            "schedule": _schedule_form(view, calendar, options),
            "schedule_day": _local_day(view.session_at, calendar),
            "schedule_time": _local_time(view.session_at, calendar),
            "schedule_link": view.meeting_join_url or "",
            "zone": str(calendar.zone),
            "actions": _actions(view, details is not None, panel, options.graph),
        },
    )


def found_search(
    slots: list[Slot], checked: int, unreadable: int, facilitator_checked: bool = True
) -> dict[str, Any]:
    """A finished search for times, as stored on the referral (`slot_search`)."""
    return {
        "state": "found",
        "slots": [
            {
                "start": slot.start.isoformat(),
                "end": slot.end.isoformat(),
                "free": len(slot.free),
                "of": len(slot.free) + len(slot.busy),
            }
            for slot in slots
        ],
        "checked": checked,
        "unreadable": unreadable,
        "facilitator_checked": facilitator_checked,
    }


def offered_slots(view: TriageView) -> list[dict[str, Any]]:
    """The times the last search found, if it found any."""
    search = view.slot_search or {}
    return list(search.get("slots") or []) if search.get("state") == "found" else []


def _slot_text(slot: dict[str, Any], calendar: WorkingCalendar) -> str:
    start = calendar.local(datetime.fromisoformat(slot["start"]))
    end = calendar.local(datetime.fromisoformat(slot["end"]))
    return (
        f"{start:%a} {start.day} {start:%b} {start:%H:%M}-{end:%H:%M} "
        f"({slot['free']} of {slot['of']} free)"
    )


def calendar_lines(view: TriageView, calendar: WorkingCalendar) -> list[dict[str, str]]:
    """What the bot is doing with Outlook for this referral, in a line or two."""
    lines: list[tuple[str, str]] = []
    search = view.slot_search or {}
    state = search.get("state") if view.status in SCHEDULABLE else None
    if state == "searching":
        lines.append(("Looking for free times in the calendars\u2026", "Accent"))
    elif state == "failed":
        lines.append((f"Could not look for times: {search.get('problem', '')}", "Attention"))
    elif state == "found":
        slots = search.get("slots") or []
        if slots:
            lines.append(("Free times found (press Schedule to book one):", "Default"))
            lines += [(f"\u2022 {_slot_text(slot, calendar)}", "Default") for slot in slots]
        else:
            lines.append(
                ("No time in the search window suits the facilitator: give one by hand.", "Warning")
            )
        if not search.get("facilitator_checked", True):
            lines.append(
                (
                    f"{view.facilitator_name or 'The facilitator'}'s calendar was not checked "
                    "(no email for them in the facilitator pool, or it could not be read): "
                    "ask them before booking.",
                    "Warning",
                )
            )
        if search.get("unreadable"):
            count = int(search["unreadable"])
            lines.append(
                (
                    f"{count} calendar{'s' if count != 1 else ''} could not be read (outside "
                    "the organisation, or no mailbox): not counted as free.",
                    "Default",
                )
            )
    if view.booking_state is BookingState.BOOKING:
        lines.append(("Booking the Teams meeting in Outlook\u2026", "Accent"))
    elif view.booking_state is BookingState.CANCELLING:
        lines.append(("Cancelling the Teams meeting in Outlook\u2026", "Accent"))
    elif view.booking_state is BookingState.FAILED:
        lines.append((f"The meeting is not booked: {view.booking_problem}", "Attention"))
    elif view.booking_state is BookingState.BOOKED:
        joined = " I am in its chat." if view.meeting_app_installed else ""
        lines.append((f"Teams meeting booked in Outlook.{joined}", "Good"))
        if view.booking_problem:  # booked, but the bot could not join the meeting's chat
            lines.append((f"{view.booking_problem} Add me to the meeting by hand.", "Warning"))
    return [{"text": text, "color": color} for text, color in lines]


def _schedule_form(
    view: TriageView, calendar: WorkingCalendar, options: DeskOptions
) -> dict[str, Any]:
    slots = offered_slots(view) if options.graph else []
    # The value is the slot's start, so a press on a card drawn before another search
    # can only book a time that admin saw.
    choices = [{"title": _slot_text(slot, calendar), "value": slot["start"]} for slot in slots]
    if choices:
        choices.append({"title": "Another time (give it below)", "value": OTHER_TIME})
    return {
        "by_hand": not options.graph,
        "with_graph": options.graph,
        "minutes": options.minutes_for(view.model),
        "has_slots": bool(choices),
        "slots": choices,
        "day_label": "Another date" if choices else "Date",
        "time_label": f"Start time ({calendar.zone})",
        "link_label": (
            "Or: the join link of a meeting you booked yourself"
            if options.graph
            else "Teams meeting join link"
        ),
    }


def _local_day(moment: datetime | None, calendar: WorkingCalendar) -> str:
    return f"{calendar.local(moment):%Y-%m-%d}" if moment is not None else ""


def _local_time(moment: datetime | None, calendar: WorkingCalendar) -> str:
    return f"{calendar.local(moment):%H:%M}" if moment is not None else "13:00"


def _details(details: Details, calendar: WorkingCalendar) -> dict[str, Any]:
    return {
        "what_is_stuck": details.narrative.what_is_stuck,
        "help_wanted": details.narrative.help_wanted,
        "questions": [
            {
                "asked_by": qa.asked_by,
                "asked_at": when(qa.asked_at, calendar),
                "question": qa.question,
                "answer": qa.answer if qa.answer is not None else "(not answered yet)",
            }
            for qa in details.questions
        ],
        "note": details.decision_note or "",
    }


def _execute(
    title: str, verb: TriageVerb, view: TriageView, style: str = "", secondary: bool = False
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb.value,
        "data": {"reference": view.reference, "version": view.version},
    }
    if style:
        action["style"] = style
    if secondary:
        action["mode"] = "secondary"  # in the card's "..." menu: a rarer choice
    return action


def _actions(
    view: TriageView, showing_details: bool, panel: str | None, graph: bool
) -> list[dict[str, Any]]:
    if panel in CONFIRM:
        title, verb = CONFIRM[panel]
        if panel == "schedule" and graph:
            title = "Book"
        return [
            _execute(title, verb, view, "positive" if panel == "accept" else ""),
            _execute("Back", TriageVerb.HIDE, view),
        ]
    # Four short titles fit a Teams card's width; the rarest choice goes in the "..." menu.
    actions = [
        _execute("Hide details", TriageVerb.HIDE, view)
        if showing_details
        else _execute("Details", TriageVerb.DETAILS, view)
    ]
    if view.status in OPEN:
        actions += [
            _execute("Accept", TriageVerb.ACCEPT_FORM, view, "positive"),
            _execute("Ask referrer", TriageVerb.ASK_FORM, view),
            _execute("Decline", TriageVerb.DECLINE_FORM, view, "destructive"),
            _execute("Withdrawn or duplicate", TriageVerb.WITHDRAW_FORM, view, secondary=True),
        ]
    elif view.status in (ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED):
        title = "Schedule" if view.status is ReferralStatus.ACCEPTED else "Reschedule"
        actions.append(_execute(title, TriageVerb.SCHEDULE_FORM, view, "positive"))
        if view.booking_state is BookingState.FAILED:
            actions.append(_execute("Try booking again", TriageVerb.RETRY_BOOKING, view))
        elif graph:
            actions.append(_execute("Find times", TriageVerb.FIND_TIMES, view))
        if view.status is ReferralStatus.SCHEDULED:
            actions.append(_execute("Cancel session", TriageVerb.CANCEL_FORM, view, secondary=True))
        actions.append(
            _execute("Withdrawn or duplicate", TriageVerb.WITHDRAW_FORM, view, secondary=True)
        )
    return actions


# --- messages to people ------------------------------------------------------------------


def question_card(
    reference: str, question_id: int, question: str, *, answer: str = "", problem: str = ""
) -> dict[str, Any]:
    return render(
        "question",
        {
            "reference": reference,
            "question_id": str(question_id),
            "question": question,
            "answer": answer,
            "problem": problem,
        },
    )


def status_card(
    headline: str, color: str, reference: str, status: ReferralStatus, lines: list[str]
) -> dict[str, Any]:
    return render(
        "status_update",
        {
            "headline": headline,
            "color": color,
            "facts": [
                {"title": "Reference", "value": reference},
                {"title": "Status", "value": STATUS_LABELS[status]},
            ],
            "lines": lines,
        },
    )


def notice_card(
    headline: str,
    lines: list[str],
    facts: list[dict[str, str]] | None = None,
    color: str = "Default",
) -> dict[str, Any]:
    return render(
        "notice", {"headline": headline, "lines": lines, "facts": facts or [], "color": color}
    )
