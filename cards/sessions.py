"""The cards of a session in a meeting chat: set-up, agreement, roles, the live stage card,
contributions, the question bank and the summary with the note for the child's record.

Every button carries the session id, and the controls also the step and version the card
was drawn with, so a double press or an old card changes the session at most once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.protocols import Collect
from bot.core.working_days import WorkingCalendar
from bot.sessions.timing import Status
from bot.sessions.views import Contribution, SessionView
from cards.binder import render
from cards.verbs import SessionVerb

COLLECT_HEADINGS = {
    Collect.HOPES: ("Hopes for this session", "Add my hopes"),
    Collect.BLOCKERS_ENABLERS: ("Three blockers and three enablers", "Add mine"),
    Collect.ACTIONS: ("Actions", "Add this action"),
}
COLLECT_INTROS = {
    Collect.HOPES: "What do you hope to take away from this session?",
    Collect.BLOCKERS_ENABLERS: (
        "What have you seen block the work with this child or family, and what has helped?"
    ),
    Collect.ACTIONS: "What will be done, by whom, by when, and where it will be recorded.",
}


@dataclass(frozen=True)
class ProtocolChoice:
    id: str
    name: str
    # The set-up card asks whether the facilitator is independent (then nothing is noted).
    asks_independent: bool = False
    # How many cycles of its repeating stage, when it has one: the set-up card asks.
    cycles_question: str = ""


def minutes_text(seconds: float) -> str:
    minutes = max(0, math.ceil(seconds / 60 - 1e-9))
    if seconds < 60:
        return "under a minute" if seconds > 0 else "no time"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def opening_card(
    partnership: str, models: list[ProtocolChoice], scheduled: str = ""
) -> dict[str, Any]:
    return render(
        "session_opening",
        {
            "partnership": partnership,
            "scheduled": scheduled,
            "models": ", ".join(m.name for m in models),
            "verb": SessionVerb.START.value,
        },
    )


def setup_card(
    models: list[ProtocolChoice],
    *,
    values: dict[str, Any] | None = None,
    notice: str = "",
    example_reference: str = "RP-2026-0001",
) -> dict[str, Any]:
    values = values or {}
    independent = [m.name for m in models if m.asks_independent]
    repeating = [m for m in models if m.cycles_question]
    return render(
        "session_setup",
        {
            "notice": notice,
            "notice_style": "attention",
            "models": [{"title": m.name, "value": m.id} for m in models],
            "model": str(values.get("model") or (models[0].id if models else "")),
            "reference": str(values.get("reference") or ""),
            "example_reference": example_reference,
            "offers_independent": bool(independent),
            "independent_label": f"{' / '.join(independent)}: the facilitator is independent "
            "of the case (no notes are kept)",
            "independent": "true" if str(values.get("independent")) == "true" else "false",
            "offers_cycles": bool(repeating),
            "cycles_label": " / ".join(f"{m.name}: {m.cycles_question}" for m in repeating),
            "cycles": _int(values.get("cycles"), 3),
            "verb": SessionVerb.SET_UP.value,
        },
    )


def agreement_card(view: SessionView) -> dict[str, Any]:
    protocol = view.protocol
    return render(
        "session_agreement",
        {
            "name": view.name,
            "reference": view.reference,
            "summary": protocol["summary"],
            "no_notes": view.no_notes,
            "agreement": protocol["group_agreement"],
            "is": protocol["is"],
            "is_not": protocol["is_not"],
        },
    )


def roles_card(
    view: SessionView, *, notice: str = "", notice_style: str = "good"
) -> dict[str, Any]:
    roles = []
    for role in view.protocol["roles"]:
        holders = view.roles.get(role["key"], [])
        names = ", ".join(h.name for h in holders) if holders else "nobody yet"
        many = role.get("holders", "one") == "many"
        roles.append(
            {
                "key": role["key"],
                "name": role["name"],
                "description": role["description"],
                "holders": names,
                "button": "Join" if many else ("Take over" if holders else "Take it"),
            }
        )
    steps = len(view.steps)
    minutes = sum(step.default_minutes for step in view.steps)
    actions = []
    if view.status is Status.READY:
        actions.append(_control("Begin the first stage", SessionVerb.BEGIN, view, "positive"))
    actions.append(_plain("Reflective questions", SessionVerb.QUESTIONS, view))
    if view.status is Status.READY:
        # A set-up made by mistake (the wrong model, say) is undone without holding anything.
        actions.append(
            _control("Cancel this set-up", SessionVerb.END, view, "destructive", secondary=True)
        )
    independent_line = ""
    if view.protocol.get("independent_means_no_notes"):
        independent_line = (
            "Facilitator independent of the case: yes. No notes are kept."
            if view.independent_facilitator
            else "Facilitated by the Lead Professional or their manager: actions may be noted."
        )
    return render(
        "session_roles",
        {
            "notice": notice,
            "notice_style": notice_style,
            "name": view.name,
            "reference": view.reference,
            "plan_line": f"{steps} stages, about {minutes:g} minutes.",
            "independent_line": independent_line,
            "roles": roles,
            "session": view.id,
            "take_verb": SessionVerb.TAKE_ROLE.value,
            "who_begins": _who_controls(view),
            "actions": actions,
        },
    )


def stage_card(
    view: SessionView,
    now: datetime,
    calendar: WorkingCalendar,
    *,
    notice: str = "",
    notice_style: str = "warning",
) -> dict[str, Any]:
    """The one live card: the stage, who speaks and listens, the guidance, the time left."""
    step = view.current
    left = view.seconds_left(now)
    clock, clock_style, clock_color = _clock(view, left, now, calendar)
    position = f"Stage {view.step + 1} of {len(view.steps)}"
    if step.cycle is not None:
        position += f" · cycle {step.cycle} of {step.cycles}"
    up_next = ""
    if view.status is not Status.ENDED and view.step + 1 < len(view.steps):
        following = view.steps[view.step + 1]
        up_next = f"Next: {following.title} ({following.default_minutes:g} min)"
        if step.auto_advance:
            up_next += ", which starts by itself when the time is up"
    collecting = ""
    if step.collect is not Collect.NONE and view.status is not Status.ENDED:
        collecting = (
            "Nothing typed is kept in this session: share it aloud."
            if view.no_notes
            else "Use the card below this stage's start to add yours."
        )
    return render(
        "session_stage",
        {
            "notice": notice,
            "notice_style": notice_style,
            "heading": f"{view.name} · {view.reference}",
            "position": position,
            "title": step.title,
            "clock": clock,
            "clock_style": clock_style,
            "clock_color": clock_color,
            "no_notes": view.no_notes,
            "has_step": view.status is not Status.ENDED,
            "speaks": step.speaks,
            "listens": step.listens,
            "guidance": step.guidance,
            "prompts": list(step.prompts) if view.status is not Status.ENDED else [],
            "collecting": collecting,
            "up_next": up_next,
            "who_controls": _who_controls(view),
            "actions": _stage_actions(view),
        },
    )


def collect_card(
    view: SessionView, step: int, *, notice: str = "", notice_style: str = "good"
) -> dict[str, Any]:
    """The form for a stage's contributions: always empty. A refused contribution gets a
    message and stays in the card it was typed in (bot.sessions.meeting)."""
    kind = view.steps[step].collect
    heading, submit = COLLECT_HEADINGS[kind]
    return render(
        "session_collect",
        {
            "notice": notice,
            "notice_style": notice_style,
            "heading": f"{heading} · {view.reference}",
            "intro": COLLECT_INTROS[kind],
            "form": {k.value: k is kind for k in COLLECT_HEADINGS},
            # Whatever the protocol's anonymous_contributions says: no card shows what anyone
            # wrote, so none shows who wrote it.
            "privacy": "This chat is only told how many are in, never what they say.",
            "submit_title": submit,
            "contribute_verb": SessionVerb.CONTRIBUTE.value,
            "show_verb": SessionVerb.SHOW_TOGETHER.value,
            "session": view.id,
            "step": step,
            "kind": kind.value,
        },
    )


def contributions_card(
    view: SessionView, kind: Collect, contributions: list[Contribution]
) -> dict[str, Any]:
    """How many have been added, never what: the meeting chat keeps every card, and can
    include people from other organisations. What was written is shared aloud."""
    blockers = sum(len(c.content.get("blockers", [])) for c in contributions)
    enablers = sum(len(c.content.get("enablers", [])) for c in contributions)
    people = len({c.author_id for c in contributions})
    counts = {
        Collect.HOPES: [("Hopes", len(contributions))],
        Collect.BLOCKERS_ENABLERS: [("Blockers", blockers), ("Enablers", enablers)],
        Collect.ACTIONS: [("Actions", len(contributions))],
    }[kind]
    heading = COLLECT_HEADINGS[kind][0]
    return render(
        "session_contributions",
        {
            "heading": f"{heading}: together",
            "intro": f"From {people} {'person' if people == 1 else 'people'}.",
            "is_empty": not contributions,
            "counts": [{"title": title, "value": str(count)} for title, count in counts],
        },
    )


def questions_card(view: SessionView) -> dict[str, Any]:
    return render(
        "session_questions",
        {"name": view.name, "questions": list(view.protocol.get("question_bank", []))},
    )


def summary_card(
    view: SessionView, actions: list[Contribution], calendar: WorkingCalendar
) -> dict[str, Any]:
    stages = []
    for index, step in enumerate(view.steps):
        spent = view.time_spent[index] if index < len(view.time_spent) else 0.0
        took = "not reached" if spent <= 0 else f"took {minutes_text(spent)}"
        stages.append(
            {"title": step.title, "value": f"{step.default_minutes:g} min planned, {took}"}
        )
    total = sum(view.time_spent)
    return render(
        "session_summary",
        {
            "name": view.name,
            "reference": view.reference,
            "held_on": held_on(view, calendar),
            "total": f"{minutes_text(total)} in all",
            "stages": stages,
            "no_notes": view.no_notes,
            "show_actions": not view.no_notes,
            "no_actions": not view.no_notes and not actions,
            "actions_added": _actions_added(len(actions)) if actions and not view.no_notes else "",
            "record_note": record_note(view, calendar),
        },
    )


def record_note(view: SessionView, calendar: WorkingCalendar) -> str:
    """What the guidance asks practitioners to note, at the least, in the child's record."""
    return (
        f"A multi-agency reflective session ({view.name}) took place on "
        f"{held_on(view, calendar)}, reference {view.reference}. Individual and agency "
        "comments are not recorded here."
    )


def held_on(view: SessionView, calendar: WorkingCalendar) -> str:
    moment = view.started_at or view.ended_at
    if moment is None:
        return "(not started)"
    local = calendar.local(moment)
    return f"{local.day} {local:%B %Y}"


def _actions_added(count: int) -> str:
    """The summary's line about the actions: how many, never what (see contributions_card)."""
    added = f"{count} action{' was' if count == 1 else 's were'} added on the cards"
    return (
        f"{added}. They are not listed in this chat, which stays after the meeting: each "
        "practitioner records the actions that are theirs where they agreed to."
    )


def _clock(
    view: SessionView, left: float, now: datetime, calendar: WorkingCalendar
) -> tuple[str, str, str]:
    """The time line, the container style and the text colour for the session's state."""
    if view.status is Status.READY:
        return (
            "Not started: take your roles, then the facilitator presses Begin.",
            "emphasis",
            "Default",
        )
    if view.status is Status.ENDED:
        return "The session has ended. Thank you.", "good", "Good"
    if view.status is Status.PAUSED:
        return f"Paused, with {minutes_text(left)} left.", "warning", "Warning"
    assert view.ends_at is not None
    ends = calendar.local(view.ends_at)
    if left <= 0:
        return (
            f"Time is up (over by {minutes_text(-left)}). Move on when the group is ready.",
            "attention",
            "Attention",
        )
    return f"About {minutes_text(left)} left · ends {ends:%H:%M}", "accent", "Default"


def _stage_actions(view: SessionView) -> list[dict[str, Any]]:
    if view.status is Status.ENDED:
        return []
    if view.status is Status.READY:
        return [_control("Begin the first stage", SessionVerb.BEGIN, view, "positive")]
    step = view.current
    last = view.step + 1 >= len(view.steps)
    actions = [
        _control("Resume", SessionVerb.RESUME, view, "positive")
        if view.status is Status.PAUSED
        else _control("Pause", SessionVerb.PAUSE, view)
    ]
    room = step.max_minutes * 60 - view.allotted_seconds
    if room > 0:
        extend = min(float(view.protocol.get("extend_minutes", 5)) * 60, room)
        actions.append(_control(f"+{extend / 60:g} min", SessionVerb.ADD_TIME, view))
    actions.append(
        _control("End session", SessionVerb.END, view, "positive")
        if last
        else _control("Next stage", SessionVerb.NEXT, view, "positive")
    )
    if view.step > 0:
        actions.append(_control("Back a stage", SessionVerb.BACK, view, secondary=True))
    actions.append(_plain("Reflective questions", SessionVerb.QUESTIONS, view, secondary=True))
    if not last:
        actions.append(
            _control("End the session now", SessionVerb.END, view, "destructive", secondary=True)
        )
    return actions


def _control(
    title: str, verb: SessionVerb, view: SessionView, style: str = "", secondary: bool = False
) -> dict[str, Any]:
    action = _plain(title, verb, view, secondary=secondary)
    action["data"].update({"step": view.step, "version": view.version})
    if style:
        action["style"] = style
    return action


def _plain(
    title: str, verb: SessionVerb, view: SessionView, secondary: bool = False
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb.value,
        "data": {"session": view.id},
    }
    if secondary:
        action["mode"] = "secondary"  # in the card's "..." menu
    return action


def _who_controls(view: SessionView) -> str:
    who = view.facilitator_name or "the facilitator"
    return f"{who} (facilitating), the meeting organiser or a presenter can move the session on."


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default
