"""Sample triage cards for the gallery (see tests.support.gallery)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.audit import AuditLine
from bot.core.models import ReferralRow
from bot.core.protocols import BUILT_IN, catalogue_of, load_protocols
from bot.core.settings import DEFAULT_OFFERED_MODELS, DEFAULT_SIGNPOSTS, Facilitator
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import BookingState, Narrative, ReferralStatus
from bot.scheduling.slots import Slot, found_search
from bot.triage.changes import Change
from bot.triage.decisions import RULES, Decision
from bot.triage.desk_log import DeskDetail
from bot.triage.digest import figures_of
from bot.triage.notify import TriageNews, confirmation
from bot.triage.options import DeskOptions
from bot.triage.views import Details, QuestionAndAnswer, Recipient, TriageView, Unreachable
from cards.audit import AuditWords, audit_card
from cards.scheduling import ReminderFacts, booked_card, invitee_card, reminder_card, slots_card
from cards.triage import (
    answered_card,
    answered_question_card,
    cancelled_card,
    desk_help_card,
    digest_card,
    facilitator_card,
    label_kind,
    label_model,
    moved_on_notice,
    overdue_card,
    question_card,
    triage_card,
)

NOW = datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
CALENDAR = WorkingCalendar()
OPTIONS = DeskOptions(
    (
        Facilitator(name="Jo Facilitator", aad_object_id="f-1"),
        Facilitator(name="Ade Independent", aad_object_id="f-2"),
    ),
    catalogue_of(load_protocols([BUILT_IN]), DEFAULT_OFFERED_MODELS),
    tuple(DEFAULT_SIGNPOSTS),
)
WAITING = TriageView(
    id=1,
    reference="RP-2026-0007",
    tenant_id="t",
    status=ReferralStatus.SUBMITTED,
    version=0,
    kind="network_challenge",
    theme=None,
    model="re_think",
    rethink_strategy=3,
    referrer_name="Sam Practitioner",
    referrer_agency="Health Visiting",
    agencies=["Children's Social Care", "Health Visiting", "Oak Primary School"],
    invitee_count=3,
    manager_agreed=True,
    referrer_is_lead=False,
    urgency="soon",
    created_at=datetime(2026, 11, 23, 14, 5, tzinfo=UTC),
    decided_by_name=None,
    decided_at=None,
    facilitator_name=None,
    signpost=None,
    last_question_at=None,
    last_answer_at=None,
    card_id=None,
    card_conversation_id=None,
)
ACCEPTED = WAITING.__class__(
    **{
        **WAITING.__dict__,
        "status": ReferralStatus.ACCEPTED,
        "version": 1,
        "decided_by_name": "Alex Admin",
        "decided_at": NOW,
        "facilitator_name": "Ade Independent",
    }
)
DETAILS = Details(
    Narrative(
        "Child A (ref CS-1234): school and health disagree about the level of need.",
        "A restorative space to agree a way forward.",
    ),
    [
        QuestionAndAnswer(
            "Alex Admin",
            datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
            "Has the Lead Professional agreed to attend?",
            "Yes, and their manager too.",
            datetime(2026, 11, 24, 15, 0, tzinfo=UTC),
        )
    ],
    None,
)


def _digest() -> dict[str, Any]:
    def row(reference: str, status: str, model: str, agency: str, day: int) -> ReferralRow:
        return ReferralRow(
            reference=reference,
            status=status,
            kind="child_family",
            model=model,
            agency=agency,
            created_at=datetime(2026, 11, day, 10, 0, tzinfo=UTC),
        )

    rows = [
        row("RP-2026-0004", "accepted", "think_space", "Police", 9),
        row("RP-2026-0005", "submitted", "space_to_think", "Education", 17),
        row("RP-2026-0006", "more_info_requested", "space_to_think", "Health Visiting", 24),
        row("RP-2026-0007", "submitted", "re_think", "Health Visiting", 25),
    ]
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    return digest_card(figures_of(rows, now, CALENDAR, OPTIONS.models), CALENDAR)


SCHEDULED = replace(
    ACCEPTED,
    status=ReferralStatus.SCHEDULED,
    version=ACCEPTED.version + 1,
    session_at=datetime(2026, 12, 1, 13, 0, tzinfo=UTC),
    meeting_join_url=(
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YjQ%40thread.v2/0"
    ),
)

# With Graph (GRAPH_ORGANISER set): the bot finds times and books the meeting itself.
GRAPH_OPTIONS = replace(
    OPTIONS,
    graph=True,
    booking_minutes=(("re_think", 120), ("space_to_think", 45), ("think_space", 90)),
)
ORGANISER = "reflective-practice@partnership.example"


def _slot(start: datetime, free: int) -> Slot:
    people = ("ade@partnership.example", "pat@oak.example", "chris@council.example")
    return Slot(start, start + timedelta(minutes=120), people[:free], people[free:])


# What a search finds for the Re-think above: 4 calendars asked for, 3 readable.
SLOTS = [
    _slot(datetime(2026, 12, 1, 13, 0, tzinfo=UTC), 3),
    _slot(datetime(2026, 12, 2, 9, 30, tzinfo=UTC), 3),
    _slot(datetime(2026, 11, 27, 14, 0, tzinfo=UTC), 2),
]
FOUND = replace(
    ACCEPTED, slot_search={**found_search(SLOTS, checked=3, unreadable=1), "at": NOW.isoformat()}
)
BOOKING = replace(
    FOUND,
    status=ReferralStatus.SCHEDULED,
    version=FOUND.version + 1,
    session_at=SLOTS[0].start,
    booking_state=BookingState.BOOKING,
    slot_search=None,  # a time was chosen: the times offered are used up
)
BOOKED = replace(
    BOOKING,
    booking_state=BookingState.BOOKED,
    meeting_app_installed=True,
    meeting_join_url=SCHEDULED.meeting_join_url,
)
# What GraphCalendar says when the app lacks Calendars.ReadWrite (bot.scheduling.graph).
BOOKING_FAILED = replace(
    BOOKING,
    booking_state=BookingState.FAILED,
    booking_problem=(
        "Graph refused to create the meeting in the organiser's calendar. Grant the "
        "application permission Calendars.ReadWrite with admin consent; if an Exchange "
        "application access policy (New-ApplicationAccessPolicy) or RBAC for Applications "
        f"scopes the app, include the organiser mailbox {ORGANISER} (Graph: 403 "
        "ErrorAccessDenied: Access is denied. Check credentials and try again.)"
    ),
)

# Graph refused the free/busy search (the job stores what Graph said, for IT).
SEARCH_FAILED = replace(
    ACCEPTED,
    slot_search={
        "state": "failed",
        "problem": "Graph refused to read free/busy through the organiser's calendar. Grant "
        "the application permission Calendars.ReadBasic with admin consent (Graph: 403 "
        "ErrorAccessDenied: Access is denied.)",
        "at": NOW.isoformat(),
    },
)
# The session was cancelled on the card, but Graph refused to cancel the Outlook event.
CANCELLING_FAILED = replace(
    BOOKED,
    status=ReferralStatus.ACCEPTED,
    version=BOOKED.version + 1,
    session_at=None,
    meeting_join_url=None,
    booking_state=BookingState.FAILED,
    booking_problem=BOOKING_FAILED.booking_problem.replace("create", "cancel")
    if BOOKING_FAILED.booking_problem
    else None,
)
# Booked, but the app could not be installed in the meeting's chat.
CHAT_NOT_JOINED = replace(
    BOOKED,
    meeting_app_installed=False,
    booking_problem=(
        "Graph refused to install the app in the meeting chat. Grant the application "
        "permission TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All with admin consent "
        "(Graph: 403 Forbidden)"
    ),
)

DESK = "19:triage-desk@thread.tacv2"
AUDIT_WORDS = AuditWords(OPTIONS, CALENDAR, NOW, retention_days=2190, desk_conversation=DESK)
AUDIT_LINES = [
    AuditLine(WAITING.created_at, "aad-1", "Sam Practitioner", "referral.submitted", ""),
    AuditLine(NOW, "aad-2", "Alex Admin", "triage.details_viewed", ""),
    AuditLine(NOW, "aad-3", "Olly Outsider", "triage.refused", "triage_accept_form"),
    AuditLine(NOW, "aad-2", "Alex Admin", "triage.accepted", "model re_think"),
    AuditLine(NOW, "aad-4", "Sam Second", "triage.already_decided", "decline on v0"),
    AuditLine(NOW, "pseudonym:3f2a9c", "", "triage.details_viewed", ""),
]
DESK_LINES = [
    AuditLine(
        WAITING.created_at,
        "aad-2",
        "Alex Admin",
        "triage.desk_registered",
        DeskDetail("", DESK, "t").text(),
    ),
    AuditLine(
        NOW, "aad-3", "Olly Outsider", "triage.refused", DeskDetail("digest", DESK, "t").text()
    ),
]

# Every state the desk's card can be in (bot.triage.store writes them), beyond those above.
# Asked the referrer a question, waiting for the answer; then the answer has come.
MORE_INFO = replace(
    WAITING,
    status=ReferralStatus.MORE_INFO_REQUESTED,
    version=1,
    decided_by_name="Alex Admin",
    decided_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
    last_question_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
)
ANSWERED = replace(
    MORE_INFO,
    status=ReferralStatus.SUBMITTED,
    version=2,
    last_answer_at=datetime(2026, 11, 24, 15, 0, tzinfo=UTC),
)
DECLINED = replace(
    ACCEPTED, status=ReferralStatus.DECLINED, facilitator_name=None, signpost=DEFAULT_SIGNPOSTS[0]
)
WITHDRAWN = replace(DECLINED, status=ReferralStatus.WITHDRAWN, signpost=None)
# Graph: looking for times; found none that suits the facilitator, whose calendar it could
# not read; cancelling the Outlook event after Cancel session.
SEARCHING = replace(ACCEPTED, slot_search={"state": "searching", "at": NOW.isoformat()})
NO_TIMES = replace(
    ACCEPTED,
    slot_search={
        **found_search([], checked=2, unreadable=1, facilitator_checked=False),
        "at": NOW.isoformat(),
    },
)
CANCELLING = replace(
    BOOKED,
    status=ReferralStatus.ACCEPTED,
    version=BOOKED.version + 1,
    session_at=None,
    meeting_join_url=None,
    booking_state=BookingState.CANCELLING,
)

# The facilitator has not added the app yet (tried again in an hour); an invitee removed it
# and the bot has stopped trying (bot.triage.reach).
UNREACHABLE = replace(
    SCHEDULED,
    unreachable=(
        Unreachable("Ade Independent", Recipient.FACILITATOR, NOW + timedelta(hours=1)),
        Unreachable("Pat Teacher (Oak Primary School)", Recipient.INVITEE, None),
    ),
)
WITH_INSTALL_LINK = replace(
    OPTIONS,
    app_install_link="https://teams.microsoft.com/l/app/7c1f0d52-3a9e-4b6d-8f21-5e4a9b0c6d13",
)


def _reminder(*, installed: bool) -> ReminderFacts:
    """The booked session as the reminder job reads it (bot.scheduling.reminders)."""
    assert BOOKED.session_at is not None
    return ReminderFacts(
        BOOKED.reference,
        OPTIONS.models.label(BOOKED.model),
        BOOKED.session_at,
        BOOKED.meeting_join_url,
        installed,
    )


def triage_gallery() -> dict[str, Callable[[], dict[str, Any]]]:
    models = OPTIONS.models
    news = TriageNews("Safeguarding Children Partnership", CALENDAR, models)

    def card(
        view: TriageView, options: DeskOptions = OPTIONS, **kwargs: Any
    ) -> Callable[[], dict[str, Any]]:
        return lambda: triage_card(view, CALENDAR, NOW, options, **kwargs)

    declined = Change(note="This needs the strategy meeting.", signpost=DEFAULT_SIGNPOSTS[0])
    return {
        "triage": card(WAITING),
        "triage-details": card(WAITING, details=DETAILS),
        "triage-accept": card(WAITING, panel="accept"),
        "triage-ask": card(WAITING, panel="ask"),
        "triage-decline": card(WAITING, panel="decline"),
        "triage-withdraw": card(WAITING, panel="withdraw"),
        "triage-accepted": card(ACCEPTED),
        "triage-moved-on": card(ACCEPTED, notice=moved_on_notice(ACCEPTED, CALENDAR)),
        # What replaces the Accept panel for the admin who answered it (bot.triage.desk).
        "triage-answered": lambda: answered_card(
            ACCEPTED,
            RULES[Decision.ACCEPT],
            Change(summary="Re-think, facilitated by Ade Independent"),
            RULES[Decision.ACCEPT].done,
            CALENDAR,
        ),
        "desk-help": lambda: desk_help_card(
            "Reflective practice",
            in_channel=True,
            graph=True,
            reminder_days=2,
            digest_weekday=0,
            digest_hour=9,
        ),
        "question": lambda: question_card(
            "RP-2026-0007", 1, "Has the Lead Professional agreed to attend?"
        ),
        "question-answered": lambda: answered_question_card(
            "RP-2026-0007", "Has the Lead Professional agreed to attend?", NOW, CALENDAR
        ),
        "referrer-accepted": lambda: news.referrer_card(ACCEPTED, Change(), None) or {},
        "referrer-declined": lambda: (
            news.referrer_card(
                ACCEPTED.__class__(**{**ACCEPTED.__dict__, "status": ReferralStatus.DECLINED}),
                declined,
                None,
            )
            or {}
        ),
        "facilitator-assigned": lambda: facilitator_card(ACCEPTED, models),
        "triage-schedule": card(ACCEPTED, panel="schedule"),
        "triage-scheduled": card(SCHEDULED),
        "referrer-booked": lambda: booked_card(SCHEDULED, CALENDAR, models),
        "facilitator-booked": lambda: booked_card(
            SCHEDULED, CALENDAR, models, for_facilitator=True
        ),
        # To an invitee the bot can reach in Teams, for a meeting booked by hand (bot.teams.people).
        "invitee-invited": lambda: invitee_card(SCHEDULED, CALENDAR, models),
        "triage-slots": card(FOUND, GRAPH_OPTIONS),
        "triage-book": card(FOUND, GRAPH_OPTIONS, panel="schedule"),
        "triage-booking": card(BOOKING, GRAPH_OPTIONS),
        "triage-booked-graph": card(BOOKED, GRAPH_OPTIONS),
        "triage-booking-failed": card(BOOKING_FAILED, GRAPH_OPTIONS),
        "triage-search-failed": card(SEARCH_FAILED, GRAPH_OPTIONS),
        "triage-cancelling-failed": card(CANCELLING_FAILED, GRAPH_OPTIONS),
        "triage-chat-not-joined": card(CHAT_NOT_JOINED, GRAPH_OPTIONS),
        "triage-cancel": card(BOOKED, GRAPH_OPTIONS, panel="cancel"),
        "triage-unreachable": card(UNREACHABLE, WITH_INSTALL_LINK),
        # What the admin who cancels sees, the facilitator being known out of reach.
        "triage-unreachable-cancelled": lambda: answered_card(
            replace(UNREACHABLE, status=ReferralStatus.ACCEPTED, session_at=None),
            RULES[Decision.CANCEL],
            Change(summary="the session of 1 Dec 2026 13:00 is off"),
            confirmation(RULES[Decision.CANCEL].done, UNREACHABLE),
            CALENDAR,
            told_style="warning",
            app_link=WITH_INSTALL_LINK.app_install_link,
        ),
        "referrer-booked-graph": lambda: booked_card(BOOKED, CALENDAR, models),
        "facilitator-booked-graph": lambda: booked_card(
            BOOKED, CALENDAR, models, for_facilitator=True
        ),
        "facilitator-slots": lambda: slots_card(FOUND.reference, SLOTS, CALENDAR),
        "facilitator-reminder": lambda: reminder_card(
            _reminder(installed=True), CALENDAR, soon=False
        ),
        "facilitator-reminder-soon": lambda: reminder_card(
            _reminder(installed=False), CALENDAR, soon=True
        ),
        "facilitator-cancelled": lambda: cancelled_card(BOOKED, SLOTS[0].start, CALENDAR),
        # What the referrer gets meanwhile is the "question" card (TriageNews.referrer_card).
        "triage-more-info": card(MORE_INFO),
        "triage-answer-arrived": card(ANSWERED),
        "triage-declined": card(DECLINED),
        "triage-withdrawn": card(WITHDRAWN),
        "triage-searching": card(SEARCHING, GRAPH_OPTIONS),
        "triage-no-times": card(NO_TIMES, GRAPH_OPTIONS),
        "triage-cancelling": card(CANCELLING, GRAPH_OPTIONS),
        "referrer-withdrawn": lambda: news.referrer_card(WITHDRAWN, Change(), None) or {},
        # To the desk, when nobody has triaged a referral in time (bot.triage.reminders).
        "desk-overdue": lambda: overdue_card(
            WAITING.reference,
            4,
            label_kind(WAITING.kind, WAITING.theme),
            label_model(WAITING.model, models, WAITING.rethink_strategy),
        ),
        "digest": _digest,
        "audit": lambda: audit_card("Audit log for RP-2026-0007", AUDIT_LINES, AUDIT_WORDS),
        "audit-desk": lambda: audit_card("Audit log of the triage desk", DESK_LINES, AUDIT_WORDS),
    }
