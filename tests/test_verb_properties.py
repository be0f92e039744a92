"""Every card verb the bot handles, pressed with hostile data over real HTTP, as Teams sends it.

For each verb, hypothesis starts from the data a real card sends and spoils it: wrong types,
huge, negative and non-finite numbers, lone surrogates, NUL and other control characters,
long strings, missing fields, extra fields. Whatever arrives, the bot answers: never a 5xx
or a 501, always a polite reply, and what it has stored still loads and still renders.

Triage and session buttons are `Action.Execute` invokes; the referral form's buttons and the
answer to a triage question are `Action.Submit` messages. On SQLite and PostgreSQL.

A scene (the running bot, its databases, the people) is built once per test and reused by
every example: hypothesis does not mix with function-scoped fixtures, so each test runs its
own event loop and its own loopback servers. `VERB_EXAMPLES` sets the examples per verb;
run with `-s` to see how many ran per verb, and the time.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.core.database import session_factory
from bot.core.models import OutboxMessage, ReferralRow
from bot.referrals.model import ReferralStatus
from bot.triage.decisions import BY_VERB
from bot.triage.views import OPEN
from cards.verbs import SessionVerb, TriageVerb, Verb
from tests.support.card_schema import card_errors
from tests.support.client import TeamsUser, card_text, cards_in, nodes, texts_in
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.hostile import CARD, assert_polite_invoke, assert_polite_reply
from tests.support.meeting import Meeting, button_data, meeting_scene
from tests.support.referral_steps import (
    ABOUT,
    INVITEES,
    KIND,
    MODEL_STT,
    NARRATIVE,
    NO_RISK,
    SUBMIT,
    TIMING,
)
from tests.support.triage import FACILITATOR, Scene, stored_referral, triage_scene

EXAMPLES = int(os.environ.get("VERB_EXAMPLES", "25"))
JOIN_LINK = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_UHJvcGVydHk%40thread.v2/0"
T = TypeVar("T")

# --- hostile data --------------------------------------------------------------------------

# What the databases refuse (NUL on PostgreSQL; a lone surrogate on both), or what no one
# types; then characters that are odd but storable.
UNSTORABLE = ["\x00", "\ud800", "\udfff", "\x01", "\x1b"]
ODD = ["\x7f", "\u202e", "\ufeff", "\u2028", "\r\n\t", "'\"<>{}", "${reference}", "%s%n"]
hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "RP-2026-0001", *ODD]),
    st.text(min_size=1, max_size=4).map(lambda piece: piece * 2500),  # far too long
)
hostile_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**31 - 1, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
hostile_value = st.one_of(
    hostile_text,
    hostile_number,
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def unstorable_in(original: Any) -> st.SearchStrategy[str]:
    """The value as text, with a character that cannot be stored somewhere in it."""
    text = str(original)
    return st.builds(
        lambda bad, at: text[:at] + bad + text[at:],
        st.sampled_from(UNSTORABLE),
        st.integers(0, len(text)),
    )


def one_field_spoilt(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The rest as the card sends it, so the press gets as far as it can; the one field most
    often keeps its text with a character that cannot be stored added."""

    def spoil(key: str) -> st.SearchStrategy[dict[str, Any]]:
        value = st.one_of(unstorable_in(base[key]), unstorable_in(base[key]), hostile_value)
        return value.map(lambda spoilt_value: {**base, key: spoilt_value})

    return st.sampled_from(sorted(base)).flatmap(spoil)


def several_spoilt(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Some fields changed, some missing, some added."""
    keys = sorted(base)
    changed = st.dictionaries(st.sampled_from(keys), hostile_value, max_size=3)
    extra = st.dictionaries(st.text(max_size=12), hostile_value, max_size=2)
    missing = st.sets(st.sampled_from(keys), max_size=2)

    def apply(changes: dict[str, Any], added: dict[str, Any], gone: set[str]) -> dict[str, Any]:
        data = {**added, **base, **changes}
        return {key: value for key, value in data.items() if key not in gone}

    return st.builds(apply, changed, extra, missing)


def spoilt(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` (what the card sends), spoilt."""
    if not base:
        return st.dictionaries(st.text(max_size=12), hostile_value, max_size=3)
    return st.one_of(one_field_spoilt(base), several_spoilt(base))


# --- running examples in the test's own event loop ----------------------------------------


@dataclass
class Tally:
    """Examples run per verb, for the report."""

    runs: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def report(self, name: str) -> None:
        total = sum(self.runs.values())
        spent = time.monotonic() - self.started
        per_verb = ", ".join(f"{verb} {count}" for verb, count in self.runs.items())
        print(f"\n{name}: {total} examples in {spent:.1f} s ({per_verb})")


def each_verb(
    runner: asyncio.Runner,
    tally: Tally,
    verbs: dict[str, dict[str, Any]],
    example: Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]],
) -> None:
    """Runs `example(verb, data)` for data spoilt from each verb's base data."""
    for verb, base in verbs.items():
        tally.runs[verb] = 0
        examples_of(verb, base, runner, tally, example)()


def examples_of(
    verb: str,
    base: dict[str, Any],
    runner: asyncio.Runner,
    tally: Tally,
    example: Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]],
) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # nothing written to the checkout
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=spoilt(base))
    def run(data: dict[str, Any]) -> None:
        tally.runs[verb] += 1
        runner.run(example(verb, data))

    return run


def run_scene(
    scene: Callable[[AsyncExitStack, FakeConnector, aiohttp.ClientSession], Coroutine[Any, Any, T]],
    body: Callable[[asyncio.Runner, T, FakeConnector], None],
) -> None:
    """Builds a scene in a fresh event loop, runs `body` in it, and takes it down."""
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        connector = FakeConnector()
        runner.run(connector.start())
        stack.push_async_callback(connector.close)
        http = runner.run(_opened(stack))
        try:
            built = runner.run(scene(stack, connector, http))
            body(runner, built, connector)
        finally:
            runner.run(stack.aclose())
        assert connector.invalid_cards == [], "the bot sent cards that break Adaptive Cards 1.5"


async def _opened(stack: AsyncExitStack) -> aiohttp.ClientSession:
    return await stack.enter_async_context(aiohttp.ClientSession())  # needs a running loop


def engine_of(database_url: str) -> str:
    return database_url.split("+")[0]


async def outbox_errors(database_url: str) -> list[str]:
    engine = engine_for(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(
                select(OutboxMessage.last_error).where(OutboxMessage.last_error.is_not(None))
            )
            return [str(row) for row in rows]
    finally:
        await engine.dispose()


# Placeholders in a verb's base data, filled at each press with what is current then (the
# referral's reference and version, the live session, the draft): a value hypothesis spoilt
# stays spoilt.
REFERENCE, VERSION, QUESTION, SESSION, DRAFT = (
    "<reference>",
    "<version>",
    "<question>",
    "<session>",
    "<draft>",
)


def filled(data: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    return {
        key: current[value] if isinstance(value, str) and value in current else value
        for key, value in data.items()
    }


# --- triage: the 16 card verbs, and the answer to a question -------------------------------

PANEL_INPUTS: dict[str, dict[str, Any]] = {
    "triage_accept": {"model": "space_to_think", "facilitator": FACILITATOR["aad_object_id"]},
    "triage_ask": {"question": "Is the school on board?"},
    "triage_decline": {"reason": "Better met by the core group.", "signpost": "0"},
    "triage_withdraw": {"why": "duplicate", "note": "Same as RP-2026-0001"},
    "triage_schedule": {"slot": "", "day": "2026-12-08", "time": "13:00", "link": JOIN_LINK},
    "triage_cancel": {"note": "Moved: a new time will follow."},
}
# What each button sends: its reference and version, and the open panel's inputs.
TRIAGE_VERBS = {
    verb: {"reference": REFERENCE, "version": VERSION, **PANEL_INPUTS.get(verb, {})}
    for verb in sorted({*BY_VERB, *TriageVerb})
}


def statuses_for(verb: str) -> frozenset[ReferralStatus]:
    """The statuses in which the verb's button is on the card (any, for Details and such)."""
    return BY_VERB[verb][0].allowed_from if verb in BY_VERB else frozenset(ReferralStatus)


@dataclass
class Desk:
    scene: Scene
    referral: str = ""  # the referral the buttons are pressed on
    question: dict[str, Any] = field(default_factory=dict)  # the answer button's data

    async def row(self) -> ReferralRow:
        return await stored_referral(self.scene, self.referral)

    async def ready_for(self, verb: str) -> dict[str, Any]:
        """A referral whose card offers the verb (the current one, or a new one)."""
        wanted = statuses_for(verb)
        if not self.referral or ReferralStatus((await self.row()).status) not in wanted:
            self.referral = await self.scene.refer()
            if not wanted & OPEN:
                await self._decide("triage_accept")
                if ReferralStatus.ACCEPTED not in wanted:
                    await self._decide("triage_schedule")
        row = await self.row()
        assert ReferralStatus(row.status) in wanted
        return {REFERENCE: row.reference, VERSION: row.version}

    async def _decide(self, verb: str) -> None:
        current = await self.ready_for(TriageVerb.HIDE)
        data = filled(TRIAGE_VERBS[verb], current)
        await self.scene.admin.invoke(verb, data)
        assert (await self.row()).version == current[VERSION] + 1
        await self.scene.bot.settle()

    async def still_renders(self) -> None:
        """The referral still loads, and its card still draws (Hide: the card as it is)."""
        await self.scene.bot.settle()
        row = await self.row()
        shown = await self.scene.admin.invoke(
            TriageVerb.HIDE, {"reference": row.reference, "version": row.version}
        )
        assert self.scene.admin.last_status == 200, shown
        assert shown["type"] == CARD and card_errors(shown["value"]) == []
        assert f"Referral {row.reference}" in card_text(shown["value"])

    async def open_question(self) -> dict[str, Any]:
        """The current answer button's data: a question to the practitioner not yet answered."""
        if not self.question:
            current = await self.ready_for("triage_ask")
            await self.scene.admin.invoke("triage_ask", filled(TRIAGE_VERBS["triage_ask"], current))
            await self.scene.bot.settle()
            chat = self.scene.connector.sent_to(self.scene.practitioner.conversation_id)
            card = cards_in(chat)[-1]
            button = next(node for node in nodes(card) if node.get("type") == "Action.Submit")
            self.question = dict(button["data"])
        return {QUESTION: self.question["question"]}


def test_every_triage_verb_survives_hostile_data(database_url: str) -> None:
    assert len(TRIAGE_VERBS) == 16

    async def build(stack: AsyncExitStack, connector: FakeConnector, http: Any) -> Desk:
        scene = await stack.enter_async_context(triage_scene(database_url, connector, http))
        await scene.register_desk()
        return Desk(scene)

    def body(runner: asyncio.Runner, desk: Desk, connector: FakeConnector) -> None:
        tally = Tally()

        async def press(verb: str, data: dict[str, Any]) -> None:
            data = filled(data, await desk.ready_for(verb))
            answer = await desk.scene.admin.invoke_any(verb, data)
            assert_polite_invoke(desk.scene.admin, answer, data)
            await desk.still_renders()

        async def answer(verb: str, data: dict[str, Any]) -> None:
            practitioner = desk.scene.practitioner
            data = filled(data, await desk.open_question())
            sent = await practitioner.press(data)
            assert_polite_reply(practitioner, sent, data)
            if any("Your answer has gone" in text for text in texts_in(sent)):
                desk.question = {}  # answered: the next example asks another
            await desk.still_renders()

        each_verb(runner, tally, TRIAGE_VERBS, press)
        answering = {"verb": Verb.ANSWER_QUESTION.value, "question": QUESTION, "answer": "Yes."}
        each_verb(runner, tally, {Verb.ANSWER_QUESTION.value: answering}, answer)
        assert runner.run(outbox_errors(desk.scene.bot.settings.database_url)) == []
        tally.report(f"triage on {engine_of(database_url)}")

    run_scene(build, body)


# --- the referral form: every step's Submit, and the buttons that work at every step --------

MODEL_RETHINK_ONE = {"verb": "model", "model": "re_think", "rethink_strategy": "1"}
# Each step's verb: the answers that lead to it, and what its card's Continue sends.
FORM_STEPS: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "risk": ([], NO_RISK),
    "kind": ([NO_RISK], KIND),
    "model": ([NO_RISK, KIND], MODEL_STT),
    "strategy_one": (
        [NO_RISK, KIND, MODEL_RETHINK_ONE],
        {"verb": "strategy_one", "choice": "note"},
    ),
    "narrative": ([NO_RISK, KIND, MODEL_STT], NARRATIVE),
    "about": ([NO_RISK, KIND, MODEL_STT, NARRATIVE], ABOUT),
    "invitees": ([NO_RISK, KIND, MODEL_STT, NARRATIVE, ABOUT], INVITEES),
    "timing": ([NO_RISK, KIND, MODEL_STT, NARRATIVE, ABOUT, INVITEES], TIMING),
    "review": ([NO_RISK, KIND, MODEL_STT, NARRATIVE, ABOUT, INVITEES, TIMING], SUBMIT),
}
# Buttons that act at any step (pressed here at "narrative").
FORM_BUTTONS = [Verb.CANCEL, Verb.RESTART, Verb.HELP, Verb.START_REFERRAL, Verb.MY_REFERRALS]


def form_position(sent: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(the step, the draft) of the form card among `sent`, if one was sent."""
    for card in reversed(cards_in(sent)):
        for node in nodes(card):
            data = node.get("data") if node.get("type") == "Action.Submit" else None
            if isinstance(data, dict) and data.get("verb") in FORM_STEPS:
                return str(data["verb"]), str(data.get("draft", ""))
    return None


@dataclass
class Form:
    user: TeamsUser
    at: tuple[str, str] | None = None  # (step, draft) where the dialog waits

    async def go_to(self, step: str) -> dict[str, Any]:
        if self.at is None or self.at[0] != step:
            sent = await self.user.say("restart")
            for answer in FORM_STEPS[step][0]:
                sent = await self.user.press(answer)
            self.at = form_position(sent)
            assert self.at is not None and self.at[0] == step, self.at
        return {DRAFT: self.at[1]}

    async def still_loads(self) -> None:
        """The dialog state still loads: `help` answers with help for where the user is (and
        the step's card again) rather than the apology or a fresh start."""
        sent = await self.user.say("help")
        assert_polite_reply(self.user, sent, {})
        self.at = form_position(sent)

    async def submits(self) -> None:
        """What the form took can be stored: the rest answered well, Submit gives a reference
        (a character the database refuses, once in the draft, failed every Submit)."""
        for _ in FORM_STEPS:
            if self.at is None:
                return
            step, draft = self.at
            sent = await self.user.press({**FORM_STEPS[step][1], "draft": draft})
            assert_polite_reply(self.user, sent, {})
            if step == "review":
                assert re.search(r"RP-\d{4}-\d{4}", card_text(cards_in(sent)[0])), texts_in(sent)
                self.at = None
                return
            self.at = form_position(sent)
        raise AssertionError(f"the form never reached its review: at {self.at}")


def test_every_referral_form_action_survives_hostile_data(database_url: str) -> None:
    async def build(stack: AsyncExitStack, connector: FakeConnector, http: Any) -> Form:
        scene = await stack.enter_async_context(triage_scene(database_url, connector, http))
        return Form(scene.practitioner)

    def body(runner: asyncio.Runner, form: Form, connector: FakeConnector) -> None:
        tally = Tally()

        def submit(step: str) -> Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]:
            async def example(verb: str, data: dict[str, Any]) -> None:
                data = filled(data, await form.go_to(step))
                sent = await form.user.press(data)
                assert_polite_reply(form.user, sent, data)
                await form.still_loads()
                if form.at is not None and form.at[0] != step:
                    await form.submits()  # it moved on: what it took must be storable

            return example

        for step, (_, answer) in FORM_STEPS.items():
            each_verb(runner, tally, {step: {**answer, "draft": DRAFT}}, submit(step))
        for button in FORM_BUTTONS:
            each_verb(
                runner,
                tally,
                {button.value: {"verb": button.value, "draft": DRAFT}},
                submit("narrative"),
            )
        tally.report(f"referral form on {engine_of(database_url)}")

    run_scene(build, body)


# --- sessions in a meeting chat: every session verb -----------------------------------------

ACTIONS_STEP = 5  # Space to Think's last stage collects actions
SESSION_VERBS: dict[str, dict[str, Any]] = {
    SessionVerb.START: {},
    SessionVerb.SET_UP: {
        "model": "space_to_think",
        "reference": "",
        "independent": "false",
        "cycles": "3",
    },
    SessionVerb.TAKE_ROLE: {"session": SESSION, "role": "case_presenter"},
    SessionVerb.QUESTIONS: {"session": SESSION},
    SessionVerb.CONTRIBUTE: {
        "session": SESSION,
        "step": ACTIONS_STEP,
        "kind": "actions",
        "what": "Share the plan with school",
        "who": "Health visitor",
        "by_when": "2026-12-01",
        "where": "Health record",
    },
    SessionVerb.SHOW_TOGETHER: {"session": SESSION, "step": ACTIONS_STEP, "kind": "actions"},
    **{
        verb: {"session": SESSION, "version": VERSION}
        for verb in (
            SessionVerb.BEGIN,
            SessionVerb.PAUSE,
            SessionVerb.RESUME,
            SessionVerb.ADD_TIME,
            SessionVerb.BACK,
            SessionVerb.NEXT,
            SessionVerb.END,
        )
    },
}


@dataclass
class Room:
    meeting: Meeting

    async def live(self) -> dict[str, Any]:
        """A session under way in the chat (a new one once the last has ended)."""
        row = None if self.meeting.bot is None else await self._latest()
        if row is None or row.status == "ended":
            await self.meeting.facilitator.say("<at>Reflective practice</at> start session")
            await self.meeting.set_up("space_to_think")
            roles = self.meeting.posted_cards("Roles: ")[-1]
            begin = button_data(roles, SessionVerb.BEGIN)
            await self.meeting.press(self.meeting.facilitator, SessionVerb.BEGIN, **begin)
            await self.meeting.bot.settle()
            row = await self._latest()
            assert row is not None and row.status != "ended"
        return {SESSION: row.id, VERSION: row.version}

    async def _latest(self) -> Any:
        if await self.meeting.count("meeting_sessions") == 0:
            return None
        return await self.meeting.session_row()

    async def still_renders(self) -> None:
        """The session still loads, and Start session still draws its card."""
        await self.meeting.bot.settle()
        await self.meeting.session_row()
        shown = await self.meeting.press(self.meeting.facilitator, SessionVerb.START)
        assert shown["type"] == CARD, shown


def test_every_session_verb_survives_hostile_data(database_url: str) -> None:
    async def build(stack: AsyncExitStack, connector: FakeConnector, http: Any) -> Room:
        meeting = await stack.enter_async_context(meeting_scene(database_url, connector, http))
        return Room(meeting)

    def body(runner: asyncio.Runner, room: Room, connector: FakeConnector) -> None:
        tally = Tally()

        async def press(verb: str, data: dict[str, Any]) -> None:
            data = filled(data, await room.live())
            answer = await room.meeting.facilitator.invoke_any(verb, data)
            assert_polite_invoke(room.meeting.facilitator, answer, data)
            await room.still_renders()

        each_verb(runner, tally, {str(verb): data for verb, data in SESSION_VERBS.items()}, press)
        assert runner.run(outbox_errors(room.meeting.bot.settings.database_url)) == []
        tally.report(f"sessions on {engine_of(database_url)}")

    run_scene(build, body)
