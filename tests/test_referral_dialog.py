"""ReferralDialog in isolation with botbuilder-testing's DialogTestClient.

State goes through our SqlStorage on a real SQLite file, so the dialog state really is
serialised, encrypted and read back between turns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from botbuilder.core import ConversationState
from botbuilder.dialogs import DialogTurnStatus
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount
from botbuilder.testing import DialogTestClient

from bot.core.crypto import Cipher
from bot.core.database import session_factory
from bot.core.protocols import BUILT_IN, catalogue_of, load_protocols
from bot.core.settings import DEFAULT_OFFERED_MODELS
from bot.referrals.model import ReferralDraft, ReferralKind
from bot.referrals.store import ReferralStore
from bot.teams.storage import SqlStorage
from cards.referrals import FormOptions
from dialogs.referral_dialog import ReferralDialog, Signpost
from tests.conftest import TEST_KEY
from tests.support.client import card_text
from tests.support.databases import engine_for
from tests.support.referral_steps import (
    ABOUT,
    HAPPY_PATH,
    INVITEES,
    KIND,
    NARRATIVE,
    NO_RISK,
    SUBMIT,
    TIMING,
)

OPTIONS = FormOptions(catalogue_of(load_protocols([BUILT_IN]), DEFAULT_OFFERED_MODELS), 1000)
SIGNPOST = Signpost("Call the police on 999 if a child is in danger.", "https://example.org/cp")


class Harness:
    def __init__(self, client: DialogTestClient) -> None:
        self.client = client

    async def send(
        self, text: str | None = None, value: dict[str, Any] | None = None
    ) -> list[Activity]:
        activity = Activity(
            type=ActivityTypes.message,
            text=text,
            value=value,
            from_property=ChannelAccount(id="29:user", name="Sam", aad_object_id="aad-sam"),
        )
        replies = [await self.client.send_activity(activity)]
        while (reply := self.client.get_next_reply()) is not None:
            replies.append(reply)
        return [r for r in replies if r is not None]

    @property
    def status(self) -> DialogTurnStatus:
        return self.client.dialog_turn_result.status

    @property
    def result(self) -> Any:
        return self.client.dialog_turn_result.result


def card_texts(replies: list[Activity]) -> str:
    return "\n".join(card_text(a.content) for r in replies for a in r.attachments or [])


@pytest.fixture
async def parts(sqlite_url: str) -> AsyncIterator[tuple[SqlStorage, ReferralStore]]:
    engine = engine_for(sqlite_url)
    sessions = session_factory(engine)
    cipher = Cipher([TEST_KEY])
    yield SqlStorage(engine, cipher), ReferralStore(sessions, cipher)
    await engine.dispose()


def harness(parts: tuple[SqlStorage, ReferralStore], draft: ReferralDraft | None = None) -> Harness:
    storage, store = parts
    dialog = ReferralDialog(store, OPTIONS, SIGNPOST)
    client = DialogTestClient(
        "msteams", dialog, draft or ReferralDraft(), conversation_state=ConversationState(storage)
    )
    return Harness(client)


async def test_happy_path_ends_with_the_reference(parts) -> None:
    h = harness(parts)
    assert "immediate risk of harm" in card_texts(await h.send("hi"))
    for answer in HAPPY_PATH:
        await h.send(value=answer)
    confirmation = await h.send(value=SUBMIT)
    assert h.status is DialogTurnStatus.Complete
    assert h.result.startswith("RP-")
    assert h.result in card_texts(confirmation)
    listed = await parts[1].list_for_referrer("aad-sam")
    assert [r.reference for r in listed] == [h.result]


async def test_risk_of_harm_ends_the_dialog_with_nothing(parts) -> None:
    h = harness(parts)
    await h.send("hi")
    replies = await h.send("yes")
    assert "Call the police on 999" in card_texts(replies)
    assert h.status is DialogTurnStatus.Complete and h.result is None
    assert await parts[1].list_for_referrer("aad-sam") == []


@pytest.mark.parametrize(
    ("step_answers", "bad", "message"),
    [
        ([NO_RISK], {"verb": "kind", "kind": "nonsense"}, "Please choose what you are referring."),
        (
            [NO_RISK, KIND],
            {"verb": "model", "model": "think_space_deluxe"},
            "Please choose a kind of session.",
        ),
        (
            [NO_RISK, KIND, {"verb": "model", "model": "think_space"}],
            {**NARRATIVE, "what_is_stuck": "NHS 943 476 5919"},
            "an NHS number",
        ),
        (
            [NO_RISK, KIND, {"verb": "model", "model": "think_space"}, NARRATIVE],
            {**ABOUT, "is_lead_professional": "maybe"},
            "are you the Lead Professional?",
        ),
    ],
)
async def test_each_retry_shows_the_problem_and_stays(parts, step_answers, bad, message) -> None:
    h = harness(parts)
    await h.send("hi")
    for answer in step_answers:
        await h.send(value=answer)
    replies = await h.send(value=bad)
    # A message, and no card: the card pressed keeps what was typed in it.
    assert [r.text for r in replies if r.text] and message in replies[-1].text
    assert card_texts(replies) == ""
    assert h.status is DialogTurnStatus.Waiting


async def test_cancel_at_the_first_step_ends_the_dialog_at_once(parts) -> None:
    h = harness(parts)
    await h.send("hi")
    replies = await h.send("Cancel.")
    assert "Referral cancelled" in replies[-1].text
    assert h.status is DialogTurnStatus.Complete and h.result is None


async def test_cancel_past_the_first_step_asks_and_a_second_cancel_confirms(parts) -> None:
    h = harness(parts)
    await h.send("hi")
    await h.send(value=NO_RISK)
    replies = await h.send("Cancel.")
    assert "Cancel this referral?" in card_texts(replies)
    assert h.status is DialogTurnStatus.Waiting
    replies = await h.send("cancel")
    assert "Referral cancelled" in replies[-1].text
    # The component ends (Complete) with no result: nothing was referred.
    assert h.status is DialogTurnStatus.Complete and h.result is None
    assert await parts[1].list_for_referrer("aad-sam") == []


async def test_help_keeps_waiting_at_the_same_step(parts) -> None:
    h = harness(parts)
    await h.send("hi")
    replies = await h.send("help")
    assert "You are at step 1 (Safety first)" in card_texts(replies)
    assert h.status is DialogTurnStatus.Waiting


async def test_restart_starts_from_the_first_question(parts) -> None:
    h = harness(parts)
    await h.send("hi")
    await h.send(value=NO_RISK)
    replies = await h.send("restart")
    assert "immediate risk of harm" in card_texts(replies)


async def test_prefilled_slots_are_skipped(parts) -> None:
    draft = ReferralDraft(risk_checked=True, kind=ReferralKind.DEBRIEF)
    h = harness(parts, draft)
    replies = await h.send("hi")
    assert "Which session" in card_texts(replies)


async def test_change_from_review_returns_to_review(parts) -> None:
    h = harness(parts)
    await h.send("hi")
    for answer in HAPPY_PATH:
        await h.send(value=answer)
    replies = await h.send(value={"verb": "review", "change": "timing"})
    assert "How soon is a session needed?" in card_texts(replies)
    replies = await h.send(value={**TIMING, "urgency": "urgent"})
    assert "Urgent (this week)" in card_texts(replies)
    assert "Check and submit" in card_texts(replies)


async def test_state_survives_a_new_dialog_instance(parts, sqlite_url: str) -> None:
    """A new process builds a new dialog, engine and storage over the same database file."""
    h = harness(parts)
    await h.send("hi")
    await h.send(value=NO_RISK)
    await h.send(value=KIND)
    engine = engine_for(sqlite_url)
    try:
        sessions = session_factory(engine)
        cipher = Cipher([TEST_KEY])
        fresh = harness((SqlStorage(engine, cipher), ReferralStore(sessions, cipher)))
        replies = await fresh.send(value={"verb": "model", "model": "space_to_think"})
        assert "What is stuck" in card_texts(replies)
        await fresh.send(value=NARRATIVE)
        await fresh.send(value=ABOUT)
        replies = await fresh.send(value=INVITEES)
        assert "How soon is a session needed?" in card_texts(replies)
    finally:
        await engine.dispose()
