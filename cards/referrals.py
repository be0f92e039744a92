"""The cards of the referral form, one per step, filled from the draft.

On a retry the card is filled from what the user just entered (`entered`), so nothing they
typed is lost, with the problem shown at the top.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.core.protocols import ModelCatalogue
from bot.referrals.model import (
    KIND_LABELS,
    STATUS_LABELS,
    STRATEGY_LABELS,
    THEME_LABELS,
    URGENCY_LABELS,
    FormQuestion,
    ReferralDraft,
    ReferralStatus,
    RethinkStrategy,
    answered,
)
from bot.referrals.views import ReferralSummary
from cards.binder import TEMPLATES, render
from cards.verbs import Verb

FORM_STEPS: dict[Verb, tuple[int, str]] = {
    Verb.RISK: (1, "Safety first"),
    Verb.KIND: (2, "What it is about"),
    Verb.MODEL: (3, "Which session"),
    Verb.STRATEGY_ONE: (3, "Re-think strategy 1"),
    Verb.NARRATIVE: (4, "What is stuck, and what help you want"),
    Verb.ABOUT: (5, "About you"),
    Verb.INVITEES: (6, "Who should be invited"),
    Verb.TIMING: (7, "When"),
    Verb.REVIEW: (8, "Check and submit"),
}
STEP_COUNT = 8
DRAFT_KEY = "draft"
# A discarding button's field: "yes" discards, "no" keeps going (dialogs.interruptible).
CONFIRMED_KEY = "confirmed"
BLANK_INVITEE_ROWS = 2
# Steps that may carry further questions: each has one submit and its own section on the
# review card (the invitees step submits again for every row added, so it has none).
QUESTION_STEPS = frozenset({Verb.KIND, Verb.MODEL, Verb.NARRATIVE, Verb.ABOUT, Verb.TIMING})
# The toggle that removes an optional free-text answer already given: its id is the
# question's key with this after it.
REMOVE_SUFFIX = "_remove"


@dataclass(frozen=True)
class FormOptions:
    """What the partnership configured that the cards show."""

    models: ModelCatalogue  # the models offered, with their labels and notes
    narrative_max_chars: int
    # The further questions asked (bot.referrals.model.FURTHER_QUESTIONS in the app).
    questions: tuple[FormQuestion, ...] = ()

    def __post_init__(self) -> None:
        check_questions(self.questions)

    def questions_of(self, step: Verb) -> tuple[FormQuestion, ...]:
        return tuple(question for question in self.questions if question.step is step)


def check_questions(questions: tuple[FormQuestion, ...]) -> None:
    """Refuses, at start-up, a question that could not be asked or would be read wrongly."""
    keys = [question.key for question in questions]
    for question in questions:
        if keys.count(question.key) > 1:
            raise ValueError(f"two further questions have the key {question.key!r}")
        if question.step not in QUESTION_STEPS:
            steps = ", ".join(sorted(QUESTION_STEPS))
            raise ValueError(f"question {question.key}: its step must be one of {steps}")
        if question.key in _input_ids(question.step) | {"verb", DRAFT_KEY}:
            raise ValueError(
                f"question {question.key}: the {question.step} step already has that input"
            )
        if question.key.endswith(REMOVE_SUFFIX):
            raise ValueError(f"question {question.key}: a key may not end {REMOVE_SUFFIX}")


def _input_ids(verb: Verb) -> set[str]:
    template = json.loads((TEMPLATES / f"{verb.value}.json").read_text(encoding="utf-8"))
    ids: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input.") and "id" in node:
                ids.add(node["id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(template)
    return ids


def _choices(labels: dict[Any, str]) -> list[dict[str, str]]:
    return [{"title": title, "value": str(value)} for value, title in labels.items()]


def _continue_actions(verb: Verb) -> list[dict[str, Any]]:
    # Only the way forward: cancelling is a line of its own, below, and asks first (_discard).
    return [
        {"type": "Action.Submit", "title": "Continue", "style": "positive", "data": {"verb": verb}},
    ]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _draft_values(verb: Verb, draft: ReferralDraft) -> dict[str, Any]:
    """The inputs of `verb`'s card as the draft holds them now."""
    if verb is Verb.KIND:
        return {"kind": _text(draft.kind), "theme": _text(draft.theme)}
    if verb is Verb.MODEL:
        return {"model": _text(draft.model), "rethink_strategy": _text(draft.rethink_strategy)}
    if verb is Verb.ABOUT:
        a = draft.about
        return {
            "agency": a.agency if a else "",
            "role": a.role if a else "",
            "is_lead_professional": _yes_no(a.is_lead_professional if a else None),
            "manager_agreed": _yes_no(a.manager_agreed if a else None),
            "manager_name": a.manager_name if a else "",
            "manager_email": a.manager_email if a else "",
        }
    if verb is Verb.TIMING:
        return {"urgency": _text(draft.timing.urgency if draft.timing else "")}
    return {}


def written_answers(verb: Verb, draft: ReferralDraft, options: FormOptions) -> dict[str, str]:
    """What the referrer wrote about the case at `verb`'s step, by input id: the narrative,
    the availability, the further free-text answers.

    Never drawn on a card: every card the bot sends stays in the chat's history. A step shown
    again leaves these boxes empty and says how long each answer is; a box left empty keeps
    what was written (`with_written_answers`).
    """
    written: dict[str, str] = {}
    if verb is Verb.NARRATIVE and draft.narrative:
        written = {
            "what_is_stuck": draft.narrative.what_is_stuck,
            "help_wanted": draft.narrative.help_wanted,
        }
    elif verb is Verb.TIMING and draft.timing:
        written = {"availability": draft.timing.availability}
    for question in options.questions_of(verb):
        if question.kind == "text" and draft.answers.get(question.key):
            written[question.key] = draft.answers[question.key]
    return written


def with_written_answers(
    verb: Verb, draft: ReferralDraft, options: FormOptions, fields: dict[str, str]
) -> dict[str, str]:
    """`fields` as submitted, each box left empty filled with what was written in it before
    (unless its "remove my answer" toggle was set)."""
    kept = dict(fields)
    for key, text in written_answers(verb, draft, options).items():
        removed = fields.get(f"{key}{REMOVE_SUFFIX}", "").lower() == "true"
        if not fields.get(key) and not removed:
            kept[key] = text
    return kept


def _characters(text: str) -> str:
    return f"{len(text)} character{'s' if len(text) != 1 else ''}"


def _written_note(texts: list[str], boxes: str) -> str:
    if not texts:
        return ""
    lengths = " and ".join(_characters(text) for text in texts)
    return (
        f"Already written ({lengths}), and checked. It is not shown here because the chat keeps "
        f"every card: leave {boxes} empty to keep what you wrote, or write it again to replace it."
    )


def _step_data(verb: Verb, draft: ReferralDraft, options: FormOptions) -> dict[str, Any]:
    data: dict[str, Any] = {
        **_draft_values(verb, draft),
        "continue_actions": _continue_actions(verb),
    }
    if verb is Verb.KIND:
        data |= {"kind_choices": _choices(KIND_LABELS), "theme_choices": _choices(THEME_LABELS)}
    elif verb is Verb.MODEL:
        data |= _model_data(options.models)
    elif verb is Verb.NARRATIVE:
        written = (
            [draft.narrative.what_is_stuck, draft.narrative.help_wanted] if draft.narrative else []
        )
        note = _written_note(written, "a box")
        data |= {"max_chars": options.narrative_max_chars, "written": note, "not_written": not note}
    elif verb is Verb.INVITEES:
        data |= _invitee_data(draft)
    elif verb is Verb.TIMING:
        note = _written_note([draft.timing.availability] if draft.timing else [], "the box")
        data |= {
            "urgency_choices": _choices(URGENCY_LABELS),
            "written": note,
            "not_written": not note,
        }
    elif verb is Verb.STRATEGY_ONE:
        data["back_to_review"] = draft.replaced_model is not None
    elif verb is Verb.REVIEW:
        data["sections"] = review_sections(draft, options)
    return data


def _discard(verb: Verb, draft: ReferralDraft) -> dict[str, Any] | None:
    """The line below a step's buttons that throws the referral away: a toggle that shows
    the confirming button, never a button beside Continue. The first step has none (nothing
    is entered yet; typing cancel ends it)."""
    if verb is Verb.RISK:
        return None
    if verb is Verb.STRATEGY_ONE:
        if draft.has_writing():
            return {
                "title": "Stop and delete this referral\u2026",
                "text": "This deletes the referral you have written: nothing has been sent. "
                "To keep it, use Back to the review above.",
                "button": "Yes, stop and delete what I wrote",
                "data": _stop_confirmed(),
            }
        return {
            "title": "Stop here\u2026",
            "text": "Nothing is noted or kept, and this referral ends here. Good luck with the "
            "conversation.",
            "button": "Stop, without noting it",
            "data": _stop_confirmed(),
        }
    return {
        "title": "Cancel this referral\u2026",
        "text": "This deletes everything you have entered in this referral; nothing has been "
        "sent to anyone. To keep going, carry on with the form above.",
        "button": "Yes, cancel and delete what I wrote",
        "data": {"verb": Verb.CANCEL, CONFIRMED_KEY: "yes"},
    }


def _stop_confirmed() -> dict[str, str]:
    return {"verb": Verb.STRATEGY_ONE, "choice": "stop", CONFIRMED_KEY: "yes"}


def _question_data(verb: Verb, draft: ReferralDraft, options: FormOptions) -> list[dict[str, Any]]:
    """The step's further questions: a yes or no filled in from the draft; a text answer
    already given only said to be there (`written_answers`)."""
    written = written_answers(verb, draft, options)
    questions = []
    for q in options.questions_of(verb):
        note = _written_note([written[q.key]], "the box") if q.key in written else ""
        questions.append(
            {
                "key": q.key,
                "asked": q.asked,
                "is_text": q.kind == "text",
                "is_yes_no": q.kind == "yes_no",
                "multiline": q.max_chars > 200,
                "max_chars": q.max_chars,
                "required": q.required and not note,
                "value": draft.answers.get(q.key, "") if q.kind == "yes_no" else "",
                "written": note,
                "removable": bool(note) and not q.required,
                "remove_key": f"{q.key}{REMOVE_SUFFIX}",
            }
        )
    return questions


def _model_data(models: ModelCatalogue) -> dict[str, Any]:
    asking = [model.label for model in models.offered if model.asks_strategy]
    return {
        "model_choices": [{"title": model.label, "value": model.id} for model in models.offered],
        "model_notes": [{"title": model.label, "note": model.note} for model in models.offered],
        "asks_strategy": bool(asking),
        "strategy_question": f"Only for {' or '.join(asking)}: which strategy are you at?",
        "strategy_choices": _choices(STRATEGY_LABELS),
    }


def model_help(models: ModelCatalogue) -> str:
    """The form's help at "Which session": each offered model's sentence."""
    return " ".join(model.help for model in models.offered)


def _invitee_data(draft: ReferralDraft) -> dict[str, Any]:
    invitees = draft.invitees or []
    rows = []
    for number in range(1, BLANK_INVITEE_ROWS + 1):
        rows.append(
            {
                "number": number,
                "label": len(invitees) + number,
                "name": "",
                "agency": "",
                "email": "",
            }
        )
    return {
        "has_invitees": bool(invitees),
        "invitees": [
            {"index": i, "name": p.name, "agency": p.agency, "email": p.email}
            for i, p in enumerate(invitees)
        ],
        "blank_rows": rows,
    }


def form_card(
    verb: Verb, draft: ReferralDraft, options: FormOptions, error: str | None = None
) -> dict[str, Any]:
    """The card for one step of the referral form, drawn from the draft: never from what was
    just typed (a refused answer stays in the card it was typed in, see dialogs.form_prompt)."""
    number, title = FORM_STEPS[verb]
    step = render(verb.value, _step_data(verb, draft, options))
    fields = step["fields"]
    if questions := _question_data(verb, draft, options):
        fields += render("further_questions", {"questions": questions})["fields"]
    card = render(
        "form_frame",
        {
            "step": number,
            "steps": STEP_COUNT,
            "title": title,
            "error": error,
            "fields": fields,
            "actions": step["actions"],
            "discard": _discard(verb, draft),
        },
    )
    _stamp_buttons(card, draft.draft_id)
    return card


def step_heading(verb: Verb) -> str:
    """The line that says where a record or question belongs: "Referral · step 2 of 8 · ..."."""
    number, title = FORM_STEPS[verb]
    return f"Referral \u00b7 step {number} of {STEP_COUNT} \u00b7 {title}"


def answered_card(verb: Verb, facts: list[tuple[str, str]], line: str = "") -> dict[str, Any]:
    """What a step's card becomes once it is answered (bot.teams.settle): the step, and the
    answer in a few words, with no buttons or boxes. Never what was typed: the chat keeps it."""
    return render(
        "answered",
        {
            "heading": step_heading(verb),
            "facts": [{"title": title, "value": value} for title, value in facts if value],
            "line": line,
        },
    )


def cancel_question_card(verb: Verb, draft: ReferralDraft) -> dict[str, Any]:
    """Asked when `cancel` is typed (or an old Cancel pressed) past the first step."""
    number, title = FORM_STEPS[verb]
    card = render(
        "confirm_discard",
        {
            "headline": "Cancel this referral?",
            "lines": [
                "Cancelling deletes everything you have entered in this referral; nothing has "
                "been sent to anyone.",
                f"Keep going to carry on at step {number} ({title}), where you were.",
            ],
            "keep": "Keep going",
            "keep_data": {"verb": Verb.CANCEL, CONFIRMED_KEY: "no"},
            "discard": "Yes, cancel and delete what I wrote",
            "discard_data": {"verb": Verb.CANCEL, CONFIRMED_KEY: "yes"},
        },
    )
    _stamp_buttons(card, draft.draft_id)
    return card


def stop_question_card(draft: ReferralDraft) -> dict[str, Any]:
    """Asked when Stop is pressed at Re-think strategy 1 on a referral already written (the
    review's Change of session led here): stopping would throw all of it away."""
    card = render(
        "confirm_discard",
        {
            "headline": "Stop and delete this referral?",
            "lines": [
                "You have written this referral already. Stopping deletes it; nothing has been "
                "sent to anyone.",
                "Back to the review keeps everything you entered, with the session you chose "
                "before.",
            ],
            "keep": "Back to the review",
            "keep_data": {"verb": Verb.STRATEGY_ONE, "choice": "review"},
            "discard": "Yes, stop and delete what I wrote",
            "discard_data": _stop_confirmed(),
        },
    )
    _stamp_buttons(card, draft.draft_id)
    return card


def _stamp_buttons(node: Any, draft_id: str) -> None:
    """Every button says which draft it belongs to, so a card from an earlier referral
    (its Cancel included) cannot act on the one in progress."""
    if isinstance(node, dict):
        if node.get("type") == "Action.Submit":
            node.setdefault("data", {})[DRAFT_KEY] = draft_id
        for value in node.values():
            _stamp_buttons(value, draft_id)
    elif isinstance(node, list):
        for item in node:
            _stamp_buttons(item, draft_id)


def review_sections(draft: ReferralDraft, options: FormOptions) -> list[dict[str, Any]]:
    """The review card's sections; each can be changed by its own button."""

    def section(verb: Verb, heading: str, *pairs: tuple[str, str]) -> dict[str, Any]:
        further = answered(options.questions, draft.answers, verb)  # the step's own questions
        pairs += tuple(
            (question.label_for_admins, said(shown) if question.kind == "text" else shown)
            for question, shown in further
        )
        # Never "-" for an empty value: Teams' markdown draws it as a bullet.
        facts = [{"title": title, "value": value or "Not given"} for title, value in pairs]
        return {"section": verb, "heading": heading, "facts": facts}

    kind = KIND_LABELS[draft.kind] if draft.kind else ""
    if draft.theme:
        kind += f" ({THEME_LABELS[draft.theme]})"
    model = options.models.label(draft.model) if draft.model else ""
    if draft.rethink_strategy:
        model += f", {STRATEGY_LABELS[draft.rethink_strategy]}"
    sections = [
        section(Verb.KIND, "What you are referring", ("Referring", kind)),
        section(Verb.MODEL, "Session", ("Model", model)),
    ]
    if draft.narrative:
        sections.append(
            section(
                Verb.NARRATIVE,
                "What is stuck",
                ("Stuck", said(draft.narrative.what_is_stuck)),
                ("Help wanted", said(draft.narrative.help_wanted)),
            )
        )
    if draft.about:
        a = draft.about
        manager = "Agreed" if a.manager_agreed else "Not yet agreed"
        if a.manager_agreed:
            manager += f": {a.manager_name} ({a.manager_email})"
        sections.append(
            section(
                Verb.ABOUT,
                "About you",
                ("Agency", a.agency),
                ("Role", a.role),
                ("Lead Professional", "Yes" if a.is_lead_professional else "No"),
                ("Manager", manager),
            )
        )
    if draft.rethink_strategy is not RethinkStrategy.ONE_TO_ONE:
        people = "; ".join(f"{p.name}, {p.agency} ({p.email})" for p in draft.invitees or [])
        sections.append(section(Verb.INVITEES, "Who to invite", ("Invite", people or "No one yet")))
        if draft.timing:
            sections.append(
                section(
                    Verb.TIMING,
                    "When",
                    ("Available", said(draft.timing.availability)),
                    ("Urgency", URGENCY_LABELS[draft.timing.urgency]),
                )
            )
    return sections


def said(text: str) -> str:
    """How the review card shows free text about the case: that it is there, not what it is."""
    return f"Written and checked, {_characters(text)}" if text else ""


def welcome_card(partnership: str, models: ModelCatalogue) -> dict[str, Any]:
    labels = ", ".join(model.label for model in models.offered)
    return render("welcome", {"partnership": partnership, "models": labels})


def my_referrals_card(referrals: list[ReferralSummary], models: ModelCatalogue) -> dict[str, Any]:
    return render(
        "my_referrals",
        {
            "is_empty": not referrals,
            "referrals": [
                {
                    "reference": r.reference,
                    "model": models.label(r.model),
                    "status": STATUS_LABELS[r.status],
                    "created": f"{r.created_at.day} {r.created_at:%b %Y}",
                }
                for r in referrals
            ],
        },
    )


NEXT_STEPS = {
    ReferralStatus.SUBMITTED: (
        "The partnership's business support team will look at it, usually within a few working "
        "days. I will tell you here when anything changes."
    ),
    ReferralStatus.NOTED_ONE_TO_ONE: (
        "Have the conversation with the Lead Professional. If it does not resolve things, type "
        "**refer** to ask for a {model} (strategy 2 or 3)."
    ),
}


def confirmation_card(
    reference: str, draft: ReferralDraft, status: ReferralStatus, models: ModelCatalogue
) -> dict[str, Any]:
    headline = "Noted" if status is ReferralStatus.NOTED_ONE_TO_ONE else "Referral received"
    model = models.label(draft.model) if draft.model else ""
    return render(
        "confirmation",
        {
            "headline": headline,
            "reference": reference,
            "model": model,
            "status": STATUS_LABELS[status],
            "next_steps": NEXT_STEPS[status].format(model=model),
        },
    )


def signpost_card(text: str, url: str) -> dict[str, Any]:
    """Immediate risk of harm: not this bot's job; where to go instead."""
    return render("signpost", {"text": text, "url": url})
