"""A triage decision's details, as the desk hands them to the store, and its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.triage.views import TriageView


@dataclass(frozen=True)
class Outcome:
    applied: bool
    view: TriageView
    question_id: int | None = None


@dataclass(frozen=True)
class Change:
    """A decision's details: which facilitator, what model, why declined, ..."""

    model: str | None = None
    facilitator_id: str | None = None
    facilitator_name: str | None = None
    note: str | None = None  # a decline reason, a withdrawal note: encrypted
    signpost: str | None = None
    question: str | None = None  # "more information, please": encrypted
    session_at: datetime | None = None
    session_minutes: int | None = None
    meeting_join_url: str | None = None
    meeting_chat_id: str | None = None
    book_with_graph: bool = False  # the background job books (or moves) the Outlook event
    cancelled_at: datetime | None = None  # the start of the session called off
    attendee_note: str | None = None  # with a cancellation: for everyone invited
    find_times: bool = False  # look in Outlook for times that suit (Graph), in the background
    audit_detail: str = ""
    # What was decided, in words, after the decision's name ("Accepted by Alex Admin, ...:
    # <summary>"): the record that replaces the answered panel (cards.triage.answered_card).
    summary: str = ""
