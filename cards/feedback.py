"""The feedback cards: the questions after a session (or months on), and the thank-you.

The card in the meeting chat is one card for everyone; its `refresh` asks the bot, for each
person it names, which of the two that person sees (their own state, never anyone's answers).
"""

from __future__ import annotations

from typing import Any

from bot.core.protocols import QuestionKind
from bot.feedback.model import Round
from bot.feedback.views import FeedbackForm, choices_of
from cards.binder import render
from cards.verbs import FeedbackVerb

# Teams draws a card for each person only for the people the refresh names: 60 at most.
MAX_REFRESH_USERS = 60
REMINDER = (
    "A reminder: if you took part and have not answered yet, please do: it takes a minute, "
    "and it helps the partnership make these sessions better."
)
PRIVACY = (
    "Your answers are kept without your name and nobody in this chat sees them. Please do not "
    "name the child or anyone else."
)


def refresh_of(form: FeedbackForm, user_ids: list[str]) -> dict[str, Any]:
    """Who sees their own state of the card: Teams user ids ("29:..."), at most 60."""
    refresh: dict[str, Any] = {
        "action": {
            "type": "Action.Execute",
            "title": "Show my feedback",
            "verb": FeedbackVerb.SHOW.value,
            "data": {"session": form.session.id, "round": form.round.value},
        }
    }
    if user_ids:
        refresh["userIds"] = user_ids[:MAX_REFRESH_USERS]
    return refresh


def about(form: FeedbackForm) -> str:
    """The session's reference and model: never anything of the case."""
    return f"{form.session.name} session {form.session.reference}"


def feedback_card(
    form: FeedbackForm, user_ids: list[str], *, reminder: bool = False
) -> dict[str, Any]:
    session = form.session
    if form.round is Round.AFTER:
        heading = "How was the session for you?"
        intro = (
            "Everyone who took part is asked, guests from other organisations too. It takes "
            "a minute."
        )
    else:
        months = form.months
        heading = f"{months} month{'s' if months != 1 else ''} on: has anything changed?"
        intro = (
            f"You took part in this session {months} month{'s' if months != 1 else ''} ago. "
            "What difference has it made to your work?"
        )
    words = form.words
    return render(
        "feedback_form",
        {
            "refresh": refresh_of(form, user_ids),
            "reminder": REMINDER if reminder else "",
            "heading": heading,
            "about": about(form),
            "intro": intro,
            "headline": {
                "key": form.headline.key,
                "text": form.headline.text,
                "choices": choices_of(form.headline),
            },
            "words": {"key": words[0], "label": words[1]} if words else None,
            "questions": [
                {
                    "key": question.key,
                    "text": question.text,
                    "style": "expanded" if question.kind is QuestionKind.YES_NO else "compact",
                    "choices": choices_of(question),
                }
                for question in form.questions
            ],
            "privacy": PRIVACY,
            "answer_verb": FeedbackVerb.ANSWER.value,
            "session": session.id,
            "round": form.round.value,
        },
    )


def feedback_done_card(form: FeedbackForm, user_ids: list[str], notice: str = "") -> dict[str, Any]:
    """What someone who has answered sees in place of the questions."""
    return render(
        "feedback_done",
        {"refresh": refresh_of(form, user_ids), "notice": notice, "about": about(form)},
    )
