"""What a session's page shows, as the JSON its script draws: the stage, who speaks and who
listens, the clock, the plan and where the session is, the reflective questions.

Never a contribution (whatever the mode): the page is for a shared screen. The room display
(`Scope.ROOM`) shows no names either: not the facilitator, not who holds which role.

The clock travels as the stage's end time and the server's time now, so each browser draws
its countdown from its own offset to the server's clock and every screen agrees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.sessions.links import Scope
from bot.sessions.timing import Status
from bot.sessions.views import SessionView
from cards.sessions import who_speaks


def _millis(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def screen_state(view: SessionView, scope: Scope, now: datetime) -> dict[str, Any]:
    step = view.current
    speaks, listens = who_speaks(step)
    state: dict[str, Any] = {
        "session": view.id,
        "version": view.version,
        "name": view.name,
        "reference": view.reference,
        "status": view.status.value,
        "step": view.step,
        "steps": [
            {"title": s.title, "minutes": s.default_minutes, "position": _position(view, i)}
            for i, s in enumerate(view.steps)
        ],
        "stage": {
            "title": step.title,
            "position": _position(view, view.step),
            "speaks": speaks or "Everyone",
            "listens": listens,
            "guidance": step.guidance,
            "prompts": list(step.prompts),
        },
        "ends_at": _millis(view.ends_at) if view.status is Status.RUNNING else None,
        "remaining": view.seconds_left(now),
        "warning_seconds": float(view.protocol.get("warning_minutes", 2)) * 60,
        "server_now": _millis(now),
        "questions": list(view.protocol.get("question_bank", [])),
        "no_notes": view.no_notes,
        "live": view.live,  # begun and not ended: the tab's controls apply
    }
    if scope is Scope.MEMBER:
        state["holders"] = [
            {"role": view.role_name(key), "names": [holder.name for holder in holders]}
            for key, holders in view.roles.items()
            if holders
        ]
    return state


def _position(view: SessionView, index: int) -> str:
    step = view.steps[index]
    position = f"Stage {index + 1} of {len(view.steps)}"
    if step.cycle is not None:
        position += f" · cycle {step.cycle} of {step.cycles}"
    return position
