"""Sample session cards for the gallery (see tests.support.gallery): one per state a chat shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.protocols import BUILT_IN, Collect, Protocol, load_protocols, plan
from bot.core.working_days import WorkingCalendar
from bot.sessions.meeting import STALE, choice_of, scheduled_line
from bot.sessions.timing import Status
from bot.sessions.views import Contribution, Holder, ReferralLink, SessionView
from cards.sessions import (
    agreement_card,
    collect_card,
    contributions_card,
    moved_card,
    opening_card,
    questions_card,
    roles_card,
    setup_card,
    stage_card,
    summary_card,
)

NOW = datetime(2026, 11, 24, 13, 21, tzinfo=UTC)
CALENDAR = WorkingCalendar()


def sample_view(protocol: Protocol, step: int = 2, **changes: Any) -> SessionView:
    steps = plan(protocol)
    view = SessionView(
        id=7,
        reference="RP-2026-0007",
        tenant_id="t",
        referral_id=1,
        model=protocol.id,
        protocol=protocol.model_dump(mode="json", by_alias=True),
        steps=steps,
        status=Status.RUNNING,
        step=step,
        version=4,
        ends_at=NOW + timedelta(minutes=8, seconds=20),
        remaining_seconds=None,
        allotted_seconds=steps[step].default_minutes * 60,
        time_spent=[330.0, 240.0] + [0.0] * (len(steps) - 2),
        no_notes=False,
        independent_facilitator=False,
        facilitator_id="f-1",
        facilitator_name="Jo Facilitator",
        roles={
            protocol.facilitator_role: [Holder("f-1", "Jo Facilitator")],
            (protocol.presenter_role or protocol.facilitator_role): [
                Holder("p-1", "Pat Presenter")
            ],
        },
        conversation_reference={},
        meeting_id="m",
        stage_card_id="a-1",
        roles_card_id="a-2",
        started_at=NOW - timedelta(minutes=12),
        ended_at=None,
    )
    return replace(view, **changes)


def session_gallery() -> dict[str, Callable[[], dict[str, Any]]]:
    protocols = load_protocols([BUILT_IN])
    stt, ts, rt = protocols["space_to_think"], protocols["think_space"], protocols["re_think"]
    choices = [choice_of(p) for p in protocols.values()]
    running = sample_view(stt)
    no_notes = sample_view(rt, 5, no_notes=True, independent_facilitator=True)
    ended = sample_view(stt, 5, status=Status.ENDED, ended_at=NOW, time_spent=[
        330.0, 240.0, 900.0, 150.0, 600.0, 420.0])  # fmt: skip
    actions = [
        Contribution(5, "actions", "p-1", "Pat Presenter", {
            "what": "Share the safety plan with school", "who": "Health visitor",
            "by_when": "2026-12-01", "where": "Health visiting record"}),
        Contribution(5, "actions", "c-1", "Chris Consultant", {
            "what": "Invite school nurse to the next core group", "who": "Social worker",
            "by_when": "2026-12-08", "where": "Children's social care record"}),
    ]  # fmt: skip
    hopes = [
        Contribution(2, "hopes", "p-1", "Pat", {"hope": "A shared picture of what is working"}),
        Contribution(2, "hopes", "c-1", "Chris", {"hope": "Clarity on who leads"}),
    ]
    blockers = [
        Contribution(3, "blockers_enablers", "p-1", "Pat", {
            "blockers": ["No shared plan", "Missed meetings", "Changes of worker"],
            "enablers": ["School knows the family well", "Health visitor trusted"]}),
        Contribution(3, "blockers_enablers", "c-1", "Chris", {
            "blockers": ["Late referrals"], "enablers": ["Good attendance"]}),
    ]  # fmt: skip
    return {
        "session-opening": lambda: opening_card("Safeguarding Children Partnership", choices),
        # In the chat of a meeting the bot booked (or was given the link of): bot.sessions.meeting.
        "session-opening-scheduled": lambda: opening_card(
            "Safeguarding Children Partnership",
            choices,
            scheduled_line(
                ReferralLink(
                    7,
                    "RP-2026-0007",
                    "f-2",
                    "Ade Independent",
                    3,
                    rt.id,
                    datetime(2026, 12, 1, 13, 0, tzinfo=UTC),
                ),
                rt.name,
                CALENDAR,
            ),
        ),
        "session-setup": lambda: setup_card(choices),
        "session-setup-with-error": lambda: setup_card(
            choices,
            values={"model": "re_think", "reference": "RP-2026-9999", "independent": "true"},
            notice="I cannot find an accepted referral RP-2026-9999.",
        ),
        "session-agreement": lambda: agreement_card(running),
        "session-agreement-no-notes": lambda: agreement_card(no_notes),
        "session-roles": lambda: roles_card(sample_view(stt, 0, status=Status.READY)),
        # Cancel this set-up, pressed before the session began (bot.sessions.meeting).
        "session-roles-cancelled": lambda: roles_card(
            sample_view(stt, 0, status=Status.ENDED, started_at=None, ended_at=NOW),
            notice="Set-up cancelled: type start session to set one up again.",
        ),
        "session-stage": lambda: stage_card(running, NOW, CALENDAR),
        "session-stage-paused": lambda: stage_card(
            replace(running, status=Status.PAUSED, ends_at=None, remaining_seconds=250.0),
            NOW,
            CALENDAR,
        ),
        "session-stage-over-time": lambda: stage_card(
            replace(running, ends_at=NOW - timedelta(minutes=2)), NOW, CALENDAR
        ),
        # Inside the warning before the end (bot.sessions.timing), and the card once ended.
        "session-stage-nearly-time": lambda: stage_card(
            replace(running, ends_at=NOW + timedelta(seconds=50)), NOW, CALENDAR
        ),
        "session-stage-ended": lambda: stage_card(ended, NOW, CALENDAR),
        # An earlier copy of the stage card, collapsed when the live one was posted again.
        "session-stage-moved": lambda: moved_card(running, 1),
        "session-stage-cycle": lambda: stage_card(sample_view(ts, 5), NOW, CALENDAR),
        "session-stage-no-notes": lambda: stage_card(no_notes, NOW, CALENDAR),
        "session-stage-refused": lambda: stage_card(running, NOW, CALENDAR, notice=STALE),
        "session-collect-hopes": lambda: collect_card(sample_view(ts, 2), 2),
        "session-collect-blockers": lambda: collect_card(sample_view(ts, 3), 3),
        "session-collect-actions": lambda: collect_card(sample_view(stt, 5), 5),
        "session-hopes-together": lambda: contributions_card(
            sample_view(ts, 2), Collect.HOPES, hopes
        ),
        "session-blockers-together": lambda: contributions_card(
            sample_view(ts, 3), Collect.BLOCKERS_ENABLERS, blockers
        ),
        "session-questions": lambda: questions_card(running),
        "session-summary": lambda: summary_card(ended, actions, CALENDAR),
        "session-summary-no-notes": lambda: summary_card(
            replace(no_notes, status=Status.ENDED, ended_at=NOW), [], CALENDAR
        ),
    }
