"""The partnership's figures for a period, counted from the columns the data map keeps under
Rule.FIGURES only (`COLUMNS_READ`; tests/test_report_figures.py checks it), so the retention
purge (bot.privacy.retention) leaves last year's report as it was.

Anything drawn from people's feedback (a mean, a share, a response rate) is withheld when
fewer than SMALLEST people answered: nobody's answer can be singled out.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.core.models import FeedbackResponse, MeetingSession, ReferralRow, SessionParticipant
from bot.core.protocols import ModelCatalogue, Protocol
from bot.core.working_days import WorkingCalendar
from bot.feedback.model import Round
from bot.referrals.model import KIND_LABELS, ReferralStatus
from bot.reports.period import Period
from bot.sessions.timing import Status as SessionStatus

SMALLEST = 3  # the fewest answers a feedback figure is drawn from
NOT_GIVEN = "Not given"
FELT_LABEL = "How the session felt"
CHANGED_LABEL = "How much it changed their practice"

# Every column the report reads: each is kept by the retention purge (Rule.FIGURES).
COLUMNS_READ = (
    ReferralRow.id,
    ReferralRow.tenant_id,
    ReferralRow.created_at,
    ReferralRow.kind,
    ReferralRow.model,
    ReferralRow.agency,
    ReferralRow.status,
    ReferralRow.decided_at,
    ReferralRow.session_at,
    MeetingSession.id,
    MeetingSession.referral_id,
    MeetingSession.tenant_id,
    MeetingSession.model,
    MeetingSession.status,
    MeetingSession.started_at,
    SessionParticipant.session_id,
    SessionParticipant.agency,
    SessionParticipant.follow_up_asked_at,
    SessionParticipant.follow_up_answered_at,
    FeedbackResponse.tenant_id,
    FeedbackResponse.model,
    FeedbackResponse.round,
    FeedbackResponse.answered_on,
    FeedbackResponse.score,
    FeedbackResponse.answers,
)


@dataclass(frozen=True)
class Tally:
    label: str
    count: int


@dataclass(frozen=True)
class Spread:
    """Days from one moment to another: how many, their median and 90th percentile."""

    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Measure:
    """A figure from people's answers: a mean of 1 to 5, or a share saying yes. `value` is
    None (withheld) when fewer than SMALLEST answered."""

    label: str
    answers: int
    value: float | None
    share: bool = False  # a share (0 to 1) rather than a mean


@dataclass(frozen=True)
class ModelFeedback:
    model: str
    responses: int
    measures: list[Measure]


@dataclass(frozen=True)
class Rate:
    """Three months on: how many were asked in the period, how many answered."""

    asked: int
    answered: int
    value: float | None  # answered / asked, withheld when fewer than SMALLEST answered


@dataclass(frozen=True)
class Figures:
    period: Period
    received: int
    by_month: list[Tally]
    by_kind: list[Tally]
    by_model: list[Tally]
    by_agency: list[Tally]
    to_decision: Spread
    to_session: Spread
    sessions: int
    sessions_by_model: list[Tally]
    attendance: int
    attendance_by_agency: list[Tally]
    feedback: list[ModelFeedback]
    follow_up: Rate
    follow_up_feedback: list[ModelFeedback]  # the answers months on, as `feedback`
    declined: int
    withdrawn: int


@dataclass(frozen=True)
class ReferralFacts:
    created_at: datetime
    kind: str
    model: str
    agency: str
    status: str
    decided_at: datetime | None
    session_at: datetime | None
    started_at: datetime | None  # its first session's start, from meeting_sessions


@dataclass(frozen=True)
class FeedbackFacts:
    model: str
    score: int | None
    answers: Mapping[str, Any]


@dataclass
class Rows:
    """What the database gave, before any counting."""

    referrals: list[ReferralFacts] = field(default_factory=list)
    session_models: list[str] = field(default_factory=list)
    attendee_agencies: list[str | None] = field(default_factory=list)
    feedback: list[FeedbackFacts] = field(default_factory=list)
    follow_up_feedback: list[FeedbackFacts] = field(default_factory=list)
    follow_ups: list[datetime | None] = field(default_factory=list)  # answered at, or None


@dataclass(frozen=True)
class Labels:
    """How figures are named: models from the catalogue, questions from the protocol files."""

    models: ModelCatalogue
    # model id -> question key -> its text, in the protocol's order
    questions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    follow_up_questions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, protocols: Mapping[str, Protocol], models: ModelCatalogue) -> Labels:
        return cls(
            models=models,
            questions={
                model: {q.key: q.text for q in protocol.feedback.questions}
                for model, protocol in protocols.items()
            },
            follow_up_questions={
                model: {q.key: q.text for q in protocol.feedback.follow_up_questions}
                for model, protocol in protocols.items()
            },
        )


async def figures_for(
    session: AsyncSession,
    tenant_id: str | None,
    period: Period,
    calendar: WorkingCalendar,
    labels: Labels,
) -> Figures:
    """The figures of one tenant (every tenant with None) for the period."""
    rows = await gather(session, tenant_id, period, calendar)
    return count(rows, period, calendar, labels)


async def gather(
    session: AsyncSession, tenant_id: str | None, period: Period, calendar: WorkingCalendar
) -> Rows:
    start, end = period.start(calendar.zone), period.end(calendar.zone)

    def of_tenant(column: Any) -> list[ColumnElement[bool]]:
        return [] if tenant_id is None else [column == tenant_id]

    received = select(ReferralRow.id).where(
        ReferralRow.created_at >= start,
        ReferralRow.created_at < end,
        *of_tenant(ReferralRow.tenant_id),
    )
    first_session = (
        select(MeetingSession.referral_id, func.min(MeetingSession.started_at).label("started_at"))
        .where(MeetingSession.referral_id.in_(received), MeetingSession.started_at.is_not(None))
        .group_by(MeetingSession.referral_id)
        .subquery()
    )
    referrals = await session.execute(
        select(
            ReferralRow.created_at,
            ReferralRow.kind,
            ReferralRow.model,
            ReferralRow.agency,
            ReferralRow.status,
            ReferralRow.decided_at,
            ReferralRow.session_at,
            first_session.c.started_at,
        )
        .outerjoin(first_session, first_session.c.referral_id == ReferralRow.id)
        .where(ReferralRow.id.in_(received))
        .order_by(ReferralRow.id)
    )
    held = select(MeetingSession.id).where(
        MeetingSession.status == SessionStatus.ENDED,
        MeetingSession.started_at >= start,
        MeetingSession.started_at < end,
        *of_tenant(MeetingSession.tenant_id),
    )
    session_models = await session.scalars(
        select(MeetingSession.model).where(MeetingSession.id.in_(held))
    )
    agencies = await session.scalars(
        select(SessionParticipant.agency).where(SessionParticipant.session_id.in_(held))
    )
    feedback = await session.execute(
        select(
            FeedbackResponse.round,
            FeedbackResponse.model,
            FeedbackResponse.score,
            FeedbackResponse.answers,
        ).where(
            FeedbackResponse.answered_on >= period.first,
            FeedbackResponse.answered_on <= period.last,
            *of_tenant(FeedbackResponse.tenant_id),
        )
    )
    follow_ups = await session.scalars(
        select(SessionParticipant.follow_up_answered_at)
        .join(MeetingSession, MeetingSession.id == SessionParticipant.session_id)
        .where(
            SessionParticipant.follow_up_asked_at >= start,
            SessionParticipant.follow_up_asked_at < end,
            *of_tenant(MeetingSession.tenant_id),
        )
    )
    answered = [
        (round_, FeedbackFacts(model, score, answers if isinstance(answers, dict) else {}))
        for round_, model, score, answers in feedback
    ]
    return Rows(
        referrals=[ReferralFacts(*row) for row in referrals],
        session_models=list(session_models),
        attendee_agencies=list(agencies),
        feedback=[fact for round_, fact in answered if round_ == Round.AFTER],
        follow_up_feedback=[fact for round_, fact in answered if round_ == Round.FOLLOW_UP],
        follow_ups=list(follow_ups),
    )


def count(rows: Rows, period: Period, calendar: WorkingCalendar, labels: Labels) -> Figures:
    referrals = rows.referrals
    months = Counter(calendar.local(row.created_at).date().replace(day=1) for row in referrals)
    statuses = Counter(row.status for row in referrals)
    answered = sum(moment is not None for moment in rows.follow_ups)
    return Figures(
        period=period,
        received=len(referrals),
        by_month=[Tally(f"{first:%b %Y}", months[first]) for first in period.months()],
        by_kind=_most_first(Counter(_kind_label(row.kind) for row in referrals)),
        by_model=_most_first(Counter(labels.models.label(row.model) for row in referrals)),
        by_agency=by_agency(row.agency for row in referrals),
        to_decision=spread(
            _days(row.created_at, row.decided_at) for row in referrals if row.decided_at is not None
        ),
        to_session=spread(
            _days(row.created_at, moment)
            for row in referrals
            if (moment := _session_moment(row)) is not None
        ),
        sessions=len(rows.session_models),
        sessions_by_model=_most_first(Counter(map(labels.models.label, rows.session_models))),
        attendance=len(rows.attendee_agencies),
        attendance_by_agency=by_agency(rows.attendee_agencies),
        feedback=feedback_by_model(rows.feedback, FELT_LABEL, labels.questions, labels.models),
        follow_up=Rate(
            len(rows.follow_ups),
            answered,
            answered / len(rows.follow_ups) if answered >= SMALLEST else None,
        ),
        follow_up_feedback=feedback_by_model(
            rows.follow_up_feedback, CHANGED_LABEL, labels.follow_up_questions, labels.models
        ),
        declined=statuses[ReferralStatus.DECLINED],
        withdrawn=statuses[ReferralStatus.WITHDRAWN],
    )


def by_agency(names: Iterable[str | None]) -> list[Tally]:
    """Agencies are typed freely: "Oak School", "oak  school" and "OAK SCHOOL" are one, shown
    as its most common spelling (the first in the alphabet of those as common)."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for name in names:
        tidy = " ".join((name or "").split())
        spellings[tidy.casefold()][tidy or NOT_GIVEN] += 1
    return sorted(
        (
            Tally(min(found, key=lambda s: (-found[s], s)), sum(found.values()))
            for found in spellings.values()
        ),
        key=_order,
    )


def spread(days: Iterable[float]) -> Spread:
    """The median, and the 90th percentile by nearest rank: the smallest value that at least
    90% of the values do not exceed."""
    ordered = sorted(days)
    if not ordered:
        return Spread(0, None, None)
    rank = math.ceil(0.9 * len(ordered))
    return Spread(len(ordered), statistics.median(ordered), ordered[rank - 1])


def feedback_by_model(
    responses: Sequence[FeedbackFacts],
    headline: str,
    questions_of: Mapping[str, Mapping[str, str]],
    models: ModelCatalogue,
) -> list[ModelFeedback]:
    """Per model: the mean headline score and each question's mean (or share of yes)."""
    by_model: dict[str, list[FeedbackFacts]] = defaultdict(list)
    for response in responses:
        by_model[response.model].append(response)
    found = []
    for model, answers in by_model.items():
        felt = mean_of(headline, [a.score for a in answers if a.score is not None])
        questions = questions_of.get(model, {})
        keys = list(questions) + sorted(
            {key for a in answers for key in a.answers} - set(questions)
        )
        measures = [felt]
        for key in keys:
            given = [a.answers[key] for a in answers if key in a.answers]
            if not given:
                continue
            label = questions.get(key, key.replace("_", " ").capitalize())
            yes_no = [value for value in given if value in ("yes", "no")]
            if yes_no:
                measures.append(share_of(label, yes_no))
            else:
                measures.append(mean_of(label, [v for v in given if _is_score(v)]))
        found.append(ModelFeedback(models.label(model), len(answers), measures))
    return sorted(found, key=lambda each: (-each.responses, each.model))


def mean_of(label: str, scores: Sequence[int | float]) -> Measure:
    value = statistics.fmean(scores) if len(scores) >= SMALLEST else None
    return Measure(label, len(scores), value)


def share_of(label: str, yes_no: Sequence[str]) -> Measure:
    value = yes_no.count("yes") / len(yes_no) if len(yes_no) >= SMALLEST else None
    return Measure(label, len(yes_no), value, share=True)


def _session_moment(row: ReferralFacts) -> datetime | None:
    """When its session was held: the bot's session start, else the booked time once the
    referral says the session took place."""
    if row.started_at is not None:
        return row.started_at
    if row.status == ReferralStatus.COMPLETED:
        return row.session_at
    return None


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def _kind_label(kind: str) -> str:
    return next((label for known, label in KIND_LABELS.items() if known == kind), kind)


def _is_score(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _most_first(counts: Counter[str]) -> list[Tally]:
    return sorted((Tally(label, n) for label, n in counts.items()), key=_order)


def _order(tally: Tally) -> tuple[int, str]:
    return (-tally.count, tally.label.casefold())
