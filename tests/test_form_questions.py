"""Further questions on the referral form: declared as data, asked, checked, stored, triaged.

The app is built with questions declared here (`create_app(form_questions=...)`), so the test
takes them the whole way a real one goes: the step's card over HTTP, the retries, the review,
the database, and the triage card the admins see.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from app import create_app
from bot.core.clock import Clock
from bot.core.crypto import Cipher
from bot.core.database import session_factory
from bot.core.models import ReferralRow
from bot.core.protocols import BUILT_IN, catalogue_of, load_protocols
from bot.core.settings import DEFAULT_OFFERED_MODELS, Settings
from bot.referrals.model import (
    FURTHER_QUESTIONS,
    AboutReferrer,
    FormQuestion,
    Narrative,
    ReferralDraft,
    ReferralKind,
    ReferralStatus,
    Timing,
    Urgency,
)
from bot.referrals.store import ReferralStore, Referrer
from bot.teams.storage import load_state
from cards.referrals import FormOptions, form_card
from cards.verbs import Verb
from tests.conftest import TEST_KEY, RunningBot, make_settings
from tests.support.client import TeamsUser, card_text, cards_in, input_values, nodes, texts_in
from tests.support.clock import FakeClock
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
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
from tests.support.triage import ADMIN, DESK, FACILITATOR, MONDAY_MORNING, Scene, press

MODELS = catalogue_of(load_protocols([BUILT_IN]), DEFAULT_OFFERED_MODELS)
TEAM = FormQuestion(
    key="team",
    step=Verb.ABOUT,
    asked="Your team or service, if different from your agency",
    label_for_admins="Team or service",
    max_chars=120,
)
FIRST = FormQuestion(
    key="first_referral",
    step=Verb.ABOUT,
    asked="Is this your first referral to the partnership?",
    label_for_admins="First referral",
    kind="yes_no",
    required=True,
)
QUESTIONS = (TEAM, FIRST)


class AskingBot(RunningBot):
    """The real app, with the form's further questions declared by the test."""

    def __init__(
        self, settings: Settings, clock: Clock, questions: tuple[FormQuestion, ...]
    ) -> None:
        super().__init__(settings, clock)
        self.questions = questions

    async def start(self) -> None:
        app = create_app(self.settings, clock=self.clock, form_questions=self.questions)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()


def only_card(sent: list[dict[str, Any]]) -> dict[str, Any]:
    (card,) = cards_in(sent)
    return card


def refusal(sent: list[dict[str, Any]]) -> str:
    """A refused answer: one message, no card."""
    assert cards_in(sent) == []
    (text,) = texts_in(sent)
    return text


def facts_of(card: dict[str, Any]) -> dict[str, str]:
    return {
        fact["title"]: fact["value"]
        for node in nodes(card)
        if node.get("type") == "FactSet"
        for fact in node["facts"]
    }


async def test_a_declared_question_goes_from_the_form_to_the_triage_card(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(
        database_url,
        admin_ids=[ADMIN],
        facilitators=[FACILITATOR],
        scheduler_interval_seconds=3600,  # the test drives the scheduler with settle()
    )
    clock = FakeClock(MONDAY_MORNING)
    bot = AskingBot(settings, clock, QUESTIONS)
    await bot.start()
    try:
        admin = TeamsUser(
            bot.url,
            connector,
            http,
            name="Alex Admin",
            aad_id=ADMIN,
            conversation_type="channel",
            conversation_id=DESK,
        )
        practitioner = TeamsUser(bot.url, connector, http, name="Pat Practitioner")
        scene = Scene(bot, connector, clock, admin, admin, admin, practitioner)
        await scene.register_desk()

        await practitioner.say("refer")
        for step in (NO_RISK, KIND, MODEL_STT):
            await practitioner.press(step)
        about = only_card(await practitioner.press(NARRATIVE))
        assert TEAM.asked in card_text(about) and FIRST.asked in card_text(about)
        assert {"agency", "team", "first_referral"} <= set(input_values(about))

        # Each problem is refused politely by a message; the card pressed keeps what was typed.
        typed = {**ABOUT, "team": "Early Help, North"}
        assert refusal(await practitioner.press(typed)) == f"Please answer: {FIRST.asked}"
        said = refusal(await practitioner.press({**typed, "first_referral": "maybe"}))
        assert said == f"Please answer yes or no: {FIRST.asked}"
        said = refusal(
            await practitioner.press({**typed, "team": "x" * 121, "first_referral": "no"})
        )
        assert said == "Team or service is 121 characters; please keep it to 120."
        said = refusal(
            await practitioner.press({**typed, "team": "Call 07700 900123", "first_referral": "no"})
        )
        assert said.startswith("In \u201cTeam or service\u201d this looks like it includes")
        assert "a phone number" in said and "07700" not in said

        await practitioner.press({**typed, "first_referral": "yes"})
        await practitioner.press(INVITEES)
        review = only_card(await practitioner.press(TIMING))
        written = {"Team or service": "Written and checked, 17 characters"}
        assert {**written, "First referral": "Yes"}.items() <= facts_of(review).items()
        assert "Early Help" not in card_text(review)

        # Changed from the review card: the step comes back with the yes or no in it, and the
        # free-text answer only said to be there (the chat keeps every card). Left empty, it
        # is kept; "Remove my answer" takes an optional one away; a new one replaces it.
        card = only_card(await practitioner.press({"verb": "review", "change": "about"}))
        assert input_values(card)["team"] == ""
        assert "Early Help" not in card_text(card) and "Already written (17 characters)" in (
            card_text(card)
        )
        assert input_values(card)["first_referral"] == "yes"
        review = only_card(await practitioner.press({**ABOUT, "team": "", "first_referral": "no"}))
        assert facts_of(review)["Team or service"] == "Written and checked, 17 characters"
        assert facts_of(review)["First referral"] == "No"
        await practitioner.press({"verb": "review", "change": "about"})
        removed = {**ABOUT, "team": "", "team_remove": "true", "first_referral": "no"}
        review = only_card(await practitioner.press(removed))
        assert "Team or service" not in facts_of(review)
        card = only_card(await practitioner.press({"verb": "review", "change": "about"}))
        assert "team_remove" not in input_values(card)  # nothing written now to remove
        review = only_card(
            await practitioner.press(
                {**ABOUT, "team": "Early Help, South", "first_referral": "yes"}
            )
        )
        assert facts_of(review)["Team or service"] == "Written and checked, 17 characters"

        await practitioner.press(SUBMIT)
        await bot.settle()
        (row,) = await referral_rows(database_url)
        assert stored_answers(row) == [
            {"key": "team", "label": "Team or service", "value": "Early Help, South"},
            {"key": "first_referral", "label": "First referral", "value": "Yes"},
        ]
        assert b"Early Help" not in (row.further_answers_encrypted or b"")  # encrypted at rest
        # Not on the shared card that everyone in the desk's channel sees: under Details,
        # which shows only to the admin who pressed, and is audited.
        shared = card_text(scene.desk_card(row.reference))
        assert "Early Help" not in shared and "First referral" not in shared
        details = await press(admin, "triage_details", row.reference, 0)
        assert {"Team or service": "Early Help, South", "First referral": "Yes"}.items() <= (
            facts_of(details["value"]).items()
        )
    finally:
        await bot.stop()


def stored_answers(row: ReferralRow) -> list[dict[str, str]]:
    encrypted = row.further_answers_encrypted
    return json.loads(Cipher([TEST_KEY]).decrypt(encrypted)) if encrypted else []


async def referral_rows(database_url: str) -> list[ReferralRow]:
    engine = engine_for(database_url)
    try:
        async with session_factory(engine)() as session:
            return list(await session.scalars(select(ReferralRow)))
    finally:
        await engine.dispose()


async def test_a_noted_conversation_keeps_no_answers_about_timing(sqlite_url: str) -> None:
    """Strategy 1 of Re-think has no meeting: its 'when' answers are not stored, like timing."""
    when = FormQuestion(
        key="term_time_only",
        step=Verb.TIMING,
        asked="Term time only?",
        label_for_admins="Term time",
        kind="yes_no",
    )
    engine = engine_for(sqlite_url)
    try:
        store = ReferralStore(session_factory(engine), Cipher([TEST_KEY]), questions=(TEAM, when))
        draft = ReferralDraft(
            kind=ReferralKind.CHILD_FAMILY,
            model="re_think",
            narrative=Narrative("stuck", "help"),
            about=AboutReferrer("Health Visiting", "Health visitor", True, False),
            timing=Timing("Mondays", Urgency.SOON),
            answers={"team": "Early Help", "term_time_only": "yes"},
        )
        referrer = Referrer("aad-pat", "Pat", "tenant")
        await store.submit(draft, referrer, {}, ReferralStatus.NOTED_ONE_TO_ONE)
    finally:
        await engine.dispose()
    (row,) = await referral_rows(sqlite_url)
    assert stored_answers(row) == [
        {"key": "team", "label": "Team or service", "value": "Early Help"}
    ]


@pytest.mark.parametrize(
    ("questions", "problem"),
    [
        ((TEAM, TEAM), "two further questions have the key 'team'"),
        ((replace(TEAM, key="agency"),), "the about step already has that input"),
        ((replace(TEAM, key="verb"),), "the about step already has that input"),
        ((replace(TEAM, step=Verb.INVITEES),), "its step must be one of"),
        ((replace(TEAM, key="team_remove"),), "a key may not end _remove"),
    ],
)
def test_a_question_the_form_cannot_ask_stops_the_start(
    questions: tuple[FormQuestion, ...], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        FormOptions(MODELS, 1000, questions)


def test_a_key_that_is_not_a_plain_name_is_refused() -> None:
    with pytest.raises(ValueError, match="lower_case"):
        replace(TEAM, key="Team name")


def test_the_declared_questions_can_all_be_asked() -> None:
    """Guards the recipe: whatever FURTHER_QUESTIONS holds, each step's card can ask it."""
    options = FormOptions(MODELS, 1000, FURTHER_QUESTIONS)
    for question in FURTHER_QUESTIONS:
        card = form_card(question.step, ReferralDraft(), options)
        assert question.key in input_values(card)


# A ReferralDraft pickled (protocol 5, as SqlStorage writes it) before drafts had `answers`:
# pickle.dumps(ReferralDraft(draft_id="0123...", risk_checked=True, kind=CHILD_FAMILY,
# model="space_to_think", narrative=..., about=...)) at commit a0b9d91.
DRAFT_BEFORE_ANSWERS = (
    "gAWVLAIAAAAAAACME2JvdC5yZWZlcnJhbHMubW9kZWyUjA1SZWZlcnJhbERyYWZ0lJOUKYGUfZQojAhkcmFmdF9pZJSM"
    "IDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmlIwMcmlza19jaGVja2VklIiMBGtpbmSUaACMDFJlZmVycmFs"
    "S2luZJSTlIwMY2hpbGRfZmFtaWx5lIWUUpSMBXRoZW1llE6MBW1vZGVslIwOc3BhY2VfdG9fdGhpbmuUjBByZXRoaW5r"
    "X3N0cmF0ZWd5lE6MCW5hcnJhdGl2ZZRoAIwJTmFycmF0aXZllJOUKYGUfZQojA13aGF0X2lzX3N0dWNrlIwFc3R1Y2uU"
    "jAtoZWxwX3dhbnRlZJSMBGhlbHCUdWKMBWFib3V0lGgAjA1BYm91dFJlZmVycmVylJOUKYGUfZQojAZhZ2VuY3mUjA9I"
    "ZWFsdGggVmlzaXRpbmeUjARyb2xllIwOSGVhbHRoIHZpc2l0b3KUjBRpc19sZWFkX3Byb2Zlc3Npb25hbJSJjA5tYW5h"
    "Z2VyX2FncmVlZJSIjAxtYW5hZ2VyX25hbWWUjAxBbGV4IE1hbmFnZXKUjA1tYW5hZ2VyX2VtYWlslIwYYWxleC5tYW5h"
    "Z2VyQG5ocy5leGFtcGxllHVijAhpbnZpdGVlc5ROjAZ0aW1pbmeUTowNaW52aXRlZXNfZG9uZZSJjAlub3RlX29ubHmU"
    "iYwHZWRpdGluZ5ROdWIu"
)


def test_a_draft_pickled_before_answers_existed_still_loads() -> None:
    draft = load_state(base64.b64decode(DRAFT_BEFORE_ANSWERS))
    assert isinstance(draft, ReferralDraft)
    assert draft.answers == {}
    assert draft.draft_id == "0123456789abcdef0123456789abcdef"
    assert draft.about is not None and draft.about.agency == "Health Visiting"
    # It goes on: its cards ask the further questions, prefilled from the (empty) answers.
    card = form_card(Verb.ABOUT, draft, FormOptions(MODELS, 1000, QUESTIONS))
    assert input_values(card)["team"] == "" and input_values(card)["agency"] == "Health Visiting"
