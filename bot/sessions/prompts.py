"""What the bot posts in the meeting chat when a session changes: prompts and cards.

Prompts are short text messages (they notify people, which an updated card does not);
the stage card itself is redrawn in place by the outbox (`Kind.SESSION_STAGE_CARD`).
A prompt about the time ("1 minute left", "time is up") is for the moment it fired: the
outbox drops it rather than send it late (held up by retries, or by an instance that died
mid-send), since the live card shows the present anyway.
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
# How late a prompt about the time may still go out (a 429's Retry-After is seconds); a
# warning never goes out once the stage's time is up.
PROMPT_SHELF_LIFE = timedelta(seconds=30)
ABOUT_THE_TIME = frozenset({PromptKind.WARNING, PromptKind.TIME_UP, PromptKind.MOVED_ON})


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
                stale_after = _stale_after(view, prompt, now)
                messages.append(self._post(view, text_message(text), stale_after))
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

    @staticmethod
    def _post(
        view: SessionView, activity: dict[str, Any], stale_after: datetime | None = None
    ) -> Message:
        return Message(
            Kind.CONVERSATION,
            view.conversation_reference,
            activity,
            view.referral_id,
            session_id=view.id,
            stale_after=stale_after,
        )


def _stale_after(view: SessionView, prompt: Prompt, now: datetime) -> datetime | None:
    """When a prompt about the time stops being true; None for the rest."""
    if prompt.kind not in ABOUT_THE_TIME:
        return None
    latest = now + PROMPT_SHELF_LIFE
    if prompt.kind is PromptKind.WARNING and view.ends_at is not None:
        return min(latest, view.ends_at)
    return latest
