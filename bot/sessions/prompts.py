"""What the bot posts in the meeting chat when a session changes: prompts and cards.

Prompts are short text messages, for the moments when people must act: Teams notifies on
a new message, not on an updated card. "Time is up" is one; the warning before the end is
not: the stage card shows it in place (its countdown is its largest text), so nobody's
phone buzzes while someone is speaking, and the card keeps its place at the bottom of the
chat (bot.sessions.store keeps it there). The stage card itself is redrawn in place by the
outbox (`Kind.SESSION_STAGE_CARD`).
A prompt about the time ("time is up") is for the moment it fired: the outbox drops it
rather than send it late (held up by retries, or by an instance that died mid-send), since
the live card shows the present anyway.
Nothing here carries case detail: stage titles, role names and times only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.outbox import Kind, Message
from bot.core.protocols import Collect, Step
from bot.core.working_days import WorkingCalendar
from bot.sessions.store import draw_card
from bot.sessions.timing import Prompt, PromptKind, Timing
from bot.sessions.views import Contribution, SessionView
from bot.teams.send import card_message, text_message
from cards.sessions import (
    agreement_card,
    collect_card,
    summary_card,
    who_speaks,
)

LATE_ENOUGH_TO_SAY = 60.0  # seconds: a prompt this late came after the bot was away
# How late a prompt about the time may still go out (a 429's Retry-After is seconds); a
# warning never goes out once the stage's time is up.
PROMPT_SHELF_LIFE = timedelta(seconds=30)
ABOUT_THE_TIME = frozenset({PromptKind.TIME_UP, PromptKind.MOVED_ON})


@dataclass
class SessionMessages:
    calendar: WorkingCalendar

    def opening(self, view: SessionView) -> list[Message]:
        """The group agreement, then the roles card (kept up to date in place)."""
        return [
            chat_message(view, card_message(agreement_card(view))),
            draw_card(Kind.SESSION_ROLES_CARD, view, post=True),
        ]

    def announce(self, view: SessionView, timing: Timing, now: datetime) -> list[Message]:
        messages: list[Message] = []
        for prompt in timing.prompts:
            text = self._prompt_text(view, prompt, now)
            if text:
                stale_after = _stale_after(view, prompt, now)
                messages.append(chat_message(view, text_message(text), stale_after))
            if prompt.kind is PromptKind.STEP_STARTED and _needs_form(view, prompt):
                messages.append(chat_message(view, card_message(collect_card(view, prompt.step))))
            if prompt.kind is PromptKind.STEP_STARTED and prompt.step == 0 and prompt.first:
                # The roles card loses its Begin button once the session is under way.
                messages.append(draw_card(Kind.SESSION_ROLES_CARD, view))
        timing.prompts.clear()
        return messages

    def closing(self, view: SessionView, actions: list[Contribution]) -> list[Message]:
        return [chat_message(view, card_message(summary_card(view, actions, self.calendar)))]

    def _prompt_text(self, view: SessionView, prompt: Prompt, now: datetime) -> str:
        step = view.steps[prompt.step]
        late = ""
        if prompt.late_seconds >= LATE_ENOUGH_TO_SAY:
            due = self.calendar.local(now - timedelta(seconds=prompt.late_seconds))
            late = f" (It was due at {due:%H:%M}, while I was unavailable.)"

        # The warning before the end (PromptKind.WARNING) is no message: see the docstring.
        if prompt.kind is PromptKind.TIME_UP:
            who = view.facilitator_name or "Facilitator"
            button = "End session" if prompt.step + 1 >= len(view.steps) else "Next stage"
            return (
                f"\u23f0 Time is up for **{step.title}**. {who}, press **{button}** on the "
                f"card above when the group is ready.{late}"
            )
        if prompt.kind is PromptKind.MOVED_ON:
            following = view.steps[view.step]
            return (
                f"\u23f0 Time is up for **{step.title}**. Now: **{following.title}**. "
                f"{_who_sentence(following)}{late}"
            )
        if prompt.kind is PromptKind.MEETING_ENDED:
            if view.started_at is None:
                return (
                    "The meeting has ended before the session began, so I have cancelled its "
                    "set-up. Type **start session** to set one up again."
                )
            return (
                "\u23f9 The meeting has ended, so the session has ended too. The summary follows."
            )
        if prompt.kind is PromptKind.ABANDONED and view.ended_at is not None:
            since = self.calendar.local(view.ended_at)
            return (
                f"\u23f9 This session has not been used since {since:%H:%M}, so I have ended it "
                "there. The summary follows."
            )
        return ""


def chat_message(
    view: SessionView, activity: dict[str, Any], stale_after: datetime | None = None
) -> Message:
    """A message for the session's chat, sent through the outbox."""
    return Message(
        Kind.CONVERSATION,
        view.conversation_reference,
        activity,
        view.referral_id,
        session_id=view.id,
        stale_after=stale_after,
    )


def _needs_form(view: SessionView, prompt: Prompt) -> bool:
    """A stage that collects gets its form the first time it starts (not again after Back
    and Next), unless the stage before collected the same: its form is still in the chat,
    and takes them (Re-think's three agreement stages share one Actions form)."""
    step = view.steps[prompt.step]
    if step.collect is Collect.NONE or view.no_notes or not prompt.first:
        return False
    before = view.steps[prompt.step - 1] if prompt.step > 0 else None
    return before is None or before.collect is not step.collect


def _who_sentence(step: Step) -> str:
    """ "Case Presenter speaks; Consultants listen." as the stage card says it."""
    speaks, listens = who_speaks(step)
    if not listens:
        return f"Speaking: {speaks}."
    return f"Speaking: {speaks}. Listening: {listens}."


def _stale_after(view: SessionView, prompt: Prompt, now: datetime) -> datetime | None:
    """When a prompt about the time stops being true; None for the rest."""
    if prompt.kind not in ABOUT_THE_TIME:
        return None
    latest = now + PROMPT_SHELF_LIFE
    if prompt.kind is PromptKind.WARNING and view.ends_at is not None:
        return min(latest, view.ends_at)
    return latest
