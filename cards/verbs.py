"""Card verbs: one name shared by the card that sends it and the code that handles it."""

from enum import StrEnum


class Verb(StrEnum):
    START_REFERRAL = "start_referral"
    MY_REFERRALS = "my_referrals"
    HELP = "help"
    CANCEL = "cancel"
    RESTART = "restart"
    # One verb per step of the referral form; the step's card submits it.
    RISK = "risk"
    KIND = "kind"
    MODEL = "model"
    STRATEGY_ONE = "strategy_one"
    NARRATIVE = "narrative"
    ABOUT = "about"
    INVITEES = "invitees"
    TIMING = "timing"
    REVIEW = "review"
    # The triage desk's typed commands (admins only).
    REGISTER_TRIAGE = "register_triage"
    DIGEST = "digest"
    AUDIT = "audit"
    REPORT = "report"  # the partnership's figures for a period (bot.reports)
    # The practitioner's answer to a triage question (in their 1:1 chat).
    ANSWER_QUESTION = "answer_question"
    # In a meeting or group chat: set up a reflective session, show the question bank.
    START_SESSION = "start_session"
    SESSION_QUESTIONS = "session_questions_typed"


class TriageVerb(StrEnum):
    """Action.Execute verbs on the triage card that decide nothing; admins only.

    The decisions' own verbs come from their entries in `bot.triage.decisions.RULES`.
    """

    DETAILS = "triage_details"
    HIDE = "triage_hide"
    FIND_TIMES = "triage_find_times"  # look in Outlook for times that suit (Graph)
    RETRY_BOOKING = "triage_retry_booking"


class SessionVerb(StrEnum):
    """Action.Execute verbs on the session cards in a meeting chat."""

    START = "session_start"  # the opening card: show the set-up card
    SET_UP = "session_set_up"
    TAKE_ROLE = "session_take_role"
    QUESTIONS = "session_questions"
    CONTRIBUTE = "session_contribute"
    SHOW_TOGETHER = "session_show_together"
    ROOM_LINK = "session_room_link"  # the facilitator asks for the room display's link
    # The facilitator's controls (see bot.sessions.timing.Control).
    BEGIN = "session_begin"
    PAUSE = "session_pause"
    RESUME = "session_resume"
    ADD_TIME = "session_add_time"
    BACK = "session_back"
    NEXT = "session_next"
    END = "session_end"


class FeedbackVerb(StrEnum):
    """Action.Execute verbs on the feedback cards, in the meeting chat and 1:1 (bot.feedback)."""

    ANSWER = "feedback_answer"
    SHOW = "feedback_show"  # the card's refresh: each person sees their own state


class ReportVerb(StrEnum):
    """Action.Execute verbs on the report card on the desk (bot.reports); admins only."""

    DOWNLOAD = "report_download"  # the same figures as CSV, through the 1:1 file consent card


class FurtherVerb(StrEnum):
    """Action.Execute verbs on the further reflection card on the desk; admins only."""

    BOOK = "further_book"  # book it: through Graph where it is set up
    BY_HAND = "further_by_hand"  # the admin booked it themselves: date and link
    NOT_NEEDED = "further_not_needed"
