"""The retention purge erases exactly what is past its period, keeps the anonymous figures,
and the app goes on working with what is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.core.crypto import Cipher
from bot.core.database import session_factory
from bot.core.models import (
    AuditEntry,
    Base,
    BotStateRow,
    MeetingSession,
    OutboxMessage,
    Person,
    PersonalChat,
    ReferralQuestion,
    ReferralRow,
    SessionContribution,
    SessionParticipant,
)
from bot.privacy.data_map import DATA_MAP, Rule
from bot.privacy.retention import Periods, purge
from tests.support.databases import TEST_KEY, engine_for, everything_stored
from tests.support.triage import Scene, press, shown, stored_referral, version_of

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PERIODS = Periods(case=365 * DAY, people=365 * DAY, drafts=30 * DAY, audit=2190 * DAY)
CIPHER = Cipher([TEST_KEY])


def _referral(number: int, marker: str, **values: Any) -> ReferralRow:
    fields: dict[str, Any] = {
        "reference": f"RP-2026-{number:04d}",
        "status": "declined",
        "created_at": NOW - 800 * DAY,
        "updated_at": NOW - 800 * DAY,
        "tenant_id": "t",
        "referrer_id": f"referrer-{marker}",
        "referrer_name": f"Name {marker}",
        "conversation_reference": {"user": {"id": "29:x", "name": f"Name {marker}"}},
        "kind": "child_family",
        "model": "think_space",
        "agency": "School",
        "role": "DSL",
        "is_lead_professional": True,
        "manager_agreed": True,
        "manager_name": f"Manager {marker}",
        "manager_email": f"manager.{marker}@example.org",
        "invitees": [{"name": f"Invitee {marker}", "agency": "Health", "email": "i@x.org"}],
        "availability": f"Tuesdays {marker}",
        "narrative_encrypted": CIPHER.encrypt(f'{{"what_is_stuck": "stuck {marker}"}}'),
        "decision_note_encrypted": CIPHER.encrypt(f"note {marker}"),
        "decided_by_id": f"admin-{marker}",
        "decided_by_name": f"Admin {marker}",
        "decided_at": NOW - 800 * DAY,
    }
    return ReferralRow(**(fields | values))


def _session(marker: str, referral_id: int | None, ended: datetime) -> MeetingSession:
    return MeetingSession(
        reference=f"S-{len(marker)}",
        referral_id=referral_id,
        tenant_id="t",
        conversation_id=f"19:meeting-{marker}",
        conversation_reference={"user": {"name": f"Name {marker}"}},
        model="think_space",
        protocol={},
        plan=[],
        facilitator_id=f"facilitator-{marker}",
        facilitator_name=f"Facilitator {marker}",
        roles={"presenter": [{"id": f"p-{marker}", "name": f"Presenter {marker}"}]},
        status="ended",
        time_spent=[60.0],
        created_by_id=f"creator-{marker}",
        created_at=ended - DAY,
        ended_at=ended,
    )


async def _plant(url: str) -> None:
    """Each kind of data twice: one a day past its period ("gone"), one a day inside ("kept")."""
    engine = engine_for(url)
    async with session_factory(engine)() as session, session.begin():
        closed_gone = _referral(1, "gone1", updated_at=NOW - 366 * DAY)
        closed_kept = _referral(2, "kept2", updated_at=NOW - 364 * DAY)
        held_gone = _referral(
            3, "gone3", status="completed", updated_at=NOW - 366 * DAY, session_at=NOW - 400 * DAY
        )
        scheduled_gone = _referral(4, "gone4", status="scheduled", session_at=NOW - 366 * DAY)
        open_kept = _referral(5, "kept5", status="submitted", created_at=NOW - 1000 * DAY)
        session.add_all([closed_gone, closed_kept, held_gone, scheduled_gone, open_kept])
        await session.flush()
        # Two sessions for one referral: more than a batch of one (the dry run's) can take.
        markers = ["gone3", "gone3b", "gone6", "kept7"]
        meetings = [
            _session("gone3", held_gone.id, NOW - 400 * DAY),
            _session("gone3b", held_gone.id, NOW - 390 * DAY),
            _session("gone6", None, NOW - 366 * DAY),
            _session("kept7", None, NOW - 364 * DAY),
        ]
        session.add_all(meetings)
        await session.flush()
        for marker, meeting in zip(markers, meetings, strict=True):
            session.add(
                SessionParticipant(
                    session_id=meeting.id, person_id=f"pp-{marker}", name=f"Participant {marker}"
                )
            )
            session.add(
                SessionContribution(
                    session_id=meeting.id,
                    step=0,
                    kind="hope",
                    author_id=f"pp-{marker}",
                    author_name=f"Participant {marker}",
                    content_encrypted=CIPHER.encrypt(f"hope {marker}"),
                )
            )
        for referral in (closed_gone, closed_kept):
            marker = referral.referrer_id.removeprefix("referrer-")
            session.add(
                ReferralQuestion(
                    referral_id=referral.id,
                    asked_by_id=f"asker-{marker}",
                    asked_by_name=f"Asker {marker}",
                    question_encrypted=CIPHER.encrypt(f"question {marker}"),
                )
            )
            session.add(
                OutboxMessage(
                    due_at=NOW - 500 * DAY,
                    kind="person",
                    target={"person_id": f"referrer-{marker}", "email": f"{marker}@x.org"},
                    referral_id=referral.id,
                    failed_at=NOW - 500 * DAY,
                )
            )
        for marker, seen in (("gone8", NOW - 366 * DAY), ("kept8", NOW - 364 * DAY)):
            session.add(
                Person(
                    person_id=f"person-{marker}",
                    tenant_id="t",
                    name=f"Person {marker}",
                    email=f"{marker}@example.org",
                    first_seen_at=NOW - 900 * DAY,
                    last_seen_at=seen,
                )
            )
            session.add(
                PersonalChat(
                    person_id=f"person-{marker}",
                    conversation_reference={"user": {"name": f"Person {marker}"}},
                    updated_at=NOW - 900 * DAY,
                )
            )
        for marker, changed in (("gone9", NOW - 31 * DAY), ("kept9", NOW - 29 * DAY)):
            session.add(
                BotStateRow(
                    key=f"msteams/conversations/{marker}",
                    etag="1",
                    data=CIPHER.encrypt_bytes(f"draft {marker}".encode()),
                    updated_at=changed,
                )
            )
        for marker, at in (("gone10", NOW - 2191 * DAY), ("kept10", NOW - 2189 * DAY)):
            session.add(
                AuditEntry(
                    at=at,
                    actor_id=f"actor-{marker}",
                    actor_name=f"Actor {marker}",
                    action="triage.declined",
                )
            )
    await engine.dispose()


async def _figures(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every value the data map keeps as the partnership's figures, table by table."""
    engine = engine_for(url)
    figures: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as connection:
        for name, table in DATA_MAP.items():
            kept = [
                Base.metadata.tables[name].c[column]
                for column, (_, rule) in table.columns.items()
                if rule is Rule.FIGURES and column != "purged_at"
            ]
            if kept:
                rows = await connection.execute(select(*kept))
                figures[name] = sorted((tuple(row) for row in rows), key=repr)
    await engine.dispose()
    return figures


async def test_the_purge_erases_exactly_what_is_past_its_period(database_url: str) -> None:
    await _plant(database_url)
    before, figures = await everything_stored(database_url), await _figures(database_url)
    sessions = session_factory(engine := engine_for(database_url))

    dry = await purge(sessions, CIPHER, PERIODS, NOW, dry_run=True, batch=1)
    assert await everything_stored(database_url) == before, "a dry run changed something"
    done = await purge(sessions, CIPHER, PERIODS, NOW, batch=2)
    again = await purge(sessions, CIPHER, PERIODS, NOW)
    await engine.dispose()

    assert dry.counts == done.counts
    assert done.counts == {
        ("referrals", "case text and names erased, ids pseudonymised"): 3,
        ("meeting_sessions", "case text and names erased, ids pseudonymised"): 3,
        ("session_participants", "case text and names erased, ids pseudonymised"): 3,
        ("referral_questions", "deleted with their closed referral"): 1,
        ("session_contributions", "deleted with their closed referral"): 3,
        ("outbox", "deleted with their closed referral"): 1,
        ("people", "not seen within the period"): 1,
        ("personal_chats", "of people not seen within the period"): 1,
        ("bot_state", "unfinished forms and dialog state left alone"): 1,
        ("audit_log", "actors pseudonymised (entries kept)"): 1,
    }
    assert again.total == 0, "a second purge found more to do"
    after = await everything_stored(database_url)
    for n in (1, 3, 4, 6, 8, 9, 10):
        assert f"gone{n}" not in after, f"gone{n} outlived its period"
    for n in (2, 5, 7, 8, 9, 10):
        assert f"kept{n}" in after, f"kept{n} was erased early"
    assert await _figures(database_url) == figures


async def test_a_purged_referral_still_shows_on_the_desk_without_its_case(scene: Scene) -> None:
    reference = await scene.refer()
    card = scene.desk_card(reference)
    declined = await press(
        scene.admin,
        "triage_decline",
        reference,
        version_of(card),
        reason="Not for us",
        signpost="0",
    )
    assert "declined" in shown(declined).lower()
    scene.clock.advance(days=364)
    await scene.bot.settle()
    assert (await stored_referral(scene, reference)).purged_at is None

    scene.clock.advance(days=2)
    await scene.bot.settle()
    row = await stored_referral(scene, reference)
    assert row.purged_at is not None and row.narrative_encrypted is None
    assert (row.status, row.kind, row.agency) == ("declined", "child_family", "Health Visiting")
    assert row.referrer_name == "" and row.referrer_id.startswith("pseudonym:")

    details = await press(scene.admin, "triage_details", reference, row.version)
    assert "Erased under the retention policy" in shown(details)
