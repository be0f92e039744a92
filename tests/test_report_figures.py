"""The report's figures equal hand-counted fixtures, withhold what fewer than 3 people
answered, read only what the retention purge keeps, and stay the same after it; the periods
an admin can type; the CSV; the operators' command."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.crypto import Cipher
from bot.core.database import session_factory
from bot.core.models import (
    Base,
    FeedbackResponse,
    MeetingSession,
    ReferralRow,
    SessionParticipant,
)
from bot.core.protocols import BUILT_IN, catalogue_of, load_protocols
from bot.core.settings import DEFAULT_OFFERED_MODELS
from bot.core.working_days import WorkingCalendar
from bot.privacy.data_map import DATA_MAP, Rule
from bot.privacy.retention import Periods, purge
from bot.reports import __main__ as cli
from bot.reports.export import WITHHELD, csv_of, rows_of
from bot.reports.figures import (
    CHANGED_LABEL,
    COLUMNS_READ,
    FELT_LABEL,
    Figures,
    Labels,
    Measure,
    Rate,
    Spread,
    Tally,
    by_agency,
    figures_for,
    spread,
)
from bot.reports.period import Period, PeriodError, month, parse_period, quarter, year
from tests.support.databases import TEST_KEY, engine_for

T, OTHER = "tenant-t", "tenant-other"
CALENDAR = WorkingCalendar()  # Europe/London: British Summer Time in July to September
Q3 = quarter(2026, 3)
DAY = timedelta(days=1)
PROTOCOLS = load_protocols([BUILT_IN])
LABELS = Labels.of(PROTOCOLS, catalogue_of(PROTOCOLS, DEFAULT_OFFERED_MODELS))
CIPHER = Cipher([TEST_KEY])


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _referral(number: int, created: datetime, **values: Any) -> ReferralRow:
    fields: dict[str, Any] = {
        "reference": f"RP-2026-{number:04d}",
        "status": "submitted",
        "created_at": created,
        "updated_at": created,
        "tenant_id": T,
        "referrer_id": f"referrer-{number}",
        "referrer_name": f"Referrer {number}",
        "conversation_reference": {"user": {"id": "29:x"}},
        "kind": "child_family",
        "model": "think_space",
        "agency": "Oak School",
        "role": "DSL",
        "is_lead_professional": True,
        "manager_agreed": True,
        "invitees": [],
        "narrative_encrypted": CIPHER.encrypt(f"stuck {number}"),
    }
    return ReferralRow(**(fields | values))


def _session(number: int, model: str, started: datetime, **values: Any) -> MeetingSession:
    fields: dict[str, Any] = {
        "reference": f"S-{number}",
        "tenant_id": T,
        "conversation_id": f"19:meeting-{number}",
        "conversation_reference": {"conversation": {"id": f"19:meeting-{number}"}},
        "model": model,
        "protocol": {},
        "plan": [],
        "facilitator_name": f"Facilitator {number}",
        "roles": {},
        "status": "ended",
        "time_spent": [],
        "created_by_id": f"creator-{number}",
        "created_at": started,
        "started_at": started,
        "ended_at": started + timedelta(hours=2),
    }
    return MeetingSession(**(fields | values))


async def _plant(url: str) -> None:
    """The fixtures, counted by hand in the comments: Q3 2026 for tenant T."""
    engine = engine_for(url)
    async with session_factory(engine)() as session, session.begin():
        # Referrals received in Q3 (by local date): 1 to 5.
        r1 = _referral(  # 00:30 on 1 July in London: July; its session 20 days on
            1, utc(2026, 6, 30, 23, 30), status="completed", decided_at=utc(2026, 7, 2, 23, 30)
        )
        r2 = _referral(
            2,
            utc(2026, 7, 10, 10),
            model="space_to_think",
            agency="oak  school",
            status="declined",
            decided_at=utc(2026, 7, 11, 10),
        )
        r3 = _referral(
            3, utc(2026, 8, 5, 10), kind="theme", model="space_to_think", status="withdrawn"
        )
        r4 = _referral(  # held, booked by hand: its session_at, 30 days on
            4,
            utc(2026, 8, 20, 10),
            kind="network_challenge",
            model="re_think",
            agency=" Health  Visiting ",
            status="completed",
            decided_at=utc(2026, 8, 24, 10),
            session_at=utc(2026, 9, 19, 10),
        )
        r5 = _referral(  # scheduled, not held: no time to session
            5,
            utc(2026, 9, 15, 10),
            agency="Police",
            status="scheduled",
            decided_at=utc(2026, 9, 18, 10),
            session_at=utc(2026, 10, 20, 10),
        )
        r6 = _referral(6, utc(2026, 9, 30, 23, 30))  # 00:30 on 1 October in London
        r7 = _referral(7, utc(2026, 8, 1, 10), tenant_id=OTHER)
        r8 = _referral(8, utc(2026, 6, 30, 22, 30))  # 23:30 on 30 June in London
        session.add_all([r1, r2, r3, r4, r5, r6, r7, r8])
        await session.flush()
        # Sessions held (ended, started in Q3, tenant T): S1, S2, S3.
        s1 = _session(1, "think_space", r1.created_at + 20 * DAY, referral_id=r1.id)
        s2 = _session(2, "think_space", r1.created_at + 25 * DAY, referral_id=r1.id)
        s3 = _session(3, "space_to_think", utc(2026, 8, 10, 10))
        s4 = _session(4, "space_to_think", utc(2026, 9, 1, 10), status="running", ended_at=None)
        s5 = _session(5, "re_think", utc(2026, 6, 30, 22))  # 23:00 on 30 June in London
        s6 = _session(6, "re_think", utc(2026, 8, 12, 10), tenant_id=OTHER)
        s7 = _session(7, "re_think", utc(2026, 4, 2, 10))  # asked three months on in Q3
        session.add_all([s1, s2, s3, s4, s5, s6, s7])
        await session.flush()
        attendees: dict[MeetingSession, list[str | None]] = {
            s1: ["Oak School", "Health Visiting", None],
            s2: ["oak school", "Police"],
            s3: ["Police", "police", None, "Health visiting"],
            s4: ["Not counted"],
            s5: ["Not counted"],
            s6: ["Not counted"],
        }
        for meeting, agencies in attendees.items():
            for i, agency in enumerate(agencies):
                session.add(
                    SessionParticipant(
                        session_id=meeting.id,
                        person_id=f"p{meeting.id}-{i}",
                        name="N",
                        agency=agency,
                    )
                )
        # Three months on: asked in Q3 (local time) 5, answered 3; two more asked outside it,
        # one in another tenant. In October: asked 3, answered 2 (withheld).
        asked = [
            (utc(2026, 7, 2, 9), utc(2026, 7, 3, 9)),
            (utc(2026, 7, 2, 9), None),
            (utc(2026, 8, 2, 9), utc(2026, 8, 9, 9)),
            (utc(2026, 9, 2, 9), utc(2026, 10, 9, 9)),  # asked in Q3, answered later
            (utc(2026, 9, 30, 22, 59), None),  # 23:59 on 30 September in London
            (utc(2026, 9, 30, 23, 0), utc(2026, 10, 2, 9)),  # midnight: October
            (utc(2026, 10, 5, 9), utc(2026, 10, 6, 9)),
            (utc(2026, 10, 5, 9), None),
            (utc(2026, 6, 30, 22, 59), utc(2026, 7, 1, 9)),  # 23:59 on 30 June
        ]
        for i, (asked_at, answered_at) in enumerate(asked):
            session.add(
                SessionParticipant(
                    session_id=s7.id,
                    person_id=f"follow-{i}",
                    name="N",
                    follow_up_asked_at=asked_at,
                    follow_up_answered_at=answered_at,
                )
            )
        session.add(
            SessionParticipant(
                session_id=s6.id,
                person_id="follow-other",
                name="N",
                follow_up_asked_at=utc(2026, 8, 2, 9),
                follow_up_answered_at=utc(2026, 8, 3, 9),
            )
        )

        def response(model: str, score: int | None, answers: dict[str, Any], **values: Any) -> None:
            fields: dict[str, Any] = {
                "session_id": s1.id,
                "tenant_id": T,
                "model": model,
                "round": "after",
                "answered_on": date(2026, 8, 1),
                "score": score,
                "answers": answers,
                "words": "It helped me see the child differently.",
            }
            session.add(FeedbackResponse(**(fields | values)))

        # Think Space: 4 responses, felt 5 4 4 3 (4.0); safe_confidential 5 4 3 4 (4.0);
        # lived_experience from only 2 (withheld).
        response("think_space", 5, {"safe_confidential": 5, "lived_experience": 5})
        response("think_space", 4, {"safe_confidential": 4})
        response("think_space", 4, {"safe_confidential": 3, "lived_experience": 3})
        response("think_space", 3, {"safe_confidential": 4}, answered_on=date(2026, 9, 30))
        # Space to Think: 2 responses: every figure withheld.
        response("space_to_think", 5, {"blame_free": 5})
        response("space_to_think", 1, {"blame_free": 1}, answered_on=date(2026, 7, 1))
        # Re-think: 3 responses, 2 scores (withheld); a yes/no asked of all 3: 2 in 3 yes.
        response("re_think", 4, {"clear_next_step": "yes"})
        response("re_think", 2, {"clear_next_step": "no"})
        response("re_think", None, {"clear_next_step": "yes"})
        # Three months on, counted apart: Think Space 3 scores (shown), a yes/no from 2 (withheld).
        response("think_space", 1, {}, round="follow_up")
        response("think_space", 4, {"own_actions": "yes"}, round="follow_up")
        response("think_space", 4, {"own_actions": "no"}, round="follow_up")
        # Not counted: another tenant, outside the quarter.
        response("think_space", 1, {}, tenant_id=OTHER)
        response("think_space", 1, {}, answered_on=date(2026, 10, 1))
        response("think_space", 1, {}, answered_on=date(2026, 6, 30))
    await engine.dispose()


async def _figures(url: str, period: Period = Q3, tenant: str | None = T) -> Figures:
    engine = engine_for(url)
    try:
        async with session_factory(engine)() as session:
            return await figures_for(session, tenant, period, CALENDAR, LABELS)
    finally:
        await engine.dispose()


def _question(model: str, key: str) -> str:
    return LABELS.questions[model][key]


async def test_the_figures_equal_the_hand_count(database_url: str) -> None:
    await _plant(database_url)
    figures = await _figures(database_url)
    assert figures.received == 5
    assert figures.by_month == [Tally("Jul 2026", 2), Tally("Aug 2026", 2), Tally("Sep 2026", 1)]
    assert figures.by_kind == [
        Tally("A child or family", 3),
        Tally("A challenge or communication difficulty in the network", 1),
        Tally("A theme", 1),
    ]
    assert figures.by_model == [
        Tally("Space to Think", 2),
        Tally("Think Space", 2),
        Tally("Re-think", 1),
    ]
    # "Oak School" twice and "oak  school" once are one agency, shown as its commonest spelling.
    assert figures.by_agency == [
        Tally("Oak School", 3),
        Tally("Health Visiting", 1),
        Tally("Police", 1),
    ]
    assert (figures.declined, figures.withdrawn) == (1, 1)
    # Decided after 2, 1, 4 and 3 days: median 2.5; 90th percentile by nearest rank: 4.
    assert figures.to_decision == Spread(4, 2.5, 4.0)
    # Held after 20 days (the first of its two sessions) and 30 (booked by hand).
    assert figures.to_session == Spread(2, 25.0, 30.0)
    assert figures.sessions == 3
    assert figures.sessions_by_model == [Tally("Think Space", 2), Tally("Space to Think", 1)]
    assert figures.attendance == 9
    assert figures.attendance_by_agency == [
        Tally("Police", 3),
        Tally("Health Visiting", 2),
        Tally("Not given", 2),
        Tally("Oak School", 2),
    ]
    feedback = {model.model: model for model in figures.feedback}
    assert [model.model for model in figures.feedback] == [
        "Think Space",
        "Re-think",
        "Space to Think",
    ]
    think_space = feedback["Think Space"]
    assert think_space.responses == 4
    assert think_space.measures == [
        Measure(FELT_LABEL, 4, 4.0),
        Measure(_question("think_space", "safe_confidential"), 4, 4.0),
        Measure(_question("think_space", "lived_experience"), 2, None),
    ]
    assert feedback["Space to Think"].measures == [
        Measure(FELT_LABEL, 2, None),
        Measure(_question("space_to_think", "blame_free"), 2, None),
    ]
    assert feedback["Re-think"].measures == [
        Measure(FELT_LABEL, 2, None),
        Measure("Clear next step", 3, pytest.approx(2 / 3), share=True),  # type: ignore[arg-type]
    ]
    assert figures.follow_up == Rate(5, 3, 3 / 5)
    assert [(model.model, model.responses) for model in figures.follow_up_feedback] == [
        ("Think Space", 3)
    ]
    assert figures.follow_up_feedback[0].measures == [
        Measure(CHANGED_LABEL, 3, 3.0),
        Measure(PROTOCOLS["think_space"].feedback.follow_up_questions[0].text, 2, None, share=True),
    ]


async def test_small_cells_are_withheld_and_tenants_kept_apart(database_url: str) -> None:
    await _plant(database_url)
    october = await _figures(database_url, month(2026, 10))
    assert october.follow_up == Rate(3, 2, None)  # 2 answers: no rate
    assert october.received == 1  # 00:30 on 1 October, London time
    csv_rows = rows_of(october)
    assert ("Three months on", "Answered", "", WITHHELD) in csv_rows
    assert ("Three months on", "Response rate (%)", "", WITHHELD) in csv_rows
    other = await _figures(database_url, tenant=OTHER)
    assert (other.received, other.sessions, other.attendance) == (1, 1, 2)
    assert other.follow_up == Rate(1, 1, None)
    everyone = await _figures(database_url, tenant=None)
    assert (everyone.received, everyone.sessions) == (6, 4)


def test_the_report_reads_only_what_the_purge_keeps() -> None:
    for column in COLUMNS_READ:
        table = column.table.name
        assert DATA_MAP[table].columns[column.key][1] is Rule.FIGURES, f"{table}.{column.key}"
    assert all(column.table in Base.metadata.tables.values() for column in COLUMNS_READ)


async def test_last_years_report_is_the_same_after_the_retention_purge(database_url: str) -> None:
    await _plant(database_url)
    before = await _figures(database_url)
    everyone_before = await _figures(database_url, year(2026), tenant=None)
    engine = engine_for(database_url)
    short = Periods(case=DAY, people=DAY, drafts=DAY, audit=30 * DAY)
    purged = await purge(session_factory(engine), CIPHER, short, utc(2028, 6, 1))
    await engine.dispose()
    erased = dict(((table, what), rows) for (table, what), rows in purged.counts.items())
    assert sum(rows for (table, _), rows in erased.items() if table == "referrals") == 5
    assert sum(rows for (table, _), rows in erased.items() if table == "meeting_sessions") == 6
    assert await _figures(database_url) == before
    assert await _figures(database_url, year(2026), tenant=None) == everyone_before
    # The words went with the case; every response, with its scores and answers, stayed.
    engine = engine_for(database_url)
    async with session_factory(engine)() as session:
        kept = list(await session.scalars(select(FeedbackResponse)))
    await engine.dispose()
    assert len(kept) == 15
    assert {response.words for response in kept} == {None}
    assert all(response.score or response.answers for response in kept)


def test_the_periods_an_admin_can_type() -> None:
    today = date(2026, 11, 20)
    assert parse_period("", today) == Period(date(2026, 10, 1), date(2026, 12, 31), "Q4 2026")
    assert parse_period("quarter", today) == quarter(2026, 4)
    assert parse_period("month", today) == Period(
        date(2026, 11, 1), date(2026, 11, 30), "November 2026"
    )
    assert parse_period("year", today) == Period(date(2026, 1, 1), date(2026, 12, 31), "2026")
    assert parse_period("2026-10", today) == month(2026, 10)
    assert parse_period("2024-02", today).last == date(2024, 2, 29)
    assert parse_period("2026-q3", today) == Period(date(2026, 7, 1), date(2026, 9, 30), "Q3 2026")
    assert parse_period("2026-Q1", today) == quarter(2026, 1)
    assert parse_period("2025", today) == year(2025)
    assert parse_period("2026-01-01 to 2026-03-31", today) == quarter(2026, 1)  # named
    assert parse_period("2026-01-15 2026-03-31", today) == parse_period(
        "2026-01-15..2026-03-31", today
    )
    assert parse_period("2026-01-15 to 2026-03-31", today) == Period(
        date(2026, 1, 15), date(2026, 3, 31)
    )
    assert parse_period("2026-11-20 to 2026-11-20", today).months() == [date(2026, 11, 1)]
    # As people in England write them: day first; quarters and months by name; "last".
    assert parse_period("01/10/2026 to 31/12/2026", today) == quarter(2026, 4)
    assert parse_period("from 1/7/2026 to 30/9/2026", today) == quarter(2026, 3)
    assert parse_period("q3 2026", today) == parse_period("2026 q3", today) == quarter(2026, 3)
    assert parse_period("october 2026", today) == parse_period("oct 2026", today) == month(2026, 10)
    assert parse_period("last quarter", today) == quarter(2026, 3)
    assert parse_period("last month", today) == month(2026, 10)
    assert parse_period("last year", today) == year(2025)
    assert parse_period("last quarter", date(2026, 2, 1)) == quarter(2025, 4)
    assert parse_period("last month", date(2026, 1, 5)) == month(2025, 12)
    # Nothing to count yet.
    for future in ("2027", "2027-q1", "december 2026", "2026-12-01 to 2026-12-31"):
        with pytest.raises(PeriodError):
            parse_period(future, today)
    for nonsense in (
        "nonsense",
        "2026-13",
        "2026-q5",
        "2026-02-30 to 2026-03-01",
        "31/02/2026 to 01/03/2026",
        "last week",
        "smarch 2026",
    ):
        with pytest.raises(PeriodError) as refused:
            parse_period(nonsense, today)
        assert "report 2026-Q3" in str(refused.value) or "no month" in str(refused.value)
    with pytest.raises(PeriodError, match="ends before it starts"):
        parse_period("2026-03-31 to 2026-01-01", today)
    with pytest.raises(PeriodError, match="over 3 years"):
        parse_period("2020-01-01 to 2026-01-01", today)
    assert parse_period("2023-01-01 to 2025-12-31", today).first == date(2023, 1, 1)
    assert Period.from_token(quarter(2026, 3).token()) == quarter(2026, 3)
    assert Period.from_token(month(2026, 2).token()) == month(2026, 2)
    assert Period.from_token(year(2026).token()) == year(2026)
    assert quarter(2026, 3).words() == "Q3 2026: 1 July to 30 September 2026"
    assert Period(date(2025, 12, 1), date(2026, 1, 31)).words() == (
        "1 December 2025 to 31 January 2026"
    )


def test_agencies_and_percentiles_by_hand() -> None:
    assert by_agency(["A", "a", "b", "B", "B", None, "  "]) == [
        Tally("B", 3),
        Tally("A", 2),
        Tally("Not given", 2),
    ]
    assert spread([]) == Spread(0, None, None)
    assert spread([7.0]) == Spread(1, 7.0, 7.0)
    ten = [float(n) for n in range(1, 11)]  # 90% of 10: the 9th
    assert spread(ten) == Spread(10, 5.5, 9.0)
    assert spread([*ten, 11.0]).p90 == 10.0  # 90% of 11 is 9.9: the 10th


async def test_the_csv_has_every_figure_and_no_formulas(database_url: str) -> None:
    await _plant(database_url)
    engine = engine_for(database_url)
    async with session_factory(engine)() as session, session.begin():
        session.add(_referral(9, utc(2026, 7, 20, 10), agency='=HYPERLINK("x")'))
    await engine.dispose()
    content = csv_of(await _figures(database_url))
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["Section", "Item", "Value", "Note"]
    assert ["Referrals", "Received", "6", "referrals made in the period"] in rows
    assert ["Referrals by referrer's agency", '\'=HYPERLINK("x")', "1", ""] in rows
    felt = f"{FELT_LABEL} (mean of 1 to 5)"
    assert ["Feedback after the session: Think Space", felt, "4.0", "from 4 answers"] in rows
    assert ["Feedback after the session: Space to Think", felt, "", WITHHELD] in rows
    assert ["Three months on", "Response rate (%)", "60", "from 3 answers"] in rows


async def test_operators_get_the_same_csv_from_the_command_line(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _plant(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENCRYPTION_KEYS", TEST_KEY)
    target = tmp_path / "q3.csv"
    code = await _in_thread(
        cli.main,
        ["--from", "2026-07-01", "--to", "2026-09-30", "--tenant", T, "--csv", str(target)],
    )
    assert code == 0
    assert target.read_bytes() == csv_of(await _figures(database_url))
    assert "5 referrals received, 3 sessions held, 9 people took part" in capsys.readouterr().out
    assert (
        await _in_thread(cli.main, ["--from", "2026-09-30", "--to", "2026-07-01", "--csv", "x"])
        == 2
    )


async def _in_thread(function: Any, *arguments: Any) -> Any:
    """The command runs its own event loop (asyncio.run): not inside the test's."""
    import asyncio

    return await asyncio.to_thread(function, *arguments)
