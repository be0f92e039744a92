"""What the bot posts in the meeting chat when a session changes: prompts and cards.

Prompts are short text messages (they notify people, which an updated card does not);
the stage card itself is redrawn in place by the outbox (`Kind.SESSION_STAGE_CARD`).
Nothing here carries case detail: stage titles, role names and times only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.outbox import Kind, Message
from bot.core.protocols import Collect
from bot.core.working_days import WorkingCalendar
from bot.sessions.store import draw_card
from bot.sessions.timing import Prompt, PromptKind, Timing
from bot.sessions.views import Contribution, SessionView
from bot.teams.send import card_message, text_message
from cards.sessions import (
    agreement_card,
    collect_card,
    minutes_text,
    summary_card,
)

LATE_ENOUGH_TO_SAY = 60.0  # seconds: a prompt this late came after the bot was away


@dataclass
class SessionMessages:
    calendar: WorkingCalendar

    def opening(self, view: SessionView) -> list[Message]:
        """The group agreement, then the roles card (kept up to date in place)."""
        return [
            self._post(view, card_message(agreement_card(view))),
            draw_card(Kind.SESSION_ROLES_CARD, view, post=True),
        ]

    def announce(self, view: SessionView, timing: Timing, now: datetime) -> list[Message]:
        messages: list[Message] = []
        for prompt in timing.prompts:
            text = self._prompt_text(view, prompt, now)
            if text:
                messages.append(self._post(view, text_message(text)))
            if prompt.kind is PromptKind.STEP_STARTED:
                step = view.steps[prompt.step]
                if step.collect is not Collect.NONE and not view.no_notes:
                    messages.append(self._post(view, card_message(collect_card(view, prompt.step))))
            if prompt.kind is PromptKind.STEP_STARTED and prompt.step == 0:
                # The roles card loses its Begin button once the session is under way.
                messages.append(draw_card(Kind.SESSION_ROLES_CARD, view))
        timing.prompts.clear()
        return messages

    def closing(self, view: SessionView, actions: list[Contribution]) -> list[Message]:
        return [self._post(view, card_message(summary_card(view, actions, self.calendar)))]

    def _prompt_text(self, view: SessionView, prompt: Prompt, now: datetime) -> str:
        step = view.steps[prompt.step]
        late = ""
        if prompt.late_seconds >= LATE_ENOUGH_TO_SAY:
            due = self.calendar.local(now - timedelta(seconds=prompt.late_seconds))
            late = f" (It was due at {due:%H:%M}, while I was unavailable.)"

        if prompt.kind is PromptKind.WARNING:
            left = view.seconds_left(now)
            return f"\u23f3 {minutes_text(left).capitalize()} left for **{step.title}**."
        if prompt.kind is PromptKind.TIME_UP:
            who = view.facilitator_name or "Facilitator"
            button = "End session" if prompt.step + 1 >= len(view.steps) else "Next stage"
            return (
                f"\u23f0 Time is up for **{step.title}**. {who}, press **{button}** on the "
                f"card when the group is ready.{late}"
            )
        if prompt.kind is PromptKind.MOVED_ON:
            following = view.steps[view.step]
            return (
                f"\u23f0 Time is up for **{step.title}**. Now: **{following.title}**. "
                f"{following.speaks} speak; {following.listens} listen.{late}"
            )
        return ""

    @staticmethod
    def _post(view: SessionView, activity: dict[str, Any]) -> Message:
        return Message(
            Kind.CONVERSATION,
            view.conversation_reference,
            activity,
            view.referral_id,
            session_id=view.id,
        )
