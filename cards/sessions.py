"""The cards of a session in a meeting chat: set-up, agreement, roles, the live stage card,
contributions, the question bank and the summary with the note for the child's record.

Every button carries the session id, and the controls also the step and version the card
was drawn with, so a double press or an old card changes the session at most once, and
which copy of the stage card they are on (`card`: it is posted afresh below anything else
the bot posts, and the earlier copy collapses to one line: `moved_card`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.protocols import Collect, Step
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
# SESSION_CONTROL_ROLES' default (bot.core.settings): who the cards say may drive a session
# when the caller does not say.
ORGANISER_ONLY = frozenset({"organizer"})
# How the cards name the meeting roles that SESSION_CONTROL_ROLES may list.
MEETING_ROLES = {
    "organizer": "the meeting's organiser",
    "presenter": "a presenter",
    "attendee": "anyone in the meeting",
}
AGREEMENT_SHOWN = 3  # points of the group agreement on the card before "show all"


@dataclass(frozen=True)
class ProtocolChoice:
    id: str
    name: str
    # The set-up card asks whether the facilitator is independent (then nothing is noted).
    asks_independent: bool = False
    # How many cycles of its repeating stage, when it has one: the set-up card asks.
    cycles_question: str = ""
    note: str = ""  # one line on what the model is for, under its name


def minutes_text(seconds: float) -> str:
    minutes = max(0, math.ceil(seconds / 60 - 1e-9))
    if seconds < 60:
        return "under a minute" if seconds > 0 else "no time"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def who_speaks(step: Step) -> tuple[str, str]:
    """Who speaks and who listens in a step; "" for nobody (a plan stored with "-" for a
    stage where everyone speaks says so too)."""

    def shown(names: str) -> str:
        return "" if names.strip() in ("", "-") else names

    return shown(step.speaks), shown(step.listens)


def who_controls(view: SessionView, control_roles: frozenset[str] = ORGANISER_ONLY) -> str:
    """Who may move the session on, as SESSION_CONTROL_ROLES has it: "Jo (facilitating) or
    the meeting's organiser"."""
    return _either([f"{view.facilitator_name or 'the facilitator'} (facilitating)"], control_roles)


def meeting_roles_text(control_roles: frozenset[str]) -> str:
    """ "the meeting's organiser or a presenter"; "" when SESSION_CONTROL_ROLES is empty."""
    return _either([], control_roles)


def _either(who: list[str], control_roles: frozenset[str]) -> str:
    who = who + [
        MEETING_ROLES.get(role, f"anyone whose meeting role is {role}")
        for role in sorted(control_roles)
    ]
    if len(who) <= 1:
        return "".join(who)
    return ", ".join(who[:-1]) + " or " + who[-1]


def _may_move_on(view: SessionView, control_roles: frozenset[str], what: str) -> str:
    """ "Jo Facilitator (facilitating) or the meeting's organiser can move the session on."."""
    only = "Only " if not control_roles else ""
    return _sentence(f"{only}{who_controls(view, control_roles)} can {what}.")


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
    """Each model is a button that opens its own options (Action.ShowCard) with its Start
    button: only the chosen model's questions are shown. `values`: what was sent before."""
    values = values or {}
    chosen = str(values.get("model") or "")
    entries = []
    for m in models:
        mine = m.id == chosen
        independent = mine and str(values.get("independent")) == "true"
        entries.append(
            {
                "id": m.id,
                "name": m.name,
                "note": _sentence(m.note),
                "asks_independent": m.asks_independent,
                "independent_id": option_id("independent", m.id),
                "independent": "true" if independent else "false",
                "asks_cycles": bool(m.cycles_question),
                "cycles_id": option_id("cycles", m.id),
                "cycles_label": m.cycles_question[:1].upper() + m.cycles_question[1:],
                "cycles": _int(values.get("cycles"), 3) if mine else 3,
            }
        )
    return render(
        "session_setup",
        {
            "notice": notice,
            "notice_style": "attention",
            "models": entries,
            "reference": str(values.get("reference") or ""),
            "example_reference": example_reference,
            "verb": SessionVerb.SET_UP.value,
        },
    )


def option_id(option: str, model: str) -> str:
    """The input id of one model's option on the set-up card ("cycles", "independent")."""
    return f"{option}_{model}"


def agreement_card(view: SessionView) -> dict[str, Any]:
    """Short at a glance: the model in a sentence, the first points of the group agreement
    and the safety line; the rest of the agreement and what the space is and is not open
    with a button each (Action.ToggleVisibility: the card is never redrawn, so they stay
    open)."""
    protocol = view.protocol
    summary = str(protocol["summary"])
    lead, _, rest = summary.partition(". ")
    agreement = list(protocol["group_agreement"])
    return render(
        "session_agreement",
        {
            "name": view.name,
            "reference": view.reference,
            "summary_lead": lead if rest else summary.rstrip("."),
            "summary_rest": rest,
            "no_notes": view.no_notes,
            "agreement_lead": agreement[:AGREEMENT_SHOWN],
            "agreement_rest": agreement[AGREEMENT_SHOWN:],
            "agreement_more": f"Show all {len(agreement)} points",
            "is": protocol["is"],
            "is_not": protocol["is_not"],
        },
    )


def roles_card(
    view: SessionView,
    *,
    notice: str = "",
    notice_style: str = "good",
    control_roles: frozenset[str] = ORGANISER_ONLY,
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
    actions.append(_plain("Room display link", SessionVerb.ROOM_LINK, view, secondary=True))
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
            "who_begins": _may_move_on(view, control_roles, "begin the session and move it on"),
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
    control_roles: frozenset[str] = ORGANISER_ONLY,
) -> dict[str, Any]:
    """The one live card: the stage, who speaks and listens, the guidance, the time left
    (the largest text on it)."""
    step = view.current
    left = view.seconds_left(now)
    clock, clock_detail, clock_style, clock_color = _clock(view, left, now, calendar)
    position = _position(view, view.step)
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
            else f"Add yours on the \u201c{COLLECT_HEADINGS[step.collect][0]}\u201d card above."
        )
    speaks, listens = who_speaks(step)
    facts = [{"title": "Speaking", "value": speaks or "Everyone"}]
    if listens:
        facts.append({"title": "Listening", "value": listens})
    return render(
        "session_stage",
        {
            "notice": notice,
            "notice_style": notice_style,
            "heading": f"{view.name} · {view.reference}",
            "position": position,
            "title": step.title,
            "clock": clock,
            "clock_detail": clock_detail,
            "clock_style": clock_style,
            "clock_color": clock_color,
            "no_notes": view.no_notes,
            "has_step": view.status is not Status.ENDED,
            "facts": facts,
            "guidance": step.guidance,
            "prompts": list(step.prompts) if view.status is not Status.ENDED else [],
            "collecting": collecting,
            "up_next": up_next,
            "who_controls": _may_move_on(view, control_roles, "move the session on")
            if view.status is not Status.ENDED
            else "",
            "actions": _stage_actions(view),
            # Ending early cannot be undone: its own row, away from Next stage, and it only
            # opens a confirmation (Teams' "..." menu cannot open one).
            "end_now": [_confirm_end("End the session now", view)]
            if view.live and view.step + 1 < len(view.steps)
            else [],
        },
    )


def moved_card(view: SessionView, step: int, *, notice: str = "") -> dict[str, Any]:
    """An earlier copy of the stage card, collapsed to one line: the live card was posted
    again below something else the bot posted, to stay at the bottom of the chat."""
    return render(
        "session_moved",
        {
            "notice": notice,
            "line": f"{_position(view, step)}: {view.steps[step].title} \u2014 moved below",
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


def _position(view: SessionView, index: int) -> str:
    step = view.steps[index]
    position = f"Stage {index + 1} of {len(view.steps)}"
    if step.cycle is not None:
        position += f" · cycle {step.cycle} of {step.cycles}"
    return position


def _clock(
    view: SessionView, left: float, now: datetime, calendar: WorkingCalendar
) -> tuple[str, str, str, str]:
    """The countdown (short: it is the card's largest text), the line under it, the
    container style and the countdown's colour, for the session's state."""
    if view.status is Status.READY:
        return (
            "Not started",
            "Take your roles, then the facilitator presses Begin.",
            "emphasis",
            "Default",
        )
    if view.status is Status.ENDED:
        return "Ended", "The session has ended. Thank you.", "good", "Default"
    if view.status is Status.PAUSED:
        return (
            f"Paused \u00b7 {_short_minutes(left)} left",
            "The clock starts again when the facilitator presses Resume.",
            "warning",
            "Default",
        )
    assert view.ends_at is not None
    ends = calendar.local(view.ends_at)
    if left <= 0:
        over = f"Over by {minutes_text(-left)}. " if left <= -60 else ""
        return "Time is up", f"{over}Move on when the group is ready.", "attention", "Default"
    detail = f"Ends at {ends:%H:%M}."
    if left <= _warning_seconds(view):
        detail += " Nearly time: start bringing this stage to a close."
    return f"{_short_minutes(left)} left", detail, "accent", "Default"


def _short_minutes(seconds: float) -> str:
    """ "9 min", "1 min", "Under 1 min": short enough for the countdown's large text."""
    if seconds < 60:
        return "Under 1 min" if seconds > 0 else "0 min"
    return f"{math.ceil(seconds / 60 - 1e-9)} min"


def _warning_seconds(view: SessionView) -> float:
    """When the warning before the end comes (bot.sessions.timing: at most half the step)."""
    warning = float(view.protocol.get("warning_minutes", 2)) * 60
    return min(warning, view.allotted_seconds / 2)


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
        _confirm_end("End session", view, "positive")
        if last
        else _control("Next stage", SessionVerb.NEXT, view, "positive")
    )
    if view.step > 0:
        actions.append(_control("Back a stage", SessionVerb.BACK, view, secondary=True))
    actions.append(_plain("Reflective questions", SessionVerb.QUESTIONS, view, secondary=True))
    actions.append(_plain("Room display link", SessionVerb.ROOM_LINK, view, secondary=True))
    return actions


def _confirm_end(title: str, view: SessionView, style: str = "") -> dict[str, Any]:
    """A button that opens "End the session for everyone?" with the one button that ends it
    (its data says `confirmed`: an End without it ends nothing)."""
    confirm = _control("Yes, end the session", SessionVerb.END, view, "destructive")
    confirm["data"]["confirmed"] = True
    action: dict[str, Any] = {
        "type": "Action.ShowCard",
        "title": title,
        "card": {
            "type": "AdaptiveCard",
            "body": [
                {
                    "type": "TextBlock",
                    "text": "End the session for everyone? The summary is posted, and the "
                    "session cannot be started again.",
                    "wrap": True,
                }
            ],
            "actions": [confirm],
        },
    }
    if style:
        action["style"] = style
    return action


def _control(
    title: str, verb: SessionVerb, view: SessionView, style: str = "", secondary: bool = False
) -> dict[str, Any]:
    action = _plain(title, verb, view, secondary=secondary)
    action["data"].update({"step": view.step, "version": view.version})
    if view.started_at is not None:
        action["data"]["card"] = view.stage_card_posts  # which copy of the stage card
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


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default
