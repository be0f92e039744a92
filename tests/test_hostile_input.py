"""Input that once failed a turn: each is now refused politely, naming what to fix, and
nothing typed is lost. Over real HTTP, on SQLite and PostgreSQL (issue 12, "Crashes instead
of refusals").

A non-finite number is refused earlier, as a bad activity envelope (bot.teams.envelope
answers 400 before any turn); a lone surrogate in what people typed is let through to the
handlers, which must name the box.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
import pytest

from bot.triage.decisions import BY_VERB
from cards.verbs import TriageVerb
from tests.support.client import TeamsUser, card_text, cards_in, texts_in
from tests.support.connector import FakeConnector
from tests.support.hostile import (
    MESSAGE,
    SORRY,
    assert_polite_invoke,
    assert_polite_reply,
    refused_by_the_envelope,
)
from tests.support.meeting import meeting_scene
from tests.support.referral_steps import (
    ABOUT,
    HAPPY_PATH,
    INVITEES,
    NARRATIVE,
    SUBMIT,
    TIMING,
    answer_up_to_review,
)
from tests.support.triage import Scene, press, shown, stored_referral, version_of

TRIAGE_VERBS = sorted({*BY_VERB, *TriageVerb})
# A lone surrogate (neither database takes it), NUL (PostgreSQL refuses it) and another C0
# control (storable, but nobody's typing, and not allowed in XML).
UNSTORABLE = pytest.mark.parametrize(
    "bad", ["\ud800", "\x00", "\x01"], ids=["surrogate", "nul", "control"]
)


async def test_the_referrer_can_be_asked_twice(scene: Scene) -> None:
    """SQLite gave back the first question's time without a zone; the second Ask compared it
    with the new one's and the turn failed (501), every time."""
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    first = await press(scene.admin, "triage_ask", reference, version, question="Which school?")
    assert "Your question has gone to the referrer." in shown(first)

    second = await press(
        scene.admin, "triage_ask", reference, version + 1, question="And which year?"
    )
    assert "Your question has gone to the referrer." in shown(second)
    await scene.bot.settle()
    assert "More information requested" in card_text(scene.desk_card(reference))


@pytest.mark.parametrize(
    "version",
    [float("inf"), float("-inf"), float("nan"), 2**63, -(2**63) - 1, 10**30, -1, 0.5, True],
    ids=str,
)
async def test_a_version_out_of_range_is_refused_on_every_triage_verb(
    scene: Scene, version: Any
) -> None:
    """Teams sends card data as JSON, which Python reads with Infinity and NaN in it."""
    assert len(TRIAGE_VERBS) == 16
    reference = await scene.refer()
    for verb in TRIAGE_VERBS:
        data = {"reference": reference, "version": version}
        body = await scene.admin.invoke_any(verb, data)
        assert_polite_invoke(scene.admin, body, data)
        if scene.admin.last_status == 200:
            assert "button" in shown(body), (verb, body)
    assert (await stored_referral(scene, reference)).version == 0


@pytest.mark.parametrize("reference", ["RP-2026-0001\x00", "\x01", "RP-" + "9" * 5000])
async def test_a_reference_that_cannot_be_stored_is_refused_on_every_triage_verb(
    scene: Scene, reference: str
) -> None:
    """PostgreSQL refuses NUL even in a query's parameter: every verb was a 501 there."""
    await scene.refer()
    for verb in TRIAGE_VERBS:
        for presser in (scene.admin, scene.outsider):  # a refusal is audited with the reference
            data = {"reference": reference, "version": 0}
            body = await presser.invoke_any(verb, data)
            assert_polite_invoke(presser, body, data)


@UNSTORABLE
@pytest.mark.parametrize(
    ("verb", "inputs", "label"),
    [
        ("triage_ask", {"question": "Is the school on board?"}, "Your question"),
        ("triage_decline", {"reason": "Not for us.", "signpost": "0"}, "Reason"),
        ("triage_withdraw", {"why": "duplicate", "note": "Same as RP-2026-0002"}, "Note"),
    ],
    ids=["ask", "decline", "withdraw"],
)
async def test_a_character_that_cannot_be_stored_in_a_triage_panel_is_named(
    scene: Scene, verb: str, inputs: dict[str, str], label: str, bad: str
) -> None:
    """A lone surrogate cannot be encrypted (UTF-8) or stored: the press was a 501, and a NUL
    was one on PostgreSQL."""
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    text_key = next(key for key in inputs if key not in ("signpost", "why"))
    spoilt = {**inputs, text_key: f"{inputs[text_key][:6]}{bad}{inputs[text_key][6:]}"}
    data = {"reference": reference, "version": version, **spoilt}
    body = await scene.admin.invoke_any(verb, data)
    assert_polite_invoke(scene.admin, body, data)
    if scene.admin.last_status == 200:
        # Teams' message response: the card pressed stays as it was, its panel open with what
        # was typed in it; nothing typed is sent back.
        assert body["type"] == MESSAGE
        assert body["value"] == (
            f"The \u2018{label}\u2019 box has a character that cannot be stored: please retype it."
        )
    else:
        assert refused_by_the_envelope(data)
    # Nothing changed, and the panel still works: retyped, the same press is stored.
    assert (await stored_referral(scene, reference)).version == version
    done = await press(scene.admin, verb, reference, version, **inputs)
    assert "cannot be stored" not in shown(done)
    assert (await stored_referral(scene, reference)).version == version + 1


@pytest.mark.parametrize("question", [2**63, str(2**63), 2**31, -1, 0, "abc", 1.5, [1]], ids=str)
async def test_a_question_id_out_of_range_is_refused(scene: Scene, question: Any) -> None:
    """SQLite cannot take an integer of 2**63: the answer's turn failed (and 2**31 on
    PostgreSQL, whose ids are 32-bit)."""
    await scene.refer()
    data = {"verb": "answer_question", "question": question}
    sent = await scene.practitioner.press(data, answer="An answer")
    assert_polite_reply(scene.practitioner, sent, data)
    assert "could not tell which question" in " ".join(texts_in(sent))


@UNSTORABLE
async def test_a_character_that_cannot_be_stored_in_an_answer_is_named(
    scene: Scene, bad: str
) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    await press(scene.admin, "triage_ask", reference, version, question="Which school?")
    await scene.bot.settle()
    question = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))[-1]
    button = next(a for a in question["actions"] if a["type"] == "Action.Submit")["data"]

    data = {**button, "answer": f"Oak {bad}School"}
    sent = await scene.practitioner.press(data)
    assert_polite_reply(scene.practitioner, sent, data)
    if scene.practitioner.last_status != 400:  # not refused as a bad envelope
        # A message, no card: the card keeps what was typed, and the answer is not sent back.
        assert cards_in(sent) == []
        assert texts_in(sent) == [
            "The \u2018Your answer\u2019 box has a character that cannot be stored: please "
            "retype it."
        ]
    thanks = await scene.practitioner.press(button, answer="Oak School")
    assert "Your answer has gone to business support" in " ".join(texts_in(thanks))


async def test_an_audit_of_a_reference_that_cannot_be_stored_is_refused(scene: Scene) -> None:
    """`audit` looked the typed reference up as it came: NUL failed the turn on PostgreSQL."""
    for who in (scene.admin, scene.outsider):
        sent = await who.say("<at>Reflective practice</at> audit RP-2026-0001\x00")
        assert_polite_reply(who, sent, {})


# (step answers, the input, the label its card shows)
FORM_TEXTS: list[tuple[dict[str, Any], str, str]] = [
    (NARRATIVE, "what_is_stuck", "What feels stuck"),
    (NARRATIVE, "help_wanted", "What help would you like"),
    (ABOUT, "agency", "Your agency"),
    (ABOUT, "role", "Your role"),
    (ABOUT, "manager_name", "Manager's name"),
    (ABOUT, "manager_email", "Manager's work email"),
    (INVITEES, "name_1", "Name"),
    (INVITEES, "agency_1", "Agency"),
    (INVITEES, "email_1", "Work email"),
    (TIMING, "availability", "When are you and the network usually available"),
]


@UNSTORABLE
@pytest.mark.parametrize(
    ("step", "field", "label"), FORM_TEXTS, ids=[field for _, field, _ in FORM_TEXTS]
)
async def test_a_character_that_cannot_be_stored_in_a_form_answer_is_named_at_its_step(
    scene: Scene, step: dict[str, Any], field: str, label: str, bad: str
) -> None:
    """A lone surrogate (either database) or a NUL (PostgreSQL) was accepted by its step and
    reached the database only at Submit, which then failed with the generic apology every
    time, the reason never said."""
    user = scene.practitioner
    await answer_up_to_review(user, HAPPY_PATH[: HAPPY_PATH.index(step)])
    good = step[field]
    spoilt = {**step, field: good[:3] + bad + good[3:]}

    sent = await user.press(spoilt)
    assert_polite_reply(user, sent, spoilt)
    if user.last_status != 400:  # not refused as a bad envelope
        # A message naming the box, and no card: every answer stays in the card pressed.
        assert cards_in(sent) == []
        (text,) = texts_in(sent)
        assert f"The \u2018{label}" in text and "cannot be stored: please retype it" in text

    for later in HAPPY_PATH[HAPPY_PATH.index(step) :]:
        await user.press(later)
    sent = await user.press(SUBMIT)
    assert SORRY not in " ".join(texts_in(sent))
    assert re.search(r"RP-\d{4}-\d{4}", card_text(cards_in(sent)[0]))


async def test_a_session_reference_with_nul_is_refused(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    """Set-up looked the typed reference up as it came: PostgreSQL refused the NUL and the
    press was a 501. Found by the property suite."""
    async with meeting_scene(database_url, connector, http) as meeting:
        data = {"model": "space_to_think", "reference": "RP\x00", "independent": "false"}
        body = await meeting.facilitator.invoke_any("session_set_up", data)
        assert_polite_invoke(meeting.facilitator, body, data)


@pytest.mark.parametrize(
    "value",
    ["x", 5, [], {}, {"action": 5}, {"action": {"type": "Action.Submit", "verb": "x"}}],
    ids=["text", "number", "list", "empty", "action-number", "submit-action"],
)
async def test_a_malformed_card_action_gets_a_400_not_a_500(
    user: TeamsUser, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """botbuilder 4.17.1 put an Exception object in its error answer, which cannot be
    serialized (500 with a traceback); an action that is not an object failed the turn (501)."""
    activity = user.activity(type="invoke", name="adaptiveCard/action", value=value)
    async with user.session.post(f"{user.bot_url}api/messages", json=activity) as response:
        status, body = response.status, await response.json()
    assert status == 400
    assert body["type"] == "application/vnd.microsoft.error"
    assert body["value"]["code"] in ("BadRequest", "NotSupported")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
