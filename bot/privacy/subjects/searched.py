"""How every personal or pseudonymous column of the data map is searched for the person."""

from __future__ import annotations

from enum import StrEnum


class Found(StrEnum):
    """How a column is searched for the person."""

    ID = "compared with their Entra object id"
    NAME = "the name beside an id or email of theirs: erased or blanked with it"
    EMAIL = "compared, lower case, with their email"
    JSON = "searched for their id or email (a conversation reference, a list of people)"
    TEXT = "searched for their ids, emails and names"
    THEIR_ROW = "part of a row that is theirs, found by another column"
    NOT_A_PERSON = "names a meeting or a chat, not a person"


# Every personal or pseudonymous column in the data map, and how it is searched.
SEARCHED: dict[str, dict[str, Found]] = {
    "referrals": {
        "referrer_id": Found.ID,
        "referrer_name": Found.NAME,
        "conversation_reference": Found.JSON,
        "manager_name": Found.NAME,
        "manager_email": Found.EMAIL,
        "invitees": Found.JSON,
        "availability": Found.THEIR_ROW,
        "decided_by_id": Found.ID,
        "decided_by_name": Found.NAME,
        "facilitator_id": Found.ID,
        "facilitator_name": Found.NAME,
        "booking_problem": Found.THEIR_ROW,
        "meeting_join_url": Found.NOT_A_PERSON,
        "meeting_chat_id": Found.NOT_A_PERSON,
        "meeting_event_id": Found.NOT_A_PERSON,
    },
    "referral_questions": {"asked_by_id": Found.ID, "asked_by_name": Found.NAME},
    "meeting_sessions": {
        "conversation_id": Found.NOT_A_PERSON,
        "conversation_reference": Found.JSON,
        "meeting_id": Found.NOT_A_PERSON,
        "facilitator_id": Found.ID,
        "facilitator_name": Found.NAME,
        "roles": Found.JSON,
        "created_by_id": Found.ID,
    },
    "session_participants": {"person_id": Found.ID, "name": Found.NAME},
    "session_contributions": {"author_id": Found.ID, "author_name": Found.NAME},
    "people": {
        "person_id": Found.ID,
        "name": Found.NAME,
        "email": Found.EMAIL,
        "upn": Found.EMAIL,
        "email_hash": Found.EMAIL,
        "upn_hash": Found.EMAIL,
    },
    "personal_chats": {"person_id": Found.ID, "conversation_reference": Found.JSON},
    "bot_state": {"key": Found.TEXT, "data": Found.TEXT},
    "outbox": {"target": Found.JSON, "activity_encrypted": Found.TEXT},
    "audit_log": {"actor_id": Found.ID, "actor_name": Found.NAME, "detail": Found.TEXT},
    "triage_desks": {"conversation_reference": Found.JSON, "registered_by_id": Found.ID},
    "further_reflections": {
        "decided_by_id": Found.ID,
        "problem": Found.THEIR_ROW,
        "join_url": Found.NOT_A_PERSON,
        "event_id": Found.NOT_A_PERSON,
    },
}

# Id columns and the name column beside each: pseudonymised and blanked together.
NAMED_BY_ID: dict[str, dict[str, str | None]] = {
    "referrals": {
        "referrer_id": "referrer_name",
        "decided_by_id": "decided_by_name",
        "facilitator_id": "facilitator_name",
    },
    "referral_questions": {"asked_by_id": "asked_by_name"},
    "meeting_sessions": {"facilitator_id": "facilitator_name", "created_by_id": None},
    "session_participants": {"person_id": "name"},
    "session_contributions": {"author_id": "author_name"},
    "audit_log": {"actor_id": "actor_name"},
    "people": {"person_id": "name"},
    "personal_chats": {"person_id": None},
    "triage_desks": {"registered_by_id": None},
    "further_reflections": {"decided_by_id": None},
}
