"""The triage desk's cards: the shared card per referral (with each admin's own views),
reminders, the weekly digest, the audit listing, and the referrer's and facilitator's news.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.protocols import ModelCatalogue
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import (
    KIND_LABELS,
    STATUS_LABELS,
    THEME_LABELS,
    URGENCY_LABELS,
    BookingState,
    ReferralKind,
    ReferralStatus,
    Theme,
    Urgency,
)
from bot.triage.changes import Change
from bot.triage.decisions import OTHER_TIME, RULES, DecisionRule
from bot.triage.options import DeskOptions
from bot.triage.views import (
    SCHEDULABLE,
    Details,
    DigestFigures,
    Recipient,
    TriageView,
    offered_slots,
)
from cards.binder import render
from cards.common import long_when, notice_card, when
from cards.verbs import TriageVerb

# Teams' good, warning and attention text colours are unreadable in one theme or another
# (tests/test_contrast.py): a status is its words, in accent while it waits on someone.
STATUS_COLORS = {
    ReferralStatus.SUBMITTED: "Accent",
    ReferralStatus.MORE_INFO_REQUESTED: "Accent",
    ReferralStatus.ACCEPTED: "Default",
    ReferralStatus.SCHEDULED: "Default",
    ReferralStatus.DECLINED: "Default",
    ReferralStatus.WITHDRAWN: "Default",
    ReferralStatus.COMPLETED: "Default",
    ReferralStatus.NOTED_ONE_TO_ONE: "Default",
}
# A calendar line's tone, drawn readably in every Teams theme: the container's background
# carries good, warning and attention news, the text stays in the default colour.
LINE_LOOKS = {
    "Default": {"color": "Default", "style": "default"},
    "Accent": {"color": "Accent", "style": "default"},
    "Good": {"color": "Default", "style": "good"},
    "Warning": {"color": "Default", "style": "warning"},
    "Attention": {"color": "Default", "style": "attention"},
}


def label_kind(kind: str, theme: str | None) -> str:
    text = KIND_LABELS.get(ReferralKind(kind), kind)
    if theme:
        text += f" ({THEME_LABELS.get(Theme(theme), theme)})"
    return text


def label_model(model: str, models: ModelCatalogue, strategy: int | None = None) -> str:
    text = models.label(model)
    return f"{text}, strategy {strategy}" if strategy else text


def facts(
    view: TriageView, calendar: WorkingCalendar, now: datetime, models: ModelCatalogue
) -> list[dict[str, str]]:
    age = calendar.working_days_between(view.created_at, now)
    rows = [
        ("Kind", label_kind(view.kind, view.theme)),
        ("Model", label_model(view.model, models, view.rethink_strategy)),
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


# The statuses an admin's decision leaves: "Alex Admin made it ..." is true of these.
DECIDED = frozenset(rule.new_status for rule in RULES.values())


def moved_on_notice(view: TriageView, calendar: WorkingCalendar) -> str:
    """Why a press changed nothing: the referral is not where the card showed it, in the
    words the card uses for where it is now."""
    if view.status is ReferralStatus.SUBMITTED and view.last_answer_at is not None:
        return "The referrer has answered since this card was drawn: here it is now."
    label = f"\u201c{STATUS_LABELS[view.status]}\u201d"
    if view.status in DECIDED and view.decided_by_name and view.decided_at is not None:
        now = f"{view.decided_by_name} made it {label} on {when(view.decided_at, calendar)}"
    else:
        now = f"it is now {label}"
    return (
        f"This referral has moved on: {now}. Nothing was changed by your press; here is the "
        "card as it is now."
    )


def answered_card(
    view: TriageView,
    rule: DecisionRule,
    change: Change,
    told: str,
    calendar: WorkingCalendar,
    *,
    told_style: str = "good",
    app_link: str = "",
) -> dict[str, Any]:
    """What replaces an answered panel for the admin who answered it: a record of the
    decision, with no buttons (and whom the bot cannot reach, which `told` refers to). The
    shared card is brought up to date for everyone (the outbox updates it in place) with the
    buttons for what comes next."""
    who = view.decided_by_name or "you"
    record = f"{rule.record} by {who}, {when(view.decided_at, calendar)}"
    if change.summary:
        record += f": {change.summary}"
    return render(
        "triage_answered",
        {
            "reference": view.reference,
            "status": STATUS_LABELS[view.status],
            "record": record if record.endswith((".", "!", "?")) else f"{record}.",
            "told": told,
            "told_style": told_style,
            "reach": reach(view, calendar, app_link),
        },
    )


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
            "facts": facts(view, calendar, now, options.models),
            "notice": notice,
            "notice_style": notice_style,
            "details": _details(details, calendar) if details else None,
            "form": {rule.panel: panel == rule.panel for rule in RULES.values()},
            "models": [{"title": m.label, "value": m.id} for m in options.models.offered],
            "model_value": view.model,
            "facilitators": [
                {"title": f.name, "value": f.aad_object_id} for f in options.facilitators
            ],
            "signposts": [
                {"title": text, "value": str(i)} for i, text in enumerate(options.signposts)
            ],
            "calendar_lines": calendar_lines(view, calendar),
            "reach": reach(view, calendar, options.app_install_link),
            "schedule": _schedule_form(view, calendar, options),
            "schedule_day": _local_day(view.session_at, calendar),
            "schedule_time": _local_time(view.session_at, calendar),
            "schedule_link": view.meeting_join_url or "",
            "zone": str(calendar.zone),
            "actions": _actions(view, details is not None, panel, options.graph),
        },
    )


def _slot_text(slot: dict[str, Any], calendar: WorkingCalendar) -> str:
    start = calendar.local(datetime.fromisoformat(slot["start"]))
    end = calendar.local(datetime.fromisoformat(slot["end"]))
    return (
        f"{start:%a} {start.day} {start:%b} {start:%H:%M}-{end:%H:%M} "
        f"({slot['free']} of {slot['of']} free)"
    )


SEARCH_FAILED = (
    "I could not look for free times in the calendars. Press Find times to try again in a few "
    "minutes; if it fails again, send the details below to your IT team, or give a time "
    "yourself with Schedule."
)
NOT_BOOKED = (
    "The Teams meeting is not booked: Outlook did not let me book it. Press Try booking again "
    "in a few minutes. If it fails again, send the details below to your IT team, or book the "
    "meeting yourself in Outlook and give its join link with Reschedule."
)
NOT_UPDATED = (
    "I could not change the Teams meeting in Outlook, so the invitation may still show the "
    "old details. Press Try again in a few minutes; if it fails again, change or cancel it "
    "yourself in Outlook and send the details below to your IT team."
)
NOT_CANCELLED = (
    "I could not cancel the Teams meeting in Outlook, so the people invited may still have it "
    "in their calendars. {what_to_do} cancel it yourself in Outlook and send the details below "
    "to your IT team."
)
CHAT_NOT_JOINED = (
    "I could not join the meeting's chat: add me to the meeting yourself (Apps in the meeting, "
    "or @mention me in its chat) so I can run the session there. The details below are for "
    "your IT team."
)


def _line(text: str, color: str, details: str = "") -> tuple[str, str, str]:
    return text, color, details


def _booking_failure(view: TriageView) -> str:
    """What to do when the calendar job failed (the job stored what Graph said)."""
    if view.session_at is None:  # the failure was cancelling the meeting
        retry = view.status in SCHEDULABLE  # Try again is on the card
        what_to_do = "Press Try again in a few minutes; if it fails again," if retry else "Please"
        return NOT_CANCELLED.format(what_to_do=what_to_do)
    return NOT_UPDATED if view.meeting_join_url else NOT_BOOKED


def retry_title(view: TriageView) -> str:
    """The button after a failed calendar job, as the card's advice names it."""
    return "Try booking again" if _booking_failure(view) == NOT_BOOKED else "Try again"


def calendar_lines(view: TriageView, calendar: WorkingCalendar) -> list[dict[str, str]]:
    """What the bot is doing with Outlook for this referral, in a line or two. What Graph said
    when it failed is for IT, not for business support: it sits under a toggle."""
    lines: list[tuple[str, str, str]] = []
    search = view.slot_search or {}
    state = search.get("state") if view.status in SCHEDULABLE else None
    if state == "searching":
        lines.append(_line("Looking for free times in the calendars\u2026", "Accent"))
    elif state == "failed":
        lines.append(_line(SEARCH_FAILED, "Attention", str(search.get("problem", ""))))
    elif state == "found":
        slots = search.get("slots") or []
        if slots:
            lines.append(_line("Free times found (press Schedule to book one):", "Default"))
            lines += [_line(f"\u2022 {_slot_text(slot, calendar)}", "Default") for slot in slots]
        else:
            lines.append(
                _line(
                    "No time in the search window suits the facilitator: give one by hand.",
                    "Warning",
                )
            )
        if not search.get("facilitator_checked", True):
            lines.append(
                _line(
                    f"{view.facilitator_name or 'The facilitator'}'s calendar was not checked "
                    "(no email for them in the facilitator pool, or it could not be read): "
                    "ask them before booking.",
                    "Warning",
                )
            )
        if search.get("unreadable"):
            count = int(search["unreadable"])
            lines.append(
                _line(
                    f"{count} calendar{'s' if count != 1 else ''} could not be read (outside "
                    "the organisation, or no mailbox): not counted as free.",
                    "Default",
                )
            )
    if view.booking_state is BookingState.BOOKING:
        lines.append(_line("Booking the Teams meeting in Outlook\u2026", "Accent"))
    elif view.booking_state is BookingState.CANCELLING:
        lines.append(_line("Cancelling the Teams meeting in Outlook\u2026", "Accent"))
    elif view.booking_state is BookingState.FAILED:
        lines.append(_line(_booking_failure(view), "Attention", view.booking_problem or ""))
    elif view.booking_state is BookingState.BOOKED:
        joined = " I am in its chat." if view.meeting_app_installed else ""
        lines.append(_line(f"Teams meeting booked in Outlook.{joined}", "Good"))
        if view.booking_problem:  # booked, but the bot could not join the meeting's chat
            lines.append(_line(CHAT_NOT_JOINED, "Warning", view.booking_problem))
    return [
        {"text": text, **LINE_LOOKS[color], "details": details, "details_id": f"it-details-{i}"}
        for i, (text, color, details) in enumerate(lines)
    ]


RECIPIENT_LABELS = {Recipient.FACILITATOR: "the facilitator", Recipient.INVITEE: "an invitee"}


def reach(view: TriageView, calendar: WorkingCalendar, app_link: str) -> dict[str, Any]:
    """Whom messages about the referral could not reach in Teams, and what to do about it."""
    lines = []
    for person in view.unreachable:
        who = f"{person.name}, {RECIPIENT_LABELS[person.recipient]},"
        if person.next_try_at is not None:
            lines.append(
                f"I cannot reach {who} in Teams: they do not have the app. "
                f"I will try again on {when(person.next_try_at, calendar)}."
            )
        else:
            lines.append(
                f"I could not reach {who} in Teams and have stopped trying: please let them "
                "know yourself."
            )
    how = f", with this link: [{app_link}]({app_link})" if app_link else " (Apps, then search)"
    return {
        "shown": bool(lines),
        "lines": [{"text": line} for line in lines],
        "advice": f"Ask them to add the app in Teams{how}. Then I can reach them.",
    }


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
        "answers": [{"title": label, "value": value} for label, value in details.further_answers],
    }


def _execute(
    title: str, verb: str, view: TriageView, style: str = "", secondary: bool = False
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": {"reference": view.reference, "version": view.version},
    }
    if style:
        action["style"] = style
    if secondary:
        action["mode"] = "secondary"  # in the card's "..." menu: a rarer choice
    return action


def _open_button(rule: DecisionRule, view: TriageView) -> dict[str, Any]:
    title = rule.button_title(view.status)
    return _execute(title, rule.open_verb, view, rule.style, rule.secondary)


def _actions(
    view: TriageView, showing_details: bool, panel: str | None, graph: bool
) -> list[dict[str, Any]]:
    open_panel = next((rule for rule in RULES.values() if rule.panel == panel), None)
    if open_panel is not None:
        confirm = open_panel.confirm_title(graph)
        return [
            _execute(confirm, open_panel.confirm_verb, view, open_panel.confirm_style),
            _execute("Back", TriageVerb.HIDE, view),
        ]
    # Four short titles fit a Teams card's width; the rarer choices go in the "..." menu.
    possible = [rule for rule in RULES.values() if view.status in rule.allowed_from]
    actions = [
        _execute("Hide details", TriageVerb.HIDE, view)
        if showing_details
        else _execute("Details", TriageVerb.DETAILS, view)
    ]
    actions += [_open_button(rule, view) for rule in possible if not rule.secondary]
    if view.status in SCHEDULABLE:
        if view.booking_state is BookingState.FAILED:
            actions.append(_execute(retry_title(view), TriageVerb.RETRY_BOOKING, view))
        elif graph:
            actions.append(_execute("Find times", TriageVerb.FIND_TIMES, view))
    actions += [_open_button(rule, view) for rule in possible if rule.secondary]
    return actions


# --- messages to people ------------------------------------------------------------------


def answered_question_card(
    reference: str, question: str, answered_at: datetime | None, calendar: WorkingCalendar
) -> dict[str, Any]:
    """The question card once answered: the question and when, without the answer or a
    button (bot.triage.answers settles the card to this)."""
    on = f" on {when(answered_at, calendar)}" if answered_at is not None else ""
    return notice_card(
        f"Question about {reference}",
        [
            f"Business support asked: {question}",
            f"You answered{on}. Business support has your answer, and I will tell you here "
            "when they decide.",
        ],
    )


def question_card(reference: str, question_id: int, question: str) -> dict[str, Any]:
    """The admin's question, to the referrer. Never drawn again with an answer in it: a refused
    answer gets a message, and stays in the card it was typed in (bot.triage.answers)."""
    return render(
        "question",
        {"reference": reference, "question_id": str(question_id), "question": question},
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


def accepted_card(view: TriageView, models: ModelCatalogue) -> dict[str, Any]:
    by = f", facilitated by {view.facilitator_name}." if view.facilitator_name else "."
    return status_card(
        "Your referral has been accepted",
        "Accent",
        view.reference,
        view.status,
        [
            f"It will be a {label_model(view.model, models)} session{by}",
            "Business support will be in touch to arrange a time.",
        ],
    )


def declined_card(
    view: TriageView, reason: str | None, signpost: str | None, partnership: str
) -> dict[str, Any]:
    lines = (
        f"Reason: {reason}" if reason else "",
        f"Where to go instead: {signpost}" if signpost else "",
        f"If you are unsure, contact the {partnership} quoting {view.reference}.",
    )
    return status_card(
        "Your referral has not been taken forward",
        "Default",
        view.reference,
        view.status,
        [line for line in lines if line],
    )


def withdrawn_card(view: TriageView, partnership: str) -> dict[str, Any]:
    return status_card(
        "Your referral has been closed",
        "Default",
        view.reference,
        view.status,
        [
            "Business support has closed it as withdrawn or a duplicate. "
            f"If that is wrong, contact the {partnership} quoting {view.reference}."
        ],
    )


def facilitator_card(view: TriageView, models: ModelCatalogue) -> dict[str, Any]:
    return notice_card(
        f"You are facilitating {view.reference}",
        [
            "Business support has assigned you to facilitate this session. "
            "They will arrange the time with you."
        ],
        [
            {"title": "Model", "value": label_model(view.model, models, view.rethink_strategy)},
            {"title": "Kind", "value": label_kind(view.kind, view.theme)},
            {"title": "Agencies", "value": ", ".join(view.agencies) or "-"},
            {"title": "Invitees", "value": str(view.invitee_count)},
        ],
        "Accent",
    )


def cancelled_card(view: TriageView, was_at: datetime, calendar: WorkingCalendar) -> dict[str, Any]:
    return notice_card(
        f"The session for {view.reference} is cancelled",
        [
            f"The session that was booked for {long_when(was_at, calendar)} will not "
            "take place. Business support will arrange another time.",
        ],
        color="Default",
    )


# What admins type in the desk, after an @mention (the manifest's team and group chat
# command list carries the same commands, for Teams' command menu).
DESK_COMMANDS = [
    ("audit RP-2026-0001", "Who did what to that referral, and when"),
    ("audit desk", "Who registered this desk, and attempts refused here"),
    ("digest", "This week's figures now"),
    ("register triage here", "Make this channel or chat the triage desk (new cards come here)"),
    ("help", "Show this"),
]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def mention_rule(bot_name: str, in_channel: bool) -> str:
    """Teams passes a bot only the messages that @mention it in channels and group chats."""
    where = "this channel" if in_channel else "this chat"
    return (
        f"In {where} Teams passes me only messages that @mention me: start each command "
        f"with @{bot_name}, or type @{bot_name} and pick one from the list."
    )


def desk_help_card(
    bot_name: str,
    *,
    in_channel: bool,
    graph: bool,
    reminder_days: int,
    digest_weekday: int,
    digest_hour: int,
) -> dict[str, Any]:
    """`help` in the desk: what business support can do here, not the 1:1 referral menu."""
    buttons = [
        (
            "Details",
            "Read the referral and the referrer's answers; only you see it, and your "
            "reading is recorded.",
        ),
        *((rule.button, rule.explains) for rule in RULES.values() if not rule.secondary),
    ]
    if graph:
        buttons.append(
            ("Find times", "Look in Outlook for times that suit the facilitator and the invitees.")
        )
    buttons += [
        (f"\u2026 {rule.button}", rule.explains) for rule in RULES.values() if rule.secondary
    ]
    return render(
        "desk_help",
        {
            "mention_rule": mention_rule(bot_name, in_channel),
            "commands": [{"title": title, "value": value} for title, value in DESK_COMMANDS],
            "buttons": [{"title": title, "value": value} for title, value in buttons],
            "posts": (
                "I post here a card for every referral waiting for triage and keep it up to "
                f"date, a reminder for any not triaged within {reminder_days} working days, "
                f"and the weekly digest ({WEEKDAYS[digest_weekday]}s at {digest_hour:02d}:00)."
            ),
        },
    )


def digest_card(figures: DigestFigures, calendar: WorkingCalendar) -> dict[str, Any]:
    oldest = [{"title": reference, "value": waited} for reference, waited in figures.oldest]
    return render(
        "digest",
        {
            "period": f"Week to {when(figures.period_end, calendar)}",
            "received": figures.received,
            "waiting": figures.waiting,
            "sections": [
                {
                    "title": title,
                    "is_empty": not counts,
                    "facts": [{"title": name, "value": str(n)} for name, n in counts.most_common()],
                }
                for title, counts in figures.counts
            ]
            + [{"title": "Waiting longest", "is_empty": not oldest, "facts": oldest}],
        },
    )


def overdue_card(
    reference: str, working_days: int, kind_label: str, model_label: str
) -> dict[str, Any]:
    """To the desk: a referral nobody has triaged in time."""
    return notice_card(
        f"Waiting for triage: {reference}",
        [
            f"{reference} arrived {working_days} working days ago and has not been "
            "triaged yet. Its card is in this channel: accept it, ask for more "
            "information, or decline it."
        ],
        [{"title": "Kind", "value": kind_label}, {"title": "Model", "value": model_label}],
        "Default",
    )
