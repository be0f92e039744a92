"""Sessions in meeting chats: stored, changed one transaction at a time, timed by the database.

Every change (a button, a tick of the timer) locks the session's row, applies the rules in
`bot.sessions.timing`, writes the row back with the messages the change causes (prompts,
card updates) into the outbox, and commits: so a prompt is queued once, or not at all.
On PostgreSQL the timer claims due rows with `FOR UPDATE SKIP LOCKED`, so two instances
share the work without doing any of it twice; SQLite has a single writer anyway.

The live stage card stays in reach: once a session has begun, the bot's latest message in
its chat is the stage card, or one short prompt directly beneath it. Whatever else the bot
posts there (a contribution form, a card someone asked for, a second prompt) is followed by
the stage card posted afresh, and the earlier copy collapses to one line (`with_stage_card`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import audit
from bot.core.audit import Action, Actor
from bot.core.clock import Clock
from bot.core.crypto import Cipher
from bot.core.models import (
    MeetingSession,
    OutboxMessage,
    ReferralRow,
    SessionContribution,
    SessionParticipant,
)
from bot.core.months_on import follow_up_moment
from bot.core.outbox import Kind, Message, OutboxWriter, triage_card
from bot.core.protocols import Collect, Feedback, Protocol, Step, plan
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import ReferralStatus
from bot.sessions.timing import Control, Rules, Status, Timing, apply, next_tick, tick
from bot.sessions.views import Contribution, Holder, ReferralLink, SessionView

log = logging.getLogger(__name__)

TIMER_BATCH = 200
BROKEN_RETRY = timedelta(minutes=1)
# Who the audit log says ended a session nobody ended by hand.
MEETING_OVER = Actor("teams:meeting_end", "Teams: the meeting ended")
NOBODY_CAME_BACK = Actor("bot:timer", "The bot: nobody used the session")


@dataclass(frozen=True)
class Change:
    """What a button press did: whether it applied, the session now, and why not if not."""

    applied: bool
    view: SessionView
    problem: str = ""


class Rejected(ValueError):
    """A contribution or role that cannot be taken; the message is for the person who tried."""


async def _nothing_to_tell(session_id: int) -> None:
    return None


# Builds the outbox messages for what a change did (prompts, cards), from the session now.
Announce = Callable[[SessionView, Timing, datetime], list[Message]]
Closing = Callable[[SessionView, list["Contribution"]], list[Message]]


@dataclass
class SessionStore:
    sessions: async_sessionmaker[AsyncSession]
    cipher: Cipher
    clock: Clock
    outbox: OutboxWriter
    refresh_seconds: float
    # Working days: the question months on is asked on one, in the morning (bot.feedback).
    calendar: WorkingCalendar
    # A running or paused session nobody uses for this long past its planned end is ended.
    abandon_after: timedelta | None = None
    announce: Announce = field(default=lambda view, timing, now: [])
    # Messages to post when a session is set up (the group agreement, the roles card).
    opening: Callable[[SessionView], list[Message]] = field(default=lambda view: [])
    # Messages to post when it ends (the summary, the note for the child's record).
    closing: Closing = field(default=lambda view, actions: [])
    # Told the session's id once a change to what its page shows is committed (the stage,
    # the clock, the roles, its end): bot.core.changes passes it on to the pages following it.
    changed: Callable[[int], Awaitable[None]] = field(default=_nothing_to_tell)

    # --- reading ------------------------------------------------------------------------

    async def view(self, session_id: int) -> SessionView | None:
        async with self.sessions() as session:
            row = await session.get(MeetingSession, session_id)
            return None if row is None else view_of(row)

    async def live_in(self, conversation_id: str) -> SessionView | None:
        """The session running (or being set up) in this chat, if any."""
        async with self.sessions() as session:
            row = await session.scalar(
                select(MeetingSession).where(
                    MeetingSession.conversation_id == conversation_id,
                    MeetingSession.status != Status.ENDED.value,
                )
            )
            return None if row is None else view_of(row)

    async def referral_link(self, reference: str, tenant_id: str) -> ReferralLink | None:
        async with self.sessions() as session:
            row = await session.scalar(
                select(ReferralRow).where(
                    ReferralRow.reference == reference, ReferralRow.tenant_id == tenant_id
                )
            )
            if row is None or row.status not in (
                ReferralStatus.ACCEPTED.value,
                ReferralStatus.SCHEDULED.value,
            ):
                return None
            return _link(row)

    async def referral_for_chat(self, conversation_id: str, tenant_id: str) -> ReferralLink | None:
        """The scheduled referral whose Teams meeting has this chat (from its join link)."""
        async with self.sessions() as session:
            row = await session.scalar(
                select(ReferralRow)
                .where(
                    ReferralRow.meeting_chat_id == conversation_id,
                    ReferralRow.tenant_id == tenant_id,
                    ReferralRow.status == ReferralStatus.SCHEDULED.value,
                )
                .order_by(ReferralRow.session_at.desc())
                .limit(1)
            )
            return None if row is None else _link(row)

    async def contributions(self, session_id: int, kinds: set[str]) -> list[Contribution]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(SessionContribution)
                .where(
                    SessionContribution.session_id == session_id,
                    SessionContribution.kind.in_(kinds),
                )
                .order_by(SessionContribution.id)
            )
            return [self._contribution(row) for row in rows]

    def _contribution(self, row: SessionContribution) -> Contribution:
        return Contribution(
            row.step,
            row.kind,
            row.author_id,
            row.author_name,
            json.loads(self.cipher.decrypt(row.content_encrypted)),
        )

    # --- setting up -----------------------------------------------------------------------

    async def create(
        self,
        *,
        tenant_id: str,
        conversation_reference: dict[str, Any],
        meeting_id: str | None,
        protocol: Protocol,
        actor: Actor,
        referral: ReferralLink | None,
        independent: bool,
        cycles: int | None = None,
    ) -> tuple[SessionView, bool]:
        """A new session in the chat; or the one already there (and False) if there is one."""
        now = self.clock.now()
        steps = plan(protocol, cycles)
        conversation_id = str(conversation_reference["conversation"]["id"])
        facilitator = (
            Holder(referral.facilitator_id, referral.facilitator_name or "")
            if referral is not None and referral.facilitator_id
            else Holder(actor.id, actor.name)
        )
        row = MeetingSession(
            reference=referral.reference if referral else "",
            referral_id=referral.id if referral else None,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            conversation_reference=conversation_reference,
            meeting_id=meeting_id,
            model=protocol.id,
            protocol=protocol.model_dump(mode="json", by_alias=True),
            plan=[step.as_json() for step in steps],
            no_notes=independent and protocol.independent_means_no_notes,
            independent_facilitator=independent,
            facilitator_id=facilitator.id,
            facilitator_name=facilitator.name,
            roles={protocol.facilitator_role: [_holder_json(facilitator)]},
            status=Status.READY.value,
            version=0,
            step=0,
            allotted_seconds=0.0,
            warned=False,
            time_up_sent=False,
            time_spent=[0.0] * len(steps),
            created_by_id=actor.id,
            created_at=now,
        )
        try:
            async with self.sessions() as session, session.begin():
                session.add(row)
                await session.flush()
                if not row.reference:
                    row.reference = f"S-{now.year}-{row.id:04d}"
                session.add(
                    SessionParticipant(
                        session_id=row.id,
                        person_id=facilitator.id,
                        name=facilitator.name,
                        role=protocol.facilitator_role,
                        joined_at=now,
                        feedback_status="not_due",
                    )
                )
                if referral is not None:
                    session.add(audit.entry(actor, Action.SESSION_SET_UP, referral.id, protocol.id))
                view = view_of(row)
                self.outbox.add(session, self.opening(view), now)
            return view, True
        except IntegrityError:
            # Someone else set one up in this chat a moment ago: theirs stands.
            existing = await self.live_in(conversation_id)
            if existing is None:
                raise
            return existing, False

    async def take_role(self, session_id: int, role: str, person: Holder) -> Change | None:
        """Gives `person` the role (a one-person role passes to whoever pressed last)."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await _locked(session, session_id)
            if row is None:
                return None
            view = view_of(row)
            definition = next((r for r in view.protocol["roles"] if r["key"] == role), None)
            if definition is None or view.status is Status.ENDED:
                return Change(False, view, "That role is not part of this session.")
            roles = {key: list(holders) for key, holders in row.roles.items()}
            held = roles.get(role, [])
            if any(h["id"] == person.id for h in held):
                return Change(False, view, f"You already have this role ({definition['name']}).")
            if definition.get("holders", "one") == "one":
                # Roles are agreed aloud; whoever the group chose presses, and takes it over
                # from anyone who pressed first. (Taking the chair is checked by the caller.)
                held = []
            # One role each: taking a new one gives up the old (not the facilitator's chair).
            for key in roles:
                if key != view.protocol["facilitator_role"]:
                    roles[key] = [h for h in roles[key] if h["id"] != person.id]
            roles[role] = [*held, _holder_json(person)]
            row.roles = roles
            if role == view.protocol["facilitator_role"]:
                row.facilitator_id, row.facilitator_name = person.id, person.name
            row.last_activity_at = now
            await _add_participant(session, row.id, person, role, now)
            view = view_of(row)
            self.outbox.add(session, [draw_card(Kind.SESSION_ROLES_CARD, view)], now)
        await self._tell(session_id)
        return Change(True, view)

    async def note_participants(self, session_id: int, people: list[Holder]) -> None:
        """People seen in the session (a meeting join, a press), for the feedback later."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            for person in people:
                await _add_participant(session, session_id, person, None, now)

    # --- the facilitator's controls --------------------------------------------------------

    async def control(
        self, session_id: int, version: int, actor: Actor, control: Control
    ) -> Change | None:
        """Applies the control if the session is still at `version` (else changes nothing)."""
        return await self._change(session_id, version, actor, control)

    async def meeting_ended(self, session_id: int, ended_at: datetime | None) -> Change | None:
        """Teams says the meeting is over: the session ends with it (the summary follows),
        or its set-up is cancelled if it had not begun. A meeting that ended before the
        session was set up is not its meeting."""
        return await self._change(
            session_id, None, MEETING_OVER, Control.MEETING_ENDED, set_up_by=ended_at
        )

    async def _change(
        self,
        session_id: int,
        version: int | None,
        actor: Actor,
        control: Control,
        *,
        set_up_by: datetime | None = None,
    ) -> Change | None:
        change = await self._apply(session_id, version, actor, control, set_up_by)
        if change is not None and change.applied:
            await self._tell(session_id)
        return change

    async def _tell(self, session_id: int) -> None:
        try:
            await self.changed(session_id)
        except Exception:  # noqa: BLE001 - the change stands; pages catch up on reconnecting
            log.warning(
                "session %d: could not tell its pages of a change", session_id, exc_info=True
            )

    async def _apply(
        self,
        session_id: int,
        version: int | None,
        actor: Actor,
        control: Control,
        set_up_by: datetime | None,
    ) -> Change | None:
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await _locked(session, session_id)
            if row is None:
                return None
            if version is not None and row.version != version:
                return Change(False, view_of(row))
            if set_up_by is not None and row.created_at > set_up_by:
                return Change(False, view_of(row), "set up after that moment")
            timing = timing_of(row)
            rules = self.rules(row)
            try:
                apply(timing, control, rules, now)
            except ValueError as not_now:
                return Change(False, view_of(row), str(not_now))
            tick(timing, rules, now)
            await self._write(session, row, timing, rules, now, bump=True)
            if timing.status is Status.ENDED:
                await self._finish(session, row, actor, now)
            return Change(True, view_of(row))

    # --- contributions ----------------------------------------------------------------------

    async def contribute(
        self, session_id: int, step: int, person: Holder, kind: Collect, content: dict[str, Any]
    ) -> SessionView:
        """Stores a contribution (encrypted); raises Rejected in no-notes mode and the like."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            # Locked, so a contribution and End (which reads the actions) do not cross.
            row = await _locked(session, session_id)
            if row is None:
                raise Rejected("I cannot find that session any more.")
            view = view_of(row)
            if view.no_notes:
                # Refused before anything is written: no-notes means nothing typed is kept.
                raise Rejected(
                    "This session keeps no notes (an independent facilitator), so I have not "
                    "stored that. The network and the Lead Professional record their own actions."
                )
            if view.status is Status.ENDED:
                raise Rejected("The session has ended, so I have not added that.")
            if not 0 <= step < len(view.steps) or view.steps[step].collect is not kind:
                raise Rejected("That card is not collecting this any more.")
            if kind in (Collect.HOPES, Collect.BLOCKERS_ENABLERS):
                # One answer each: sending again replaces your own earlier one.
                earlier = await session.scalars(
                    select(SessionContribution).where(
                        SessionContribution.session_id == session_id,
                        SessionContribution.kind == kind.value,
                        SessionContribution.author_id == person.id,
                    )
                )
                for old in earlier:
                    await session.delete(old)
            session.add(
                SessionContribution(
                    session_id=session_id,
                    step=step,
                    kind=kind.value,
                    author_id=person.id,
                    author_name=person.name,
                    created_at=now,
                    content_encrypted=self.cipher.encrypt(json.dumps(content)),
                )
            )
            await _add_participant(session, session_id, person, None, now)
            row.last_activity_at = now
            return view

    # --- the timer ---------------------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> datetime | None:
        """Fires every prompt due by `now`; returns when the next one is due (None: none)."""
        now = now or self.clock.now()
        while True:
            moved_on: list[int] = []
            async with self.sessions() as session, session.begin():
                rows = list(
                    await session.scalars(
                        select(MeetingSession)
                        .where(MeetingSession.next_tick_at <= now)
                        .order_by(MeetingSession.next_tick_at)
                        .limit(TIMER_BATCH)
                        .with_for_update(skip_locked=True)
                    )
                )
                pending = await _cards_waiting(session, [row.id for row in rows], now)
                for row in rows:
                    row_id = row.id
                    try:
                        async with session.begin_nested():
                            timing = timing_of(row)
                            rules = self.rules(row)
                            step_before, status_before = timing.step, timing.status
                            redraw = tick(timing, rules, now)
                            moved = timing.step != step_before or timing.status != status_before
                            await self._write(
                                session,
                                row,
                                timing,
                                rules,
                                now,
                                bump=moved,
                                redraw=redraw and row_id not in pending,
                            )
                            if moved:
                                moved_on.append(row_id)
                            if timing.status is Status.ENDED and moved:
                                # Given up: nobody used it long past its planned end.
                                await self._finish(session, row, NOBODY_CAME_BACK, now)
                    except Exception:  # noqa: BLE001 - one broken session must not stop the rest
                        log.exception("session %d: the timer could not run; retrying later", row_id)
                        await session.execute(
                            update(MeetingSession)
                            .where(MeetingSession.id == row_id)
                            .values(next_tick_at=now + BROKEN_RETRY)
                        )
            for session_id in moved_on:
                await self._tell(session_id)
            if len(rows) < TIMER_BATCH:
                break
        async with self.sessions() as session:
            return await session.scalar(select(func.min(MeetingSession.next_tick_at)))

    def rules(self, row: MeetingSession) -> Rules:
        return Rules(
            [Step.from_json(step) for step in row.plan],
            float(row.protocol.get("warning_minutes", 2)) * 60,
            float(row.protocol.get("extend_minutes", 5)) * 60,
            self.refresh_seconds,
            self.abandon_after,
        )

    async def set_card(self, session_id: int, kind: str, activity_id: str) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(MeetingSession, session_id)
            if row is None:
                return
            if kind == Kind.SESSION_STAGE_CARD:
                row.stage_card_id = activity_id
            else:
                row.roles_card_id = activity_id

    async def stage_card_posted(
        self, session_id: int, activity_id: str, moved_from: int | None
    ) -> None:
        """The stage card was posted afresh: it is the live one now, and the copy posted
        before it collapses to one line (`moved_from`: the step that copy was showing)."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await _locked(session, session_id)
            if row is None:
                return
            earlier, row.stage_card_id = row.stage_card_id, activity_id
            if earlier and earlier != activity_id:
                step = row.step if moved_from is None else moved_from
                target = {"activity_id": earlier, "step": step}
                moved = Message(
                    Kind.SESSION_CARD_MOVED, target, None, row.referral_id, session_id=row.id
                )
                self.outbox.add(session, [moved], now)

    async def post_below(self, session_id: int, messages: list[Message]) -> bool:
        """Posts `messages` (a card someone asked for) in the session's chat; while the session
        is live, the stage card follows them, posted afresh. False: no such session."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await _locked(session, session_id)
            if row is None:
                return False
            placed = with_stage_card(row, messages, redraw=False, shown_step=row.step, fresh=True)
            self.outbox.add(session, placed, now)
            return True

    async def repost_roles_card(self, session_id: int) -> bool:
        """The roles card of a session being set up, posted again at the bottom of the chat
        (the one above may be out of sight, or gone from a client's screen); from now on the
        new copy is the one kept up to date. False: no such session."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await _locked(session, session_id)
            if row is None:
                return False
            row.roles_card_id = None
            again = draw_card(Kind.SESSION_ROLES_CARD, view_of(row), post=True)
            self.outbox.add(session, [again], now)
            return True

    async def posted_before(self, session_id: int, message_id: int) -> bool:
        """Whether a message for the session's chat queued before `message_id` is still to
        go (a 429 holds it up, say): the stage card posted afresh waits to come below it."""
        async with self.sessions() as session:
            waiting = await session.scalar(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.session_id == session_id,
                    OutboxMessage.kind == Kind.CONVERSATION,
                    OutboxMessage.id < message_id,
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                )
                .limit(1)
            )
            return waiting is not None

    # --- inside a transaction -------------------------------------------------------------------

    async def _write(
        self,
        session: AsyncSession,
        row: MeetingSession,
        timing: Timing,
        rules: Rules,
        now: datetime,
        *,
        bump: bool,
        redraw: bool = True,
    ) -> None:
        """Writes the timing back, with the messages its prompts and a redraw call for."""
        shown_step = row.step  # what the stage card in the chat shows until it is redrawn
        row.status = timing.status.value
        row.step = timing.step
        row.ends_at = timing.ends_at
        row.remaining_seconds = timing.remaining_seconds
        row.allotted_seconds = timing.allotted_seconds
        row.running_since = timing.running_since
        row.warned = timing.warned
        row.time_up_sent = timing.time_up_sent
        row.time_spent = list(timing.time_spent)
        row.refreshed_at = timing.refreshed_at
        row.last_activity_at = timing.last_activity_at
        row.next_tick_at = next_tick(timing, rules)
        row.reached_step = timing.reached
        if timing.started_at is not None and row.started_at is None:
            row.started_at = timing.started_at
        if timing.ended_at is not None:
            row.ended_at = timing.ended_at
        if bump:
            row.version += 1
        messages = self.announce(view_of(row), timing, now)
        placed = with_stage_card(row, messages, redraw=redraw, shown_step=shown_step)
        self.outbox.add(session, placed, now)

    async def _finish(
        self, session: AsyncSession, row: MeetingSession, actor: Actor, now: datetime
    ) -> None:
        """The session has ended: participants are due feedback; the referral is completed."""
        if row.started_at is None:
            # Cancelled before Begin: no feedback, no summary, and the referral stays as it
            # was, to be run again.
            return
        participants = await session.scalars(
            select(SessionParticipant).where(SessionParticipant.session_id == row.id)
        )
        months = Feedback.of_session(row.protocol).follow_up_months
        ended_at = row.ended_at or now
        follow_up = follow_up_moment(ended_at, months, self.calendar) if months else None
        for participant in participants:
            participant.feedback_status = "due"
            participant.feedback_due_at = now
            participant.follow_up_due_at = follow_up
        if row.referral_id is not None:
            referral = await session.get(ReferralRow, row.referral_id)
            if referral is not None and referral.status in (
                ReferralStatus.ACCEPTED.value,
                ReferralStatus.SCHEDULED.value,
            ):
                referral.status = ReferralStatus.COMPLETED.value
                referral.updated_at = now
                referral.version += 1
                self.outbox.add(session, [triage_card(referral.id)], now)
            session.add(audit.entry(actor, Action.SESSION_ENDED, row.referral_id, row.model))
        actions: list[Contribution] = []
        if not row.no_notes:
            stored = await session.scalars(
                select(SessionContribution)
                .where(
                    SessionContribution.session_id == row.id,
                    SessionContribution.kind == Collect.ACTIONS.value,
                )
                .order_by(SessionContribution.id)
            )
            actions = [self._contribution(c) for c in stored]
        self.outbox.add(session, self.closing(view_of(row), actions), now)


def _link(row: ReferralRow) -> ReferralLink:
    return ReferralLink(
        row.id,
        row.reference,
        row.facilitator_id,
        row.facilitator_name,
        row.rethink_strategy,
        row.model,
        row.session_at,
    )


def timing_of(row: MeetingSession) -> Timing:
    return Timing(
        Status(row.status),
        row.step,
        row.ends_at,
        row.remaining_seconds,
        row.allotted_seconds,
        row.running_since,
        row.warned,
        row.time_up_sent,
        list(row.time_spent),
        row.refreshed_at,
        row.started_at,
        row.ended_at,
        row.last_activity_at,
        row.reached_step,
    )


def view_of(row: MeetingSession) -> SessionView:
    return SessionView(
        id=row.id,
        reference=row.reference,
        tenant_id=row.tenant_id,
        referral_id=row.referral_id,
        model=row.model,
        protocol=row.protocol,
        steps=[Step.from_json(step) for step in row.plan],
        status=Status(row.status),
        step=row.step,
        version=row.version,
        ends_at=row.ends_at,
        remaining_seconds=row.remaining_seconds,
        allotted_seconds=row.allotted_seconds,
        time_spent=list(row.time_spent),
        no_notes=row.no_notes,
        independent_facilitator=row.independent_facilitator,
        facilitator_id=row.facilitator_id,
        facilitator_name=row.facilitator_name,
        roles={
            key: [Holder(h["id"], h["name"]) for h in holders] for key, holders in row.roles.items()
        },
        conversation_reference=row.conversation_reference,
        meeting_id=row.meeting_id,
        stage_card_id=row.stage_card_id,
        roles_card_id=row.roles_card_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        stage_card_posts=row.stage_card_posts or 0,
    )


def _holder_json(holder: Holder) -> dict[str, str]:
    return {"id": holder.id, "name": holder.name}


def draw_card(kind: str, view: SessionView, *, post: bool = False) -> Message:
    """Draw the session's stage or roles card: `post` it once, then redraw it in place.

    Only the message that posts may post: a redraw delivered (by another instance, say)
    before the card's id is stored waits, rather than posting a second card.
    """
    return Message(kind, {"post": post}, None, view.referral_id, session_id=view.id)


def is_prompt(message: Message) -> bool:
    """A short text message (no card) for the session's chat."""
    return message.activity is not None and not message.activity.get("attachments")


def with_stage_card(
    row: MeetingSession,
    messages: list[Message],
    *,
    redraw: bool,
    shown_step: int,
    fresh: bool = False,
) -> list[Message]:
    """`messages` for the session's chat, and what keeps its stage card in reach.

    Once the session has begun, one short prompt may sit directly beneath the stage card
    ("time is up"); anything more (a form, a card, a second prompt) goes out first and the
    stage card is then posted afresh below it, its earlier copy collapsing to one line. So
    the bot's latest message in the chat is the stage card, or one prompt beneath it. Else
    the card is redrawn in place, if `redraw`. `fresh`: post it afresh whatever comes.
    Counted when queued: the outbox sends a session's messages in the order queued.
    """
    if row.started_at is None:
        return messages  # not begun: there is no stage card yet
    if row.status == Status.ENDED.value:
        # Over: the card shows that it ended, in place, above the note and the summary.
        if redraw:
            return [*messages, draw_card(Kind.SESSION_STAGE_CARD, view_of(row))]
        return messages
    below = row.below_stage_card or 0
    fresh = fresh or not row.stage_card_posts  # Begin posts it the first time
    for message in messages:
        if message.kind != Kind.CONVERSATION:
            continue
        if below == 0 and is_prompt(message):
            below = 1
        else:
            below += 1
            fresh = True
    if not fresh:
        row.below_stage_card = below
        if redraw:
            return [*messages, draw_card(Kind.SESSION_STAGE_CARD, view_of(row))]
        return messages
    moved_from = shown_step if row.stage_card_posts else None
    row.stage_card_posts = (row.stage_card_posts or 0) + 1
    row.below_stage_card = 0
    post = Message(
        Kind.SESSION_STAGE_CARD,
        {"post": True, "moved_from": moved_from},
        None,
        row.referral_id,
        session_id=row.id,
    )
    return [*messages, post]


async def _locked(session: AsyncSession, session_id: int) -> MeetingSession | None:
    return await session.scalar(
        select(MeetingSession).where(MeetingSession.id == session_id).with_for_update()
    )


async def _add_participant(
    session: AsyncSession, session_id: int, person: Holder, role: str | None, now: datetime
) -> None:
    existing = await session.get(SessionParticipant, (session_id, person.id))
    if existing is None:
        session.add(
            SessionParticipant(
                session_id=session_id,
                person_id=person.id,
                name=person.name[:256],
                role=role,
                joined_at=now,
                feedback_status="not_due",
            )
        )
    elif role is not None:
        existing.role = role


async def _cards_waiting(session: AsyncSession, session_ids: list[int], now: datetime) -> set[int]:
    """Sessions whose card update is already queued and not yet picked up: one is enough."""
    if not session_ids:
        return set()
    rows = await session.scalars(
        select(OutboxMessage.session_id).where(
            OutboxMessage.session_id.in_(session_ids),
            OutboxMessage.kind == Kind.SESSION_STAGE_CARD,
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
    )
    return {session_id for session_id in rows if session_id is not None}
