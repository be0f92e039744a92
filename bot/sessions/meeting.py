"""Sessions in a meeting (or group) chat: setting one up, roles, the facilitator's controls,
contributions and the question bank.

Buttons are Universal Actions (`Action.Execute`): the bot answers the person who pressed
with the card as it now is (or a short message), and the shared card is redrawn for
everyone through the outbox. Only the facilitator, or the meeting roles SESSION_CONTROL_ROLES
names (the organiser by default), may move the session on; anyone else gets a polite no.
Ending a live session takes two presses: End opens a confirmation, whose button ends it.
Cards someone asks for (the questions, contributions shown together) go through the outbox
too, so the stage card can follow them and stay the latest message (bot.sessions.store).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeAlias

from bot.core.clock import Clock
from bot.core.pii import identifying_details_problem
from bot.core.protocols import Collect, Protocol
from bot.core.storable import storable, unstorable_message, whole_number
from bot.core.working_days import WorkingCalendar
from bot.sessions.links import RoomLinks
from bot.sessions.prompts import chat_message
from bot.sessions.store import Change, Rejected, SessionStore
from bot.sessions.timing import Control, Status
from bot.sessions.views import Holder, ReferralLink, SessionView, may_drive
from bot.teams.admins import AdminCheck
from bot.teams.identity import actor_of, person_id_of, reference_of, tenant_of
from bot.teams.invoke import card_response, message_response
from bot.teams.meeting_roles import MeetingRoles, meeting_id_of
from bot.teams.routes import Participant
from bot.teams.send import card_message, text_message
from bot.teams.turn import CardAction, CardPress, InvokeReply, Turn, conversation_type, send_card
from cards.common import long_when, notice_card
from cards.sessions import (
    ORGANISER_ONLY,
    ProtocolChoice,
    collect_card,
    contributions_card,
    meeting_roles_text,
    moved_card,
    opening_card,
    option_id,
    questions_card,
    roles_card,
    setup_card,
    stage_card,
    who_controls,
)
from cards.verbs import SessionVerb

log = logging.getLogger(__name__)

CONTROLS = {
    SessionVerb.BEGIN: Control.BEGIN,
    SessionVerb.PAUSE: Control.PAUSE,
    SessionVerb.RESUME: Control.RESUME,
    SessionVerb.ADD_TIME: Control.ADD_TIME,
    SessionVerb.BACK: Control.BACK,
    SessionVerb.NEXT: Control.NEXT,
    SessionVerb.END: Control.END,
}
SHARED_CHATS = ("groupChat", "channel")
ONLY_IN_SHARED = (
    "Sessions run in the meeting chat (or a group chat): add me there and type **start session**."
)
STALE = (
    "Nothing changed: the session had already moved on when your press arrived (someone "
    "may have pressed just before you). This is the card as it is now: press again if you "
    "still need to."
)
CONFIRM_END = (
    "The session is still running. To end it, press End the session now, then Yes, end the session."
)
LIVE_CARD_BELOW = "The live card is at the bottom of the chat."
# What the answer on an earlier copy of the stage card says was done.
DONE = {
    Control.PAUSE: "Paused.",
    Control.RESUME: "Resumed.",
    Control.ADD_TIME: "Time added.",
}
MAX_TEXT = 300
# What the contribution cards call their boxes (cards/templates/session_collect.json), to say
# which one a refusal is about.
BOXES = {
    "hope": "My hopes for this session",
    **{f"blocker_{n}": f"Blocker {n}" for n in (1, 2, 3)},
    **{f"enabler_{n}": f"Enabler {n}" for n in (1, 2, 3)},
    "what": "What",
    "who": "Who",
    "where": "Where it will be recorded",
}
REFERENCE_LABEL = "Referral reference"  # as the set-up card labels the box
Reply: TypeAlias = InvokeReply
Action = Callable[[Turn, SessionVerb, dict[str, Any]], Awaitable[Reply]]


def scheduled_line(link: ReferralLink, model_name: str, calendar: WorkingCalendar) -> str:
    """The opening card's first line in the chat of a meeting booked for a referral."""
    when = f", {long_when(link.session_at, calendar)}" if link.session_at else ""
    return (
        f"This meeting is for {link.reference} ({model_name}){when}, facilitated by "
        f"{link.facilitator_name or 'the facilitator'}. When the meeting starts I post the "
        "group agreement and the roles here."
    )


class BadInput(ValueError):
    """A contribution was not filled in properly; the message says what to fix."""


@dataclass
class MeetingHandler:
    store: SessionStore
    protocols: dict[str, Protocol]
    roles: MeetingRoles
    admins: AdminCheck
    calendar: WorkingCalendar
    clock: Clock
    wake: Callable[[], None]
    partnership: str
    # Meeting roles that may drive a session besides its facilitator (SESSION_CONTROL_ROLES).
    control_roles: frozenset[str] = ORGANISER_ONLY
    offered: tuple[str, ...] = ()  # OFFERED_MODELS, for the order of the set-up card
    room_links: RoomLinks | None = None  # None: no room display links
    _actions: dict[SessionVerb, Action] = field(init=False)

    def __post_init__(self) -> None:
        self._actions = {
            SessionVerb.START: self._show_setup,
            SessionVerb.SET_UP: self._set_up,
            SessionVerb.TAKE_ROLE: self._take_role,
            SessionVerb.QUESTIONS: self._questions,
            SessionVerb.CONTRIBUTE: self._contribute,
            SessionVerb.SHOW_TOGETHER: self._show_together,
            SessionVerb.ROOM_LINK: self._room_link,
            **{verb: self._control for verb in CONTROLS},
        }

    # --- typed commands and meeting events ----------------------------------------------

    async def post_opening(self, context: Turn) -> None:
        """The bot was added to a meeting chat: say what it does, with a Start button.

        In the chat of a meeting it booked (or was told the link of), it says which referral
        and when, so the facilitator knows it is ready."""
        link = await self.store.referral_for_chat(
            context.activity.conversation.id, tenant_of(context)
        )
        scheduled = ""
        if link is not None:
            protocol = self.protocols.get(link.model)
            scheduled = scheduled_line(
                link, protocol.name if protocol else link.model, self.calendar
            )
        card = opening_card(self.partnership, self._choices(), scheduled)
        await send_card(context, card)

    async def start(self, context: Turn) -> None:
        """`start session`, the opening card's button or the meetingStart event."""
        if conversation_type(context) not in SHARED_CHATS:
            await context.send_activity(ONLY_IN_SHARED)
            return
        live = await self.store.live_in(context.activity.conversation.id)
        if live is not None and live.live:
            # Its card again, at the bottom of the chat: the controls back in reach.
            note = f"A {live.name} session ({live.reference}) is under way here: its card follows."
            await self.store.post_below(live.id, [chat_message(live, text_message(note))])
            return
        if live is not None:
            # Its roles card again, below: Begin and Cancel back in reach.
            await context.send_activity(
                f"A {live.name} session ({live.reference}) is being set up here: its roles "
                "card follows."
            )
            await self.store.repost_roles_card(live.id)
            return
        if not await self._open_scheduled(context):
            await send_card(context, setup_card(self._choices()))

    async def on_meeting_start(self, context: Turn) -> None:
        live = await self.store.live_in(context.activity.conversation.id)
        if live is None and not await self._open_scheduled(context):
            await send_card(context, setup_card(self._choices()))

    async def on_meeting_end(self, context: Turn, ended_at: datetime | None) -> None:
        """The meeting is over: a session still open in its chat ends with it, and its
        summary is posted (none of the models asks the facilitator first), so nothing is
        left running and redrawn in the chat afterwards.

        Not a session of another meeting (a recurring series shares one chat), nor one set
        up after the meeting that ended (a late event from an earlier occurrence)."""
        live = await self.store.live_in(context.activity.conversation.id)
        if live is None:
            return
        ended_meeting = meeting_id_of(context)
        if live.meeting_id and ended_meeting and ended_meeting != live.meeting_id:
            log.info("session %d: the meeting that ended is another one", live.id)
            return
        change = await self.store.meeting_ended(live.id, ended_at)
        if change is not None and change.applied:
            log.info("session %d ended with its meeting", live.id)
            self.wake()

    async def _open_scheduled(self, context: Turn) -> bool:
        """Sets up the session of the referral scheduled in this meeting, if there is one."""
        link = await self.store.referral_for_chat(
            context.activity.conversation.id, tenant_of(context)
        )
        protocol = self.protocols.get(link.model) if link is not None else None
        if link is None or protocol is None:
            return False
        view, created = await self._open(context, protocol, link, link.independent, None)
        if created:
            await context.send_activity(
                f"This meeting is for {view.reference} ({view.name}), facilitated by "
                f"{view.facilitator_name}. The group agreement and the roles follow."
            )
        return True

    async def _open(
        self,
        context: Turn,
        protocol: Protocol,
        link: ReferralLink | None,
        independent: bool,
        cycles: int | None,
    ) -> tuple[SessionView, bool]:
        reference = reference_of(context)
        view, created = await self.store.create(
            tenant_id=tenant_of(context),
            conversation_reference=reference,
            meeting_id=meeting_id_of(context),
            protocol=protocol,
            actor=actor_of(context),
            referral=link,
            independent=independent,
            cycles=cycles,
        )
        if created:
            self.wake()
        return view, created

    async def note_joined(self, context: Turn, people: list[Participant]) -> None:
        live = await self.store.live_in(context.activity.conversation.id)
        if live is not None and people:
            holders = [Holder(person.id, person.name) for person in people]
            await self.store.note_participants(live.id, holders)

    async def show_questions(self, context: Turn) -> None:
        live = await self.store.live_in(context.activity.conversation.id)
        if live is None:
            await context.send_activity("There is no session here yet: type **start session**.")
            return
        card = card_message(questions_card(live))
        await self.store.post_below(live.id, [chat_message(live, card)])

    # --- card buttons --------------------------------------------------------------------

    def card_actions(self) -> dict[str, CardAction]:
        """Every session card verb, for the app's router."""
        return {verb.value: self.on_action for verb in SessionVerb}

    async def on_action(self, context: Turn, press: CardPress) -> Reply:
        verb, data = SessionVerb(press.verb), press.data
        if conversation_type(context) not in SHARED_CHATS:
            return message_response(ONLY_IN_SHARED)
        try:
            return await self._actions[verb](context, verb, data)
        except (KeyError, TypeError, ValueError, OverflowError) as problem:
            # A button from an old or altered card: say so, change nothing.
            # The problem's type only: its text can quote the button's data.
            log.warning(
                "session button %s with unusable data: %s", verb.value, type(problem).__name__
            )
            return message_response("Sorry, I could not use that button. Please try again.")

    async def _show_setup(self, context: Turn, verb: SessionVerb, data: dict[str, Any]) -> Reply:
        live = await self.store.live_in(context.activity.conversation.id)
        if live is None and await self._open_scheduled(context):
            live = await self.store.live_in(context.activity.conversation.id)
        if live is not None:
            return card_response(self._roles(live, notice="A session is already set up here."))
        return card_response(setup_card(self._choices()))

    async def _set_up(self, context: Turn, verb: SessionVerb, data: dict[str, Any]) -> Reply:
        model = str(data.get("model", ""))
        reference = str(data.get("reference", "")).strip().upper()
        # The set-up card names each model's options after the model (cycles_think_space).
        independent = str(_option(data, "independent", model) or "false").lower() == "true"
        cycles = _whole(_option(data, "cycles", model), 3)
        # A refusal is a message: the set-up card pressed keeps what was typed in it, and
        # nothing typed in its box is repeated into the chat.
        if not storable(reference):
            return message_response(unstorable_message(REFERENCE_LABEL))
        protocol = self.protocols.get(model)
        if protocol is None:
            return message_response("Please choose the session model.")
        actor = actor_of(context)
        link = None
        if reference:
            link = await self.store.referral_link(reference, tenant_of(context))
            is_theirs = link is not None and (link.facilitator_id or "").lower() == actor.id.lower()
            if link is None or not (is_theirs or await self.admins.is_admin(context)):
                # The same answer either way: a chat must not learn which references exist.
                return message_response(
                    "I cannot start that referral here. Check the reference (its facilitator "
                    "or business support can start it), or leave it empty for a session "
                    "without a referral."
                )
            # The referral decides the model, and whether its facilitator is independent.
            protocol = self.protocols.get(link.model, protocol)
            independent = independent or link.independent
        view, created = await self._open(context, protocol, link, independent, cycles)
        if not created:
            return card_response(self._roles(view, notice="A session is already set up here."))
        lines = [f"Reference {view.reference}. The group agreement and the roles are below."]
        if view.no_notes:
            lines.append("No notes are kept: nothing said or typed in this session is stored.")
        return card_response(notice_card(f"{view.name} is set up", lines, color="Good"))

    async def _take_role(self, context: Turn, verb: SessionVerb, data: dict[str, Any]) -> Reply:
        view = await self._session(context, data)
        role = str(data.get("role", ""))
        taking_over = role == view.protocol["facilitator_role"] and view.facilitator_id
        if taking_over and not await self._may_control(context, view):
            return message_response(
                f"{view.facilitator_name} is facilitating. Only they"
                f"{_or(meeting_roles_text(self.control_roles))} can take the role over."
            )
        person = Holder(person_id_of(context), context.activity.from_property.name or "")
        change = await self.store.take_role(view.id, role, person)
        if change is None:
            return message_response("I cannot find that session any more.")
        if not change.applied:
            return card_response(
                self._roles(change.view, notice=change.problem, notice_style="warning")
            )
        self.wake()
        return card_response(
            self._roles(change.view, notice=f"You are the {change.view.role_name(role)}.")
        )

    async def _control(self, context: Turn, verb: SessionVerb, data: dict[str, Any]) -> Reply:
        control = CONTROLS[verb]
        view = await self._session(context, data)
        if not await self._may_control(context, view):
            log.info("session %d: %s refused to a participant", view.id, control.value)
            return message_response(self._not_yours(view))
        version = int(data["version"])
        if control is Control.END and view.live and data.get("confirmed") is not True:
            # Only the confirmation's button ends a live session (not an End from a card
            # drawn before there was one, nor one made up).
            return card_response(self._stage(view, notice=CONFIRM_END))
        change = await self.store.control(view.id, version, actor_of(context), control)
        if change is None:
            return message_response("I cannot find that session any more.")
        if change.applied:
            self.wake()
            notice, style = "", "good"
        else:
            notice, style = change.problem or STALE, "warning"
        if control is Control.BEGIN or change.view.started_at is None:
            # Pressed on the roles card (Begin, or Cancel this set-up).
            if change.applied and control is Control.END:
                notice = "Set-up cancelled: type start session to set one up again."
            return card_response(self._roles(change.view, notice=notice, notice_style=style))
        pressed = whole_number(data.get("card"), low=0)
        if pressed is not None and pressed != change.view.stage_card_posts:
            # That copy of the stage card is collapsed to one line (or about to be): say so
            # there, rather than draw the live card where nobody else sees it.
            return card_response(self._moved(change, control, data))
        return card_response(self._stage(change.view, notice=notice, notice_style=style))

    def _moved(self, change: Change, control: Control, data: dict[str, Any]) -> dict[str, Any]:
        view = change.view
        step = whole_number(data.get("step"), low=0)
        shown = step if step is not None and step < len(view.steps) else view.step
        if view.status is Status.ENDED:
            done = "The session has ended: its summary is at the bottom of the chat."
        elif not change.applied:
            why = change.problem or "Nothing changed: the session had already moved on."
            done = f"{why} {LIVE_CARD_BELOW}"
        elif control in (Control.NEXT, Control.BACK):
            done = f"Now: {view.current.title}. {LIVE_CARD_BELOW}"
        else:
            done = f"{DONE.get(control, 'Done.')} {LIVE_CARD_BELOW}"
        return moved_card(view, shown, notice=done)

    async def _contribute(self, context: Turn, verb: SessionVerb, data: dict[str, Any]) -> Reply:
        view = await self._session(context, data)
        step = int(data["step"])
        kind = Collect(str(data["kind"]))
        if not 0 <= step < len(view.steps) or kind is Collect.NONE:
            raise ValueError("no such collecting stage")
        try:
            content = _content(kind, data)
            person = Holder(person_id_of(context), context.activity.from_property.name or "")
            await self.store.contribute(view.id, step, person, kind, content)
        except (BadInput, Rejected) as problem:
            # Only the message: the card pressed keeps what was typed. A card answered with
            # it would put a refused child's name into the meeting chat's history.
            return message_response(str(problem))
        thanks = {
            Collect.HOPES: "Thank you: your hopes are in. Sending again replaces them.",
            Collect.BLOCKERS_ENABLERS: "Thank you: yours are in. Sending again replaces them.",
            Collect.ACTIONS: "Thank you: the action is added. Add another if there is one.",
        }[kind]
        return card_response(collect_card(view, step, notice=thanks))

    async def _show_together(self, context: Turn, verb: SessionVerb, data: dict[str, Any]) -> Reply:
        view = await self._session(context, data)
        kind = Collect(str(data["kind"]))
        if not await self._may_control(context, view):
            return message_response(self._not_yours(view))
        if view.no_notes:
            return message_response("This session keeps no notes, so there is nothing to show.")
        contributions = await self.store.contributions(view.id, {kind.value})
        card = contributions_card(view, kind, contributions)
        await self.store.post_below(view.id, [chat_message(view, card_message(card))])
        return message_response("Shown in the chat for everyone, above the stage card.")

    async def _room_link(self, context: Turn, verb: SessionVerb, data: dict[str, Any]) -> Reply:
        """The room display's link, to the facilitator only (the answer to their press, which
        nobody else sees): whoever opens it sees the stage and the clock, no names."""
        view = await self._session(context, data)
        if not await self._may_control(context, view):
            return message_response(self._not_yours(view))
        if self.room_links is None or view.status is Status.ENDED:
            return message_response("There is no room display for this session.")
        url = self.room_links.url(view.id, self.clock.now())
        hours = self.room_links.lasts.total_seconds() / 3600
        return message_response(
            f"The room display for {view.reference}: open this link in a browser on the "
            f"room's screen, in full screen. It shows the stage and the clock only (no names), "
            f"works for {hours:g} hours and stops when the session ends. Keep it to the room: "
            f"{url}"
        )

    async def _questions(self, context: Turn, verb: SessionVerb, data: dict[str, Any]) -> Reply:
        view = await self._session(context, data)
        card = card_message(questions_card(view))
        await self.store.post_below(view.id, [chat_message(view, card)])
        where = "above the stage card" if view.live else "in the chat"
        return message_response(f"The reflective questions are {where}.")

    # --- helpers -----------------------------------------------------------------------------

    async def _session(self, context: Turn, data: dict[str, Any]) -> SessionView:
        """The session a button names, if it is this chat's: a button copied into another
        chat (or a forged one) must not read or drive someone else's session."""
        session_id = whole_number(data.get("session"), low=1)
        if session_id is None:
            raise ValueError("no session id, or one out of range")
        view = await self.store.view(session_id)
        here = context.activity.conversation.id
        if (
            view is None
            or view.conversation_reference.get("conversation", {}).get("id") != here
            or view.tenant_id != tenant_of(context)
        ):
            raise KeyError("no such session in this chat")
        return view

    async def _may_control(self, context: Turn, view: SessionView) -> bool:
        async def meeting_role() -> str | None:
            aad_id = context.activity.from_property.aad_object_id
            if not aad_id or not view.meeting_id:
                return None
            return await self.roles.role_of(context, view.meeting_id, aad_id, tenant_of(context))

        return await may_drive(view, person_id_of(context), self.control_roles, meeting_role)

    def _not_yours(self, view: SessionView) -> str:
        return f"Sorry, only {who_controls(view, self.control_roles)} can do that. Please ask them."

    def _stage(self, view: SessionView, **notice: str) -> dict[str, Any]:
        return stage_card(
            view, self.clock.now(), self.calendar, control_roles=self.control_roles, **notice
        )

    def _roles(self, view: SessionView, **notice: str) -> dict[str, Any]:
        return roles_card(view, control_roles=self.control_roles, **notice)

    def _choices(self) -> list[ProtocolChoice]:
        # The partnership's offered models first, in its order; added models after them.
        order = {model: i for i, model in enumerate(self.offered)}
        ranked = sorted(self.protocols.values(), key=lambda p: (order.get(p.id, len(order)), p.id))
        return [choice_of(protocol) for protocol in ranked]


def _content(kind: Collect, data: dict[str, Any]) -> dict[str, Any]:
    """The contribution from the card's inputs, checked; BadInput says what to fix."""

    def text(key: str) -> str:
        value = str(data.get(key, "") or "").strip()
        if not storable(value):
            raise BadInput(unstorable_message(BOXES[key]))
        if len(value) > MAX_TEXT:
            raise BadInput(f"Please keep each box to {MAX_TEXT} characters.")
        problem = identifying_details_problem(value, BOXES[key]) if value else None
        if problem:
            raise BadInput(problem.replace("the referral must not", "this must not"))
        return value

    if kind is Collect.HOPES:
        hope = text("hope")
        if not hope:
            raise BadInput("Please write your hopes in the box first.")
        return {"hope": hope}
    if kind is Collect.BLOCKERS_ENABLERS:
        blockers = [b for b in (text(f"blocker_{n}") for n in (1, 2, 3)) if b]
        enablers = [e for e in (text(f"enabler_{n}") for n in (1, 2, 3)) if e]
        if not blockers and not enablers:
            raise BadInput("Please write at least one blocker or enabler first.")
        return {"blockers": blockers, "enablers": enablers}
    what = text("what")
    if not what:
        raise BadInput("Please say what the action is.")
    by_when = str(data.get("by_when", "") or "").strip()
    if by_when:
        try:
            date.fromisoformat(by_when)
        except ValueError:
            raise BadInput("Please give the date as a date, for example 2026-12-01.") from None
    return {"what": what, "who": text("who"), "by_when": by_when, "where": text("where")}


def _or(others: str) -> str:
    return f", or {others}," if others else ""


def _option(data: dict[str, Any], option: str, model: str) -> Any:
    """A model's option as its set-up card sends it, or as a plain key (older cards)."""
    return data.get(option_id(option, model), data.get(option))


def _whole(value: Any, default: int) -> int:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError, OverflowError):
        return default


def choice_of(protocol: Protocol) -> ProtocolChoice:
    """A model on the set-up card, with the questions its protocol file calls for."""
    return ProtocolChoice(
        protocol.id,
        protocol.name,
        protocol.independent_means_no_notes,
        _cycles_question(protocol),
        protocol.referral.note or protocol.summary.partition(". ")[0],
    )


def _cycles_question(protocol: Protocol) -> str:
    """E.g. "reflecting team cycles (5 minutes each way)"; empty when no stage repeats."""
    stage = next((stage for stage in protocol.stages if stage.cycles), None)
    if stage is None:
        return ""
    minutes = {phase.minutes.default for phase in stage.phases}
    each_way = f" ({minutes.pop():g} minutes each way)" if len(minutes) == 1 else ""
    return f"{stage.title.lower()} cycles{each_way}"
