"""Subject requests (bot.privacy.subjects): one person's data exported, then erased.

Alex (an admin who also refers and takes part in sessions) and Pat (a practitioner) go
through real flows over loopback HTTP, on SQLite and PostgreSQL: a referral each, Pat's naming
Alex as manager and invitee by email, triage with questions both ways, a session booked by
hand, a half-written referral each, and a reflective session where both write a hope. Rows the
flows cannot reach are planted. Then every table is read with all its columns, decrypted, and
searched for Alex's ids, name and emails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.core.audit import Action
from bot.core.crypto import Cipher
from bot.core.database import session_factory
from bot.core.models import AuditEntry, OutboxMessage, ReferralRow, SessionParticipant
from bot.core.pseudonym import pseudonym
from bot.core.settings import PROJECT_ROOT
from bot.privacy import subjects
from bot.privacy.data_map import DATA_MAP, Category
from bot.privacy.subjects import SEARCHED, Found
from tests.support.client import TENANT, TeamsUser, card_text, cards_in
from tests.support.databases import TEST_KEY, Stored, engine_for, stored_values
from tests.support.meeting import MEETING_CHAT, MEETING_ID, Meeting, button_data, shown
from tests.support.referral_steps import (
    ABOUT,
    HAPPY_PATH,
    INVITEES,
    KIND,
    NARRATIVE,
    NO_RISK,
    SUBMIT,
    answer_up_to_review,
)
from tests.support.triage import ADMIN, DESK, SECOND_ADMIN, Scene, accept, press, version_of

JOIN = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YjQtYjQ0MS00%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%22aa%22%7d"
)
ALEX = "Alex Admin"
ALEX_EMAIL = "Alex.Admin@Council.example"  # as Teams gives it; stored lower case
ALEX_UPN = "a.admin@council.example"
ALEX_NARRATIVE = "Family K (ref CS-9001): the plan has stalled since the summer."
ALEX_ANSWER = "The school leads for now."
ALEX_QUESTION = "Is the GP involved?"  # Alex asks it about Pat's referral
ALEX_HOPE = "Clarity on who leads"
KIM = "kim.nurse@nhs.example"  # whom Alex invites
PAT = "Pat Practitioner"
PAT_EMAIL = "pat.practitioner@nhs.example"
PAT_NARRATIVE = "Family M (ref CS-7002): agencies disagree about the level of need."
PAT_ANSWER = "Yes, the GP attends core group."
PAT_HOPE = "A plan we all own"
FIGURES = ("reference", "status", "kind", "model", "agency", "role", "urgency", "created_at")
CIPHER = Cipher([TEST_KEY])


@dataclass
class Cast:
    scene: Scene
    meeting: Meeting
    alex: TeamsUser  # in a 1:1 chat with the bot
    pat: TeamsUser
    alex_reference: str
    pat_reference: str
    alex_teams_ids: list[str]  # one per chat in these tests (Teams gives one per bot)

    @property
    def url(self) -> str:
        return self.scene.bot.settings.database_url

    def alex_needles(self) -> list[str]:
        return [
            ADMIN,
            ALEX,
            ALEX_EMAIL,
            ALEX_UPN,
            self.alex.conversation_id,
            *self.alex_teams_ids,
            ALEX_NARRATIVE,
            ALEX_ANSWER,
            ALEX_HOPE,
        ]

    def pat_needles(self) -> list[str]:
        return [
            self.pat.aad_id,
            PAT,
            PAT_EMAIL,
            self.pat.conversation_id,
            PAT_NARRATIVE,
            PAT_ANSWER,
            PAT_HOPE,
            "Pat Teacher",  # whom Pat invites besides Alex
        ]


def mentions(values: list[Stored], needles: list[str]) -> list[tuple[str, tuple[Any, ...], str]]:
    """Where any of `needles` is stored, as a whole word, any case."""
    pattern = re.compile(
        "|".join(rf"(?<![\w:.-]){re.escape(n)}(?![\w-])" for n in needles), re.IGNORECASE
    )
    return [(v.table, v.key, v.column) for v in values if pattern.search(v.text)]


def occurrences(values: list[Stored], needles: list[str]) -> Counter[tuple[str, str, str]]:
    return Counter(
        (v.table, v.column, needle)
        for v in values
        for needle in needles
        if needle.lower() in v.text.lower()
    )


def with_narrative(text: str) -> list[dict[str, Any]]:
    narrative = {**NARRATIVE, "what_is_stuck": text}
    return [narrative if step is NARRATIVE else step for step in HAPPY_PATH]


async def refer(scene: Scene, user: TeamsUser, steps: list[dict[str, Any]]) -> str:
    await answer_up_to_review(user, steps)
    sent = await user.press(SUBMIT)
    found = re.search(r"RP-\d{4}-\d{4}", card_text(cards_in(sent)[0]))
    assert found is not None, sent
    await scene.bot.settle()
    return found.group(0)


async def answer_question(scene: Scene, user: TeamsUser, answer: str) -> None:
    question = cards_in(scene.connector.sent_to(user.conversation_id))[-1]
    button = next(a for a in question["actions"] if a["type"] == "Action.Submit")
    await user.press(button["data"], answer=answer)
    await scene.bot.settle()


async def act(scene: Scene, meeting: Meeting, http: aiohttp.ClientSession) -> Cast:
    connector = scene.connector
    alex = TeamsUser(scene.bot.url, connector, http, name=ALEX, aad_id=ADMIN)
    pat = scene.practitioner
    # Both have talked to the bot 1:1, so it has learnt their emails (the people table).
    connector.profiles[alex.user_id] = {
        "name": ALEX,
        "aadObjectId": ADMIN,
        "email": ALEX_EMAIL,
        "userPrincipalName": ALEX_UPN,
    }
    connector.profiles[pat.user_id] = {"name": PAT, "aadObjectId": pat.aad_id, "email": PAT_EMAIL}
    await alex.say("help")
    await pat.say("help")
    await scene.bot.settle()

    # Alex refers; Pat refers naming Alex as manager and as an invitee, by email.
    kim = {**INVITEES, "name_1": "Kim Nurse", "agency_1": "School nursing", "email_1": KIM}
    alex_steps = [kim if step is INVITEES else step for step in with_narrative(ALEX_NARRATIVE)]
    alex_reference = await refer(scene, alex, alex_steps)
    about = {**ABOUT, "manager_name": ALEX, "manager_email": ALEX_EMAIL.lower()}
    invitees = {**INVITEES, "name_2": ALEX, "agency_2": "Council", "email_2": ALEX_EMAIL.upper()}
    pat_steps = [
        about if step is ABOUT else invitees if step is INVITEES else step
        for step in with_narrative(PAT_NARRATIVE)
    ]
    pat_reference = await refer(scene, pat, pat_steps)

    # The second admin asks Alex for more, Alex answers, and the referral is accepted.
    version = version_of(scene.desk_card(alex_reference))
    await press(scene.second_admin, "triage_ask", alex_reference, version, question="Who leads?")
    await scene.bot.settle()
    await answer_question(scene, alex, ALEX_ANSWER)
    await accept(scene.second_admin, alex_reference, version_of(scene.desk_card(alex_reference)))
    # Alex, on the desk, asks Pat for more, accepts Pat's referral and books it by hand: the
    # invitation goes to Alex by email.
    version = version_of(scene.desk_card(pat_reference))
    await press(scene.admin, "triage_ask", pat_reference, version, question=ALEX_QUESTION)
    await scene.bot.settle()
    await answer_question(scene, pat, PAT_ANSWER)
    await accept(scene.admin, pat_reference, version_of(scene.desk_card(pat_reference)))
    await scene.bot.settle()
    version = version_of(scene.desk_card(pat_reference))
    booked = await press(
        scene.admin,
        "triage_schedule",
        pat_reference,
        version,
        day="2026-12-01",
        time="13:00",
        link=JOIN,
    )
    assert "Scheduled." in card_text(booked["value"])
    await scene.bot.settle()
    invited = [card_text(c) for c in cards_in(connector.sent_to(alex.conversation_id))]
    assert any("You are invited to a reflective session" in text for text in invited)

    # Both start another referral and leave it half written (dialog state).
    for user in (alex, pat):
        await user.say("refer")
        await user.press(NO_RISK)
        await user.press(KIND)

    # A reflective session: Alex takes a role, and both write a hope.
    in_meeting: dict[str, TeamsUser] = {}
    for person in (alex, pat):
        in_meeting[person.name] = TeamsUser(
            meeting.bot.url,
            connector,
            http,
            name=person.name,
            aad_id=person.aad_id,
            conversation_type="groupChat",
            conversation_id=MEETING_CHAT,
            meeting_id=MEETING_ID,
        )
        connector.meeting_roles[(MEETING_ID, person.aad_id)] = "Attendee"
    await meeting.facilitator.say("<at>Reflective practice</at> start session")
    await meeting.set_up("think_space")
    roles = meeting.posted_cards("Roles: ")[-1]
    taken = await meeting.press(in_meeting[ALEX], "session_take_role", session=1, role="membership")
    assert "You are" in shown(taken)
    await meeting.press(meeting.facilitator, "session_begin", **button_data(roles, "session_begin"))
    await meeting.bot.settle()
    await meeting.control(meeting.facilitator, "session_next")
    await meeting.control(meeting.facilitator, "session_next")
    card = meeting.posted_cards("Hopes for this session · ")[-1]
    hopes = button_data(card, "session_contribute")
    for name, hope in ((ALEX, ALEX_HOPE), (PAT, PAT_HOPE)):
        await meeting.press(in_meeting[name], "session_contribute", **hopes, hope=hope)
    await meeting.bot.settle()

    cast = Cast(
        scene,
        meeting,
        alex,
        pat,
        alex_reference,
        pat_reference,
        [alex.user_id, scene.admin.user_id, in_meeting[ALEX].user_id],
    )
    await plant(cast)
    return cast


async def plant(cast: Cast) -> None:
    """Rows the flows above do not reach: a message waiting for each of them, a card to the
    desk naming Alex, and an audit entry by another admin whose detail names Alex."""
    now = cast.scene.clock.now()
    engine = engine_for(cast.url)
    try:
        async with session_factory(engine)() as session, session.begin():
            pat_referral = await session.scalar(
                select(ReferralRow.id).where(ReferralRow.reference == cast.pat_reference)
            )
            for person_id in (ADMIN, cast.pat.aad_id):
                session.add(
                    OutboxMessage(
                        created_at=now,
                        due_at=now + timedelta(days=2),
                        kind="person",
                        target={"person_id": person_id, "tenant_id": TENANT, "service_url": ""},
                        activity_encrypted=CIPHER.encrypt(
                            json.dumps({"type": "message", "text": "How did the session feel?"})
                        ),
                        attempts=0,
                    )
                )
            session.add(
                OutboxMessage(
                    created_at=now,
                    due_at=now + timedelta(days=2),
                    kind="conversation",
                    target={"conversation": {"id": DESK, "conversationType": "channel"}},
                    activity_encrypted=CIPHER.encrypt(
                        json.dumps({"type": "message", "text": f"Reminder: {ALEX} is away."})
                    ),
                    attempts=0,
                )
            )
            session.add(
                AuditEntry(
                    at=now,
                    actor_id=SECOND_ADMIN,
                    actor_name="Sam Second",
                    action=Action.ACCEPTED,
                    referral_id=pat_referral,
                    detail=f"model think_space; facilitator {ALEX}",
                )
            )
    finally:
        await engine.dispose()


async def figures(cast: Cast) -> dict[str, tuple[Any, ...]]:
    engine = engine_for(cast.url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(select(ReferralRow).order_by(ReferralRow.id))
            return {row.reference: tuple(getattr(row, c) for c in FIGURES) for row in rows}
    finally:
        await engine.dispose()


async def audit_entries(cast: Cast, action: str) -> list[AuditEntry]:
    engine = engine_for(cast.url)
    try:
        async with session_factory(engine)() as session:
            return list(
                await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
            )
    finally:
        await engine.dispose()


async def run_subjects(cast: Cast, *arguments: str) -> tuple[int, str, str]:
    """`python -m bot.privacy.subjects`, as an operator runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.privacy.subjects",
        *arguments,
        env={
            **os.environ,
            "DATABASE_URL": cast.url,
            "ENCRYPTION_KEYS": TEST_KEY,
            "MODE": "development",
        },
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def items_of(exported: dict[str, Any], table: str, column: str | None = None) -> list[Any]:
    return [
        item
        for item in exported["items"]
        if item["table"] == table and (column is None or item["column"] == column)
    ]


def test_every_personal_or_pseudonymous_column_is_searched() -> None:
    """A column added to the data map as personal or pseudonymous must say how a subject
    request finds the person in it, or why it cannot name one."""
    wanted = {
        (table, column)
        for table, mapped in DATA_MAP.items()
        for column, (category, _) in mapped.columns.items()
        if category in (Category.PERSONAL, Category.PSEUDONYMOUS)
    }
    searched = {(table, column) for table, columns in SEARCHED.items() for column in columns}
    classified = {(t, c) for t, columns in DATA_MAP.items() for c in columns.columns}
    assert sorted(wanted - searched) == []
    assert sorted(searched - classified) == []
    # An id column is pseudonymised (with the name beside it) only if the erasure knows it.
    ids = {
        (t, c) for t, columns in SEARCHED.items() for c, how in columns.items() if how is Found.ID
    }
    known = {(t, c) for t, columns in subjects.NAMED_BY_ID.items() for c in columns}
    assert ids == known


async def test_export_returns_everything_stored_about_the_person_and_nobody_else(
    scene: Scene, meeting: Meeting, http: aiohttp.ClientSession
) -> None:
    cast = await act(scene, meeting, http)
    engine = engine_for(cast.url)
    try:
        exported = await subjects.export(session_factory(engine), CIPHER, email=ALEX_EMAIL)
    finally:
        await engine.dispose()
    # The email found Alex's Entra id through the people table, and the UPN beside it.
    assert exported["subject"]["entra_object_ids"] == [ADMIN]
    assert exported["subject"]["emails"] == sorted([ALEX_EMAIL.lower(), ALEX_UPN])
    assert "redact" in exported["notice"]
    text = json.dumps(exported)

    # The referral Alex made, decrypted: narrative, and the question and answer about it.
    made = [
        i for i in items_of(exported, "referrals") if i["key"]["reference"] == cast.alex_reference
    ]
    columns = {item["column"]: item["value"] for item in made}
    assert ALEX_NARRATIVE in json.dumps(columns["narrative_encrypted"])
    assert columns["referrer_name"] == ALEX and columns["status"] == "accepted"
    answers = [i["value"] for i in items_of(exported, "referral_questions", "answer_encrypted")]
    assert answers == [ALEX_ANSWER]
    # Pat's referral: only where it names Alex (manager, invitee, who decided).
    pat_referral = {
        item["column"]: item["value"]
        for item in items_of(exported, "referrals")
        if item["key"]["reference"] == cast.pat_reference
    }
    assert pat_referral == {
        "manager_name": ALEX,
        "manager_email": ALEX_EMAIL.lower(),
        "invitees": [{"name": ALEX, "agency": "Council", "email": ALEX_EMAIL.upper()}],
        "decided_by_id": ADMIN,
        "decided_by_name": ALEX,
    }
    # The question Alex asked about Pat's referral, without Pat's answer.
    questions = [i["value"] for i in items_of(exported, "referral_questions", "question_encrypted")]
    assert sorted(questions) == sorted(["Who leads?", ALEX_QUESTION])
    # The session: taking part, the role, the hope written.
    assert [i["value"] for i in items_of(exported, "session_participants", "name")] == [ALEX]
    (roles,) = items_of(exported, "meeting_sessions", "roles")
    assert roles["value"] == {"membership": [{"id": ADMIN, "name": ALEX}]}
    (hope,) = items_of(exported, "session_contributions", "content_encrypted")
    assert ALEX_HOPE in json.dumps(hope["value"])
    # What Alex did, from the audit log, and the entry naming Alex as facilitator.
    actions = {i["value"] for i in items_of(exported, "audit_log", "action")}
    assert {
        Action.DESK_REGISTERED,
        Action.SUBMITTED,
        Action.MORE_INFO_REQUESTED,
        Action.ACCEPTED,
        Action.SCHEDULED,
        Action.ANSWER_RECEIVED,
    } <= actions
    details = [i["value"] for i in items_of(exported, "audit_log", "detail")]
    assert f"model think_space; facilitator {ALEX}" in details
    # Messages to Alex: the email look-up, the invitation by email, replies in the 1:1 chat,
    # the message waiting; and the card to the desk that names Alex.
    kinds = Counter(item["key"]["kind"] for item in items_of(exported, "outbox", "kind"))
    assert kinds["learn_person"] == 1 and kinds["invitee"] == 1 and kinds["person"] == 1
    assert kinds["conversation"] >= 2
    assert f"Reminder: {ALEX} is away." in text
    # Alex's own rows, the desk Alex registered, and the half-written referral.
    assert [i["value"] for i in items_of(exported, "people", "email")] == [ALEX_EMAIL.lower()]
    assert len(items_of(exported, "personal_chats", "conversation_reference")) == 1
    assert items_of(exported, "triage_desks", "registered_by_id")[0]["value"] == ADMIN
    drafts = items_of(exported, "bot_state", "data")
    assert [d["key"]["key"] for d in drafts] == [
        f"msteams/conversations/{cast.alex.conversation_id}"
    ]
    assert "child_family" in json.dumps(drafts)
    # Every item says where it came from.
    assert all({"table", "key", "column", "value"} <= set(item) for item in exported["items"])

    # Nothing of Pat's: Pat's name only where a message to Alex said who invited them (the
    # notice asks for third-party data to be redacted before release).
    for needle in cast.pat_needles():
        naming = [i for i in exported["items"] if needle.lower() in json.dumps(i).lower()]
        if needle == PAT:
            assert {(i["table"], i["key"]["kind"], i["column"]) for i in naming} == {
                ("outbox", "invitee", "activity_encrypted")
            }
        else:
            assert naming == [], needle

    # Audited: the operator, Alex's pseudonym and counts; never Alex's name or email.
    (entry,) = await audit_entries(cast, Action.SUBJECT_EXPORTED)
    assert entry.actor_id == "operator" and entry.referral_id is None
    assert pseudonym(CIPHER, ADMIN) in entry.detail and "referrals 2" in entry.detail
    assert not mentions([Stored("audit_log", (), "detail", entry.detail)], cast.alex_needles())


async def test_erasure_leaves_nothing_that_names_them_and_keeps_the_figures(
    scene: Scene, meeting: Meeting, http: aiohttp.ClientSession
) -> None:
    cast = await act(scene, meeting, http)
    before = await stored_values(cast.url)
    assert len(mentions(before, cast.alex_needles())) > 40
    figures_before = await figures(cast)

    engine = engine_for(cast.url)
    try:
        erased = await subjects.erase(session_factory(engine), CIPHER, person_id=ADMIN)
    finally:
        await engine.dispose()
    report = erased.report()

    # Nothing stored names Alex any more: ids, name, emails, 1:1 chat, what Alex wrote.
    after = await stored_values(cast.url)
    assert mentions(after, cast.alex_needles()) == []
    assert erased.remaining == []
    # Pat's data is all still there, value for value, but in the messages to Alex (the
    # invitation said Pat invited them), which went.
    to_alex = {
        v.key
        for v in before
        if v.table == "outbox" and v.column == "target" and mentions([v], cast.alex_needles())
    }
    assert len(to_alex) >= 5
    kept = [v for v in before if not (v.table == "outbox" and v.key in to_alex)]
    assert occurrences(after, cast.pat_needles()) == occurrences(kept, cast.pat_needles())
    # The referrals stay, with their figures; Alex's now under a pseudonym, without its text.
    assert await figures(cast) == figures_before
    engine = engine_for(cast.url)
    try:
        async with session_factory(engine)() as session:
            alex_referral = await session.scalar(
                select(ReferralRow).where(ReferralRow.reference == cast.alex_reference)
            )
            assert alex_referral is not None
            assert alex_referral.referrer_id == pseudonym(CIPHER, ADMIN)
            assert alex_referral.narrative_encrypted is None
            assert alex_referral.decided_by_name == "Sam Second"  # someone else's decision
            taking_part = await session.scalars(select(SessionParticipant.person_id))
            assert sorted(taking_part) == sorted(
                [meeting.facilitator.aad_id, cast.pat.aad_id, pseudonym(CIPHER, ADMIN)]
            )
            kept_audit = await session.scalars(
                select(AuditEntry).where(AuditEntry.actor_id == pseudonym(CIPHER, ADMIN))
            )
            assert len(kept_audit.all()) >= 6
    finally:
        await engine.dispose()

    # It says what it did, and what it kept and why.
    assert re.search(
        r"audit_log: \d+ entries of their actions kept, actor replaced by a pseudonym: "
        r"the audit trail of decisions must stay complete",
        report,
    )
    assert "referrals: 1 they made, kept without their name" in report
    assert "the partnership's anonymous counts" in report
    assert "people: 1 deleted" in report and "session_contributions: 1 they wrote" in report
    assert "of the messages deleted had not been sent yet" in report
    (entry,) = await audit_entries(cast, Action.SUBJECT_ERASED)
    assert entry.actor_id == "operator"
    assert pseudonym(CIPHER, ADMIN) in entry.detail and "people 1" in entry.detail

    # The bot goes on: Pat lists referrals; the desk opens Alex's, which names no one now.
    listing = cards_in(await cast.pat.say("my referrals"))
    assert cast.pat_reference in card_text(listing[0])
    version = version_of(scene.desk_card(cast.alex_reference))
    details = shown(await press(scene.second_admin, "triage_details", cast.alex_reference, version))
    assert cast.alex_reference in details
    assert ALEX not in details and ALEX_NARRATIVE not in details and KIM not in details


async def test_the_commands_dry_run_then_erase_by_email_and_export_to_a_file(
    scene: Scene, meeting: Meeting, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    cast = await act(scene, meeting, http)
    out = tmp_path / "alex.json"
    code, _, err = await run_subjects(cast, "export", "--person", ADMIN, "--out", str(out))
    assert code == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # personal data: the operator's only
    exported = json.loads(out.read_text())
    assert exported["subject"]["entra_object_ids"] == [ADMIN]
    assert ALEX_NARRATIVE in out.read_text() and "third-party" in err

    before = await stored_values(cast.url)
    code, dry, err = await run_subjects(cast, "erase", "--email", ALEX_EMAIL, "--dry-run")
    assert code == 0, err
    assert dry.startswith("Would do (dry run, nothing changed):")
    assert "people: 1 deleted" in dry
    assert await stored_values(cast.url) == before

    code, done, err = await run_subjects(cast, "erase", "--email", ALEX_EMAIL.upper())
    assert code == 0, err
    assert done.startswith("Done:") and done.replace("Done:", "", 1) == dry.replace(
        "Would do (dry run, nothing changed):", "", 1
    )
    assert mentions(await stored_values(cast.url), cast.alex_needles()) == []
    assert len(await audit_entries(cast, Action.SUBJECT_ERASED)) == 1
    assert len(await audit_entries(cast, Action.SUBJECT_EXPORTED)) == 1

    # Asked again, there is nothing left to erase.
    code, again, _ = await run_subjects(cast, "erase", "--person", ADMIN)
    assert code == 0 and again.startswith("Nothing stored names this person.")
