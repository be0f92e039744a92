"""A SERVER span per POST /api/messages: one turn, with what kind of turn it was and nothing
of who, where or what was said.

The span names the activity's type, its invoke or event name, the card verb pressed, the
channel and the kind of conversation, each only when it is one of ours or Teams' known
values ("other" otherwise: a hostile envelope writes nothing of its own into the trace), and
the HTTP status answered. Never text, names, ids of people, conversations or tenants, nor the
service URL. A W3C `traceparent` header, if the caller sent one, makes the turn its child.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from botbuilder.schema import Activity, ActivityTypes
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bot.core import telemetry
from bot.teams.routes import Feature
from cards.verbs import Verb

OTHER = "other"
ACTIVITY_TYPE = "bot.activity.type"
ACTIVITY_NAME = "bot.activity.name"
CARD_VERB = "bot.card.verb"
CHANNEL = "bot.channel"
CONVERSATION_TYPE = "bot.conversation.type"

_TYPES = frozenset(kind.value for kind in ActivityTypes)
# Invoke and event names Teams sends (as botbuilder's TeamsActivityHandler routes them).
_NAMES = frozenset(
    {
        "adaptiveCard/action",
        "actionableMessage/executeAction",
        "composeExtension/fetchTask",
        "composeExtension/query",
        "composeExtension/queryLink",
        "composeExtension/selectItem",
        "composeExtension/submitAction",
        "config/fetch",
        "config/submit",
        "fileConsent/invoke",
        "healthCheck",
        "signin/tokenExchange",
        "signin/verifyState",
        "tab/fetch",
        "tab/submit",
        "task/fetch",
        "task/submit",
        "application/vnd.microsoft.meetingStart",
        "application/vnd.microsoft.meetingEnd",
        "application/vnd.microsoft.meetingParticipantJoin",
        "application/vnd.microsoft.meetingParticipantLeave",
        "application/vnd.microsoft.readReceipt",
    }
)
_CHANNELS = frozenset({"msteams", "emulator", "webchat", "directline"})
_CONVERSATION_TYPES = frozenset({"personal", "groupChat", "channel"})
_PROPAGATOR = TraceContextTextMapPropagator()  # traceparent only: no baggage


def verbs_of(routes: Feature) -> frozenset[str]:
    """The verbs a turn's span may name: the form's and commands', and every card action's."""
    return frozenset(str(verb) for verb in Verb) | frozenset(routes.card_actions)


class TurnSpan:
    """The turn's span, filled in as the turn is read and answered."""

    def __init__(self, span: trace.Span, verbs: frozenset[str]) -> None:
        self.span = span
        self._verbs = verbs

    def describe(self, activity: Activity) -> None:
        kind = _known(activity.type, _TYPES)
        self.span.set_attribute(ACTIVITY_TYPE, kind)
        name = ""
        if kind in (ActivityTypes.invoke, ActivityTypes.event):
            name = _known(activity.name, _NAMES)
            self.span.set_attribute(ACTIVITY_NAME, name)
        self.span.update_name(f"turn {kind} {name}".rstrip())
        verb = _verb_of(activity.value)
        if verb in self._verbs:
            self.span.set_attribute(CARD_VERB, verb)
        self.span.set_attribute(CHANNEL, _known(activity.channel_id, _CHANNELS))
        conversation = activity.conversation.conversation_type if activity.conversation else None
        self.span.set_attribute(CONVERSATION_TYPE, _known(conversation, _CONVERSATION_TYPES))

    def answered(self, response: web.StreamResponse) -> web.StreamResponse:
        self.span.set_attribute(telemetry.HTTP_STATUS, response.status)
        if response.status >= 500:
            telemetry.answered_with_error(self.span, response.status)
        return response


@contextmanager
def turn_span(request: web.Request, verbs: frozenset[str]) -> Iterator[TurnSpan]:
    """The turn's span, current while the turn runs (its Bot Connector calls are children)."""
    # No http.route: Application Insights would name every turn "POST /api/messages".
    attributes = {telemetry.HTTP_METHOD: request.method}
    parent = _PROPAGATOR.extract(request.headers)
    answer: web.HTTPException | None = None
    with telemetry.span(
        "turn", kind=SpanKind.SERVER, context=parent, attributes=attributes
    ) as span:
        turn = TurnSpan(span, verbs)
        try:
            yield turn
        except web.HTTPException as refused:  # an answer (400, 401, 503), not a crash
            turn.answered(refused)
            answer = refused
        except Exception:
            span.set_attribute(telemetry.HTTP_STATUS, 500)  # aiohttp's answer; the type follows
            raise
    if answer is not None:
        raise answer


def _known(value: object, known: frozenset[str]) -> str:
    return value if isinstance(value, str) and value in known else OTHER


def _verb_of(value: Any) -> str | None:
    """The verb of an Action.Execute (invoke) or of an Action.Submit's data (message)."""
    if not isinstance(value, dict):
        return None
    action = value.get("action")
    verb = action.get("verb") if isinstance(action, dict) else value.get("verb")
    return verb if isinstance(verb, str) else None
