"""Referrals they made, or that name them (manager, invitee, who decided or facilitates), and
the questions about them or that they asked."""

from __future__ import annotations

from sqlalchemy import or_, select

from bot.core.models import ReferralQuestion, ReferralRow
from bot.privacy.data_map import DATA_MAP, Category
from bot.privacy.retention import erase_case_columns
from bot.privacy.subjects.search import Search
from bot.privacy.subjects.searched import NAMED_BY_ID
from bot.referrals.model import ReferralStatus

OPEN = {
    ReferralStatus.SUBMITTED,
    ReferralStatus.MORE_INFO_REQUESTED,
    ReferralStatus.ACCEPTED,
    ReferralStatus.SCHEDULED,
}


async def referrals(search: Search) -> None:
    subject = search.subject
    made = still_open = manager = invited = decided = 0
    for row in await search.session.scalars(select(ReferralRow).order_by(ReferralRow.id)):
        key = {"id": row.id, "reference": row.reference}
        if subject.is_them(row.referrer_id):
            made += 1
            still_open += row.status in OPEN
            search.their_referrals.add(row.id)
            subject.learn_name(row.referrer_name)
            subject.learn_reference(row.conversation_reference)
            search.add_row("referrals", key, row)
            if search.erase:
                _erase_their_referral(search, row)
            continue
        if subject.has_email(row.manager_email):
            manager += 1
            subject.learn_name(row.manager_name)
            search.add("referrals", key, "manager_name", row.manager_name)
            search.add("referrals", key, "manager_email", row.manager_email)
            if search.erase:
                row.manager_name = row.manager_email = None
        theirs = [i for i in row.invitees or [] if subject.has_email(i.get("email"))]
        if theirs:
            invited += 1
            for invitee in theirs:
                subject.learn_name(invitee.get("name"))
            search.add("referrals", key, "invitees", theirs)
            if search.erase:
                row.invitees = [i for i in row.invitees if i not in theirs]
        acted = [c for c in NAMED_BY_ID["referrals"] if subject.is_them(getattr(row, c))]
        decided += bool(acted)
        for id_column in acted:
            name_column = NAMED_BY_ID["referrals"][id_column] or ""
            subject.learn_name(getattr(row, name_column))
            search.add("referrals", key, id_column, getattr(row, id_column))
            search.add("referrals", key, name_column, getattr(row, name_column))
        if search.erase:
            search.pseudonymise("referrals", row)
    search.found.did(
        "referrals",
        "they made, kept without their name, their case text or the people they named",
        made,
        "the partnership's anonymous counts (status, kind, model, agency, dates)",
    )
    search.found.note(
        still_open,
        "of the referrals they made are still open: nothing more can be sent to them "
        "about these, and the triage desk should withdraw or decline them",
    )
    search.found.did("referrals", "naming them as manager: name and email blanked", manager)
    search.found.did("referrals", "inviting them: their invitee entry removed", invited)
    search.found.did(
        "referrals",
        "they decided or facilitated, kept with a pseudonym for them",
        decided,
        "the record of decisions must stay complete",
    )


def _erase_their_referral(search: Search, row: ReferralRow) -> None:
    """What the retention purge does to a closed case, now, to its personal columns: the case
    text and the referrer's details go, the anonymous figures stay. Another person's id and
    name stay where they record a decision (who decided, who facilitates); the desk's card and
    the meeting's ids stay, as the referral may still be open."""
    named_by_id = NAMED_BY_ID["referrals"]
    others = {
        column
        for id_column, name_column in named_by_id.items()
        if not search.subject.is_them(getattr(row, id_column))
        for column in (id_column, name_column)
    }
    personal = {
        column
        for column, (category, _) in DATA_MAP["referrals"].columns.items()
        if category in (Category.SPECIAL, Category.PERSONAL)
    }
    erase_case_columns(row, "referrals", search.cipher, only=(personal | set(named_by_id)) - others)


async def referral_questions(search: Search) -> None:
    on_theirs = asked = 0
    rows = await search.session.scalars(
        select(ReferralQuestion)
        .where(
            or_(
                ReferralQuestion.referral_id.in_(sorted(search.their_referrals)),
                ReferralQuestion.asked_by_id.in_(sorted(search.subject.ids)),
            )
        )
        .order_by(ReferralQuestion.id)
    )
    for row in rows:
        key = {"id": row.id, "referral_id": row.referral_id}
        if row.referral_id in search.their_referrals:
            on_theirs += 1
            search.add_row("referral_questions", key, row)
            if search.erase:
                await search.session.delete(row)
            continue
        # A question they asked about someone else's referral: the answer is not theirs.
        asked += 1
        search.subject.learn_name(row.asked_by_name)
        for column in ("asked_by_id", "asked_by_name", "asked_at"):
            search.add("referral_questions", key, column, getattr(row, column))
        question = search.readable(row.question_encrypted)
        search.add("referral_questions", key, "question_encrypted", question)
        if search.erase:
            search.pseudonymise("referral_questions", row)
    search.found.did(
        "referral_questions", "about referrals they made, with answers: deleted", on_theirs
    )
    search.found.did(
        "referral_questions",
        "they asked, kept with a pseudonym for them",
        asked,
        "part of another person's referral and its record",
    )
