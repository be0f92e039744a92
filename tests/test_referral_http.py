"""The referral dialog, driven over real HTTP against the real app and a real database."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select

from bot.core.crypto import Cipher
from bot.core.database import session_factory
from bot.core.models import AuditEntry, BotStateRow, ReferralRow
from bot.referrals.store import ReferralStore
from cards.common import nodes
from tests.conftest import RunningBot
from tests.support.client import (
    TeamsUser,
    card_text,
    cards_in,
    input_values,
    submit_actions,
    texts_in,
)
from tests.support.connector import Failure
from tests.support.databases import engine_for
from tests.support.referral_steps import (
    ABOUT,
    HAPPY_PATH,
    INVITEES,
    KIND,
    MODEL_STT,
    NARRATIVE,
    NO_RISK,
    SUBMIT,
    TIMING,
    answer_up_to_review,
)


async def referral_rows(database_url: str) -> list[ReferralRow]:
    engine = engine_for(database_url)
    try:
        async with session_factory(engine)() as session:
            return list((await session.scalars(select(ReferralRow))).all())
    finally:
        await engine.dispose()


def only_card(sent: list[dict]) -> dict:
    cards = cards_in(sent)
    assert len(cards) == 1, f"expected one card, got {len(cards)}: {sent}"
    return cards[0]


def button(card: dict, **match: str) -> dict:
    """The data of the card's Action.Submit (wherever it sits) whose data has `match` in it."""
    found = [d for d in submit_actions(card) if all(d.get(k) == v for k, v in match.items())]
    assert found, f"no button with {match} on {card_text(card)}"
    return found[0]


def submits(card: dict) -> list[dict]:
    return [node for node in nodes(card) if node.get("type") == "Action.Submit"]


def button_rows(card: dict) -> list[list[dict]]:
    """Each row of buttons drawn together: the card's actions, and each ActionSet's."""
    rows = [card.get("actions") or []]
    rows += [node["actions"] for node in nodes(card) if node.get("type") == "ActionSet"]
    return rows


def discards(action: dict) -> bool:
    data = action.get("data") or {}
    return action.get("type") == "Action.Submit" and (
        data.get("verb") == "cancel" or data.get("choice") == "stop"
    )


def controls(card: dict) -> list[dict]:
    """Anything on the card that can be pressed or typed in."""
    return [
        node
        for node in nodes(card)
        if str(node.get("type", "")).startswith(("Action.", "Input.")) or node.get("actions")
    ]


def sent_id(card: dict, user: TeamsUser) -> str:
    """The activity id the loopback connector gave the message carrying `card`."""
    (found,) = [a["id"] for a in user.connector.activities if any(c is card for c in cards_in([a]))]
    return str(found)


def settled(user: TeamsUser, activity_id: str) -> list[dict]:
    """The cards the message `activity_id` was updated to (PUT), in order."""
    return cards_in([u for u in user.connector.updates if u.get("id") == activity_id])


def refusal(sent: list[dict]) -> str:
    """A refused answer gets one message and no card: the card pressed keeps what was typed,
    and a card sent back would keep it in the chat's history."""
    assert cards_in(sent) == [], f"a refusal sent a card: {sent}"
    (text,) = texts_in(sent)
    return text


async def test_happy_path_stores_referral_and_confirms(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    first = only_card(await user.say("refer"))
    assert "immediate risk of harm" in card_text(first)

    review = only_card(await answer_up_to_review(user))
    text = card_text(review)
    assert "Check and submit" in text
    assert "Pat Teacher, Oak School (pat@oak.example)" in text
    assert "Space to Think" in text

    confirmation = only_card(await user.press(SUBMIT))
    reference = re.search(r"RP-\d{4}-\d{4}", card_text(confirmation))
    assert reference is not None

    rows = await referral_rows(running_bot.settings.database_url)
    assert [row.reference for row in rows] == [reference.group(0)]
    row = rows[0]
    assert row.status == "submitted"
    assert row.model == "space_to_think"
    assert row.invitees == [
        {"name": "Pat Teacher", "agency": "Oak School", "email": "pat@oak.example"}
    ]
    assert row.manager_email == "alex.manager@nhs.example"
    # The narrative is stored encrypted: its words are nowhere in the stored bytes.
    assert b"network cannot agree" not in row.narrative_encrypted

    listing = only_card(await user.say("my referrals"))
    assert reference.group(0) in card_text(listing)
    assert "Submitted, waiting for triage" in card_text(listing)


async def test_references_count_up(user: TeamsUser) -> None:
    refs = []
    for _ in range(2):
        await answer_up_to_review(user)
        refs.append(re.search(r"RP-\d{4}-(\d{4})", card_text(only_card(await user.press(SUBMIT)))))
    assert [int(m.group(1)) for m in refs if m] == [1, 2]


async def test_immediate_risk_stops_and_stores_nothing(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    await user.say("refer")
    signpost = only_card(await user.press({"verb": "risk", "at_risk": "yes"}))
    assert "child protection procedures" in card_text(signpost)
    assert any(a["type"] == "Action.OpenUrl" for a in signpost["actions"])
    assert await referral_rows(running_bot.settings.database_url) == []
    # The dialog is over: a later button press from the old form does nothing harmful.
    sent = await user.press(KIND)
    assert "expired" in " ".join(texts_in(sent))


async def test_typed_yes_no_answers_the_risk_question(user: TeamsUser) -> None:
    await user.say("refer")
    card = only_card(await user.say("no"))
    assert "What are you referring?" in card_text(card)


async def test_each_refusal_is_a_message_and_the_step_waits(user: TeamsUser) -> None:
    """What was typed stays in the card that was pressed; the reply says what to fix, and
    where, and the step takes the corrected press."""
    await answer_up_to_review(user, [NO_RISK])
    assert refusal(await user.press({"verb": "kind", "kind": "theme", "theme": ""})) == (
        "Please choose which theme."
    )

    assert "Which session" in card_text(only_card(await user.press(KIND)))  # it went on
    said = refusal(await user.press({"verb": "model", "model": "re_think", "rethink_strategy": ""}))
    assert "which strategy" in said
    await user.press({"verb": "model", "model": "re_think", "rethink_strategy": "2"})

    identifying = {
        **NARRATIVE,
        "what_is_stuck": "Jane Smith born 12/03/2015 at SW1A 1AA, call 07700 900123",
    }
    said = refusal(await user.press(identifying))
    assert said.startswith("In \u201cWhat is stuck\u201d this looks like it includes")
    assert (
        "a postcode" in said
        and "a full name with a date of birth" in said
        and "a phone number" in said
    )
    assert "Jane Smith" not in said and "SW1A" not in said and "07700" not in said
    said = refusal(await user.press({**NARRATIVE, "help_wanted": "Her email is jo@x.example"}))
    assert said.startswith("In \u201cThe help you want\u201d") and "an email address" in said
    # Neither box alone, both together: a full name in one and a date of birth in the other.
    apart = {**NARRATIVE, "what_is_stuck": "About Jane Smith.", "help_wanted": "Seen 12/03/2015."}
    said = refusal(await user.press(apart))
    assert "\u201cWhat is stuck\u201d and \u201cThe help you want\u201d" in said

    said = refusal(await user.press({**NARRATIVE, "what_is_stuck": "x" * 1001}))
    assert "please keep it to 1000" in said
    said = refusal(await user.press({**NARRATIVE, "help_wanted": ""}))
    assert "what help you would like" in said

    assert "About you" in card_text(only_card(await user.press(NARRATIVE)))
    said = refusal(await user.press({**ABOUT, "manager_email": "not-an-email"}))
    assert said == "Your manager's email address does not look right: please check it."
    said = refusal(await user.press({**ABOUT, "manager_name": ""}))
    assert "manager's name" in said

    await user.press(ABOUT)
    said = refusal(await user.press({**INVITEES, "email_1": ""}))
    assert "Each practitioner needs a name, an agency and a work email" in said
    said = refusal(await user.press({**INVITEES, "email_1": "pat-at-oak"}))
    assert "Pat Teacher" not in said  # nobody's name is repeated into the chat

    await user.press(INVITEES)
    said = refusal(await user.press({"verb": "timing", "availability": "", "urgency": "soon"}))
    assert "when you are available" in said
    said = refusal(
        await user.press({"verb": "timing", "availability": "Mondays", "urgency": "whenever"})
    )
    assert "how soon" in said
    review = only_card(
        await user.press({"verb": "timing", "availability": "Mondays", "urgency": "soon"})
    )
    assert "Check and submit" in card_text(review)


async def test_malformed_and_oversized_submissions_get_a_clear_message(user: TeamsUser) -> None:
    await answer_up_to_review(user, [NO_RISK, KIND, {"verb": "model", "model": "space_to_think"}])
    for bad in (
        [1, 2, 3],
        "a string",
        {"verb": "no-such-verb"},
        {"verb": "narrative", **{f"k{i}": "v" for i in range(100)}},
    ):
        sent = await user.post(user.activity(value=bad))
        assert user.last_status in (200, 201)
        card = only_card(sent)
        assert "What is stuck" in card_text(card), bad
    card = only_card(await user.press({**NARRATIVE, "what_is_stuck": "y" * 50_000}))
    assert "far longer than the form allows" in card_text(card)
    # Everything entered before is still there: the review shows the earlier answers.
    await user.press(NARRATIVE)
    await user.press(ABOUT)
    await user.press(INVITEES)
    review = only_card(
        await user.press({"verb": "timing", "availability": "Any", "urgency": "routine"})
    )
    assert "A child or family" in card_text(review)
    assert "Space to Think" in card_text(review)


async def test_stale_button_from_an_earlier_card_is_ignored(user: TeamsUser) -> None:
    await answer_up_to_review(user, [NO_RISK, KIND])
    card = only_card(await user.press({"verb": "kind", "kind": "debrief"}))
    assert "earlier card" in card_text(card)
    assert "Which session" in card_text(card)


async def test_cancel_at_a_step_asks_first_and_stores_nothing(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """Past the first step, a typed cancel asks; cancel typed again straight after confirms."""
    await answer_up_to_review(user, [NO_RISK, KIND, {"verb": "model", "model": "space_to_think"}])
    question = only_card(await user.say("cancel"))
    assert "Cancel this referral?" in card_text(question)
    # "Keep going" is the primary button; deleting is the one that needs reading.
    first, second = question["actions"]
    assert (first["title"], first.get("style")) == ("Keep going", "positive")
    assert second["title"] == "Yes, cancel and delete what I wrote"
    sent = await user.say("cancel")
    assert "Referral cancelled. Nothing was stored." in texts_in(sent)[0]
    assert await referral_rows(running_bot.settings.database_url) == []
    assert "nothing to cancel" in texts_in(await user.say("cancel"))[0]


async def test_cancel_at_the_first_step_needs_no_question(user: TeamsUser) -> None:
    await user.say("refer")
    sent = await user.say("cancel")
    assert cards_in(sent) == []
    assert "Referral cancelled" in texts_in(sent)[0]


async def test_a_cancel_question_kept_going_carries_on_where_it_was(user: TeamsUser) -> None:
    """An old card's plain Cancel (there was one beside Continue) asks too; Keep going turns
    the question into a line and the form goes on, nothing lost."""
    await answer_up_to_review(user, [NO_RISK, KIND, MODEL_STT])
    sent = await user.press({"verb": "cancel"})
    question = only_card(sent)
    assert "Keep going to carry on at step 4" in card_text(question)
    assert texts_in(sent) == []

    sent = await user.press(button(question, confirmed="no"))
    assert sent == []  # the question above settles; the step's card is just above it
    (record,) = settled(user, sent_id(question, user))
    assert "Not cancelled" in card_text(record) and not controls(record)
    assert "About you" in card_text(only_card(await user.press(NARRATIVE)))

    # Cancel asked again, then the question's Yes.
    question = only_card(await user.say("cancel"))
    sent = await user.press(button(question, confirmed="yes"))
    assert "Referral cancelled" in texts_in(sent)[0]


async def test_cancel_is_a_line_apart_from_the_way_forward_at_every_step(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """No step has Cancel (or Stop) beside its forward button: it is a toggle on a line of its
    own below, whose card holds the button that deletes, and that button needs no more."""
    step_cards = [only_card(await user.say("refer"))]
    rethink_one = {"verb": "model", "model": "re_think", "rethink_strategy": "1"}
    for answer in (NO_RISK, KIND, rethink_one):
        step_cards.append(only_card(await user.press(answer)))
    await user.press({"verb": "strategy_one", "choice": "change"})
    for answer in HAPPY_PATH[2:]:
        step_cards.append(only_card(await user.press(answer)))
    titles = [card_text(card).split("\n")[1] for card in step_cards]
    assert titles == [
        "Safety first",
        "What it is about",
        "Which session",
        "Re-think strategy 1",
        "What is stuck, and what help you want",
        "About you",
        "Who should be invited",
        "When",
        "Check and submit",
    ]
    for card in step_cards:
        for buttons in button_rows(card):
            if any(a.get("style") == "positive" for a in buttons):
                assert not [a for a in buttons if discards(a)], card_text(card)
        inside = [
            a
            for show in nodes(card)
            if show.get("type") == "Action.ShowCard"
            for a in nodes(show["card"])
            if a.get("type") == "Action.Submit"
        ]
        everywhere = [a for a in nodes(card) if a.get("type") == "Action.Submit"]
        assert [a for a in everywhere if discards(a)] == [a for a in inside if discards(a)]
    assert all(any(discards(a) for a in nodes(card)) for card in step_cards[1:])

    review = step_cards[-1]
    sent = await user.press(button(review, verb="cancel", confirmed="yes"))
    assert "Referral cancelled" in texts_in(sent)[0]
    (record,) = settled(user, sent_id(review, user))
    assert "Cancelled" in card_text(record) and not controls(record)
    assert await referral_rows(running_bot.settings.database_url) == []


async def test_a_yes_on_a_card_of_an_earlier_step_asks_again(user: TeamsUser) -> None:
    """A step's card that could not be settled keeps its Cancel toggle: its Yes, pressed later,
    was not said about where the referrer is now."""
    kind_card = only_card(await answer_up_to_review(user, [NO_RISK]))
    await user.press(KIND)
    yes = button(kind_card, verb="cancel", confirmed="yes")
    pressed = user.activity(value=yes, replyToId=sent_id(kind_card, user))
    question = only_card(await user.post(pressed))
    assert "Cancel this referral?" in card_text(question)


async def test_stop_at_strategy_one_of_a_finished_referral_asks_and_goes_back(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """Review, Change the session, Re-think, strategy 1, Stop threw a finished referral away:
    now it asks, and Back to the review brings it back as it was."""
    await answer_up_to_review(user)
    await user.press({"verb": "review", "change": "model"})
    advice = only_card(
        await user.press({"verb": "model", "model": "re_think", "rethink_strategy": "1"})
    )
    assert "Back to the review" in [a["title"] for a in submits(advice)]
    assert "Stop and delete this referral\u2026" in card_text(advice)

    question = only_card(await user.press({"verb": "strategy_one", "choice": "stop"}))
    assert "Stop and delete this referral?" in card_text(question)
    assert question["actions"][0]["title"] == "Back to the review"
    assert await referral_rows(running_bot.settings.database_url) == []

    review = only_card(await user.press(button(question, choice="review")))
    text = card_text(review)
    assert "Check and submit" in text and "Space to Think" in text and "Re-think" not in text
    assert f"Written and checked, {len(NARRATIVE['what_is_stuck'])} characters" in text
    assert "Pat Teacher" in text
    # Both the strategy-1 card and the question became the record of that choice.
    for card in (advice, question):
        (record,) = settled(user, sent_id(card, user))
        assert "Back to the review" in card_text(record) and not controls(record)

    await user.press(SUBMIT)
    (row,) = await referral_rows(running_bot.settings.database_url)
    assert row.model == "space_to_think" and row.status == "submitted"


async def test_stop_of_a_finished_referral_deletes_it_once_confirmed(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    await answer_up_to_review(user)
    await user.press({"verb": "review", "change": "model"})
    await user.press({"verb": "model", "model": "re_think", "rethink_strategy": "1"})
    question = only_card(await user.press({"verb": "strategy_one", "choice": "stop"}))
    sent = await user.press(button(question, confirmed="yes"))
    assert "Nothing was stored" in texts_in(sent)[0]
    assert await referral_rows(running_bot.settings.database_url) == []
    assert "nothing to cancel" in texts_in(await user.say("cancel"))[0]


async def test_stop_from_the_toggle_on_the_strategy_one_card_needs_no_more(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    await answer_up_to_review(user)
    await user.press({"verb": "review", "change": "model"})
    advice = only_card(
        await user.press({"verb": "model", "model": "re_think", "rethink_strategy": "1"})
    )
    sent = await user.press(button(advice, choice="stop", confirmed="yes"))
    assert cards_in(sent) == [] and "Nothing was stored" in texts_in(sent)[0]
    assert await referral_rows(running_bot.settings.database_url) == []


async def test_help_explains_the_step_and_shows_it_again(user: TeamsUser) -> None:
    await answer_up_to_review(user, [NO_RISK, KIND])
    sent = await user.say("help")
    cards = cards_in(sent)
    assert "You are at step 3 (Which session)" in card_text(cards[0])
    assert "Which session" in card_text(cards[1])
    # Help did not move the referral on or lose it.
    card = only_card(await user.press({"verb": "model", "model": "think_space"}))
    assert "What is stuck" in card_text(card)


async def test_restart_begins_again(user: TeamsUser) -> None:
    await answer_up_to_review(user, [NO_RISK, KIND])
    sent = await user.say("restart")
    assert "Starting again" in texts_in(sent)[0]
    assert "immediate risk of harm" in card_text(only_card(sent))


async def test_change_from_the_review_card(user: TeamsUser, running_bot: RunningBot) -> None:
    review = only_card(await answer_up_to_review(user))
    changes = {d.get("change") for d in submit_actions(review) if d.get("verb") == "review"}
    assert {"kind", "model", "narrative", "about", "invitees", "timing", "submit"} <= changes

    # The narrative is not drawn on the card again (the chat keeps every card): its boxes
    # are empty, and a box left empty keeps what was written in it.
    card = only_card(await user.press({"verb": "review", "change": "narrative"}))
    assert input_values(card)["what_is_stuck"] == "" and input_values(card)["help_wanted"] == ""
    assert NARRATIVE["what_is_stuck"] not in card_text(card)
    assert "Already written (" in card_text(card)
    fresh = "A fresh look at the plan."
    review = only_card(await user.press({**NARRATIVE, "what_is_stuck": "", "help_wanted": fresh}))
    assert fresh not in card_text(review)
    assert f"Written and checked, {len(fresh)} characters" in card_text(review)
    stuck = f"Written and checked, {len(NARRATIVE['what_is_stuck'])} characters"
    assert stuck in card_text(review)

    card = only_card(await user.press({"verb": "review", "change": "invitees"}))
    assert "Pat Teacher, Oak School" in card_text(card)
    card = only_card(
        await user.press(
            {
                "verb": "invitees",
                "op": "add",
                "name_1": "Lee Nurse",
                "agency_1": "School nursing",
                "email_1": "lee@nhs.example",
            }
        )
    )
    assert "Lee Nurse" in card_text(card)
    card = only_card(await user.press({"verb": "invitees", "op": "remove", "index": 0}))
    assert "Pat Teacher" not in card_text(card)
    review = only_card(await user.press({"verb": "invitees", "op": "done"}))
    assert "Lee Nurse, School nursing (lee@nhs.example)" in card_text(review)
    assert "Pat Teacher" not in card_text(review)

    await user.press(SUBMIT)
    (row,) = await referral_rows(running_bot.settings.database_url)
    assert row.invitees == [
        {"name": "Lee Nurse", "agency": "School nursing", "email": "lee@nhs.example"}
    ]
    engine = engine_for(running_bot.settings.database_url)
    try:
        store = ReferralStore(session_factory(engine), Cipher(running_bot.settings.encryption_keys))
        stored = await store.read_narrative(row.reference, actor_id="admin-1")
    finally:
        await engine.dispose()
    assert stored is not None
    assert (stored.what_is_stuck, stored.help_wanted) == (NARRATIVE["what_is_stuck"], fresh)


async def test_rethink_strategy_one_is_advice_and_can_be_noted(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    await answer_up_to_review(user, [NO_RISK, KIND])
    advice = only_card(
        await user.press({"verb": "model", "model": "re_think", "rethink_strategy": "1"})
    )
    assert "one-to-one conversation with the Lead Professional" in card_text(advice)
    await user.press({"verb": "strategy_one", "choice": "note"})
    await user.press(NARRATIVE)
    review = only_card(await user.press(ABOUT))  # no invitees or timing for a conversation
    assert "Who to invite" not in card_text(review)
    confirmation = only_card(await user.press(SUBMIT))
    assert "Noted" in card_text(confirmation)
    (row,) = await referral_rows(running_bot.settings.database_url)
    assert row.status == "noted_one_to_one" and row.rethink_strategy == 1


async def test_rethink_strategy_one_can_stop_or_change(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    await answer_up_to_review(
        user, [NO_RISK, KIND, {"verb": "model", "model": "re_think", "rethink_strategy": "1"}]
    )
    card = only_card(await user.press({"verb": "strategy_one", "choice": "change"}))
    assert "Which session" in card_text(card)
    await user.press({"verb": "model", "model": "re_think", "rethink_strategy": "1"})
    sent = await user.press({"verb": "strategy_one", "choice": "stop"})
    assert "Nothing was stored" in texts_in(sent)[0]
    assert await referral_rows(running_bot.settings.database_url) == []


async def test_resume_after_restart(user: TeamsUser, running_bot: RunningBot) -> None:
    await answer_up_to_review(
        user, [NO_RISK, KIND, {"verb": "model", "model": "space_to_think"}, NARRATIVE]
    )
    await running_bot.stop()
    await running_bot.start()
    user.bot_url = running_bot.url
    # Coming back later with a greeting: the bot shows where they were.
    card = only_card(await user.say("hello again"))
    assert "About you" in card_text(card)
    await user.press(ABOUT)
    await user.press(INVITEES)
    review = only_card(
        await user.press({"verb": "timing", "availability": "Fridays", "urgency": "routine"})
    )
    assert f"Written and checked, {len(NARRATIVE['what_is_stuck'])} characters" in card_text(review)
    assert NARRATIVE["what_is_stuck"] not in card_text(review)


async def test_refer_while_in_progress_shows_where_they_were(user: TeamsUser) -> None:
    await answer_up_to_review(user, [NO_RISK, KIND])
    sent = await user.say("refer")
    assert "part-way through" in texts_in(sent)[0]
    assert "Which session" in card_text(only_card(sent))


async def test_my_referrals_mid_form_keeps_the_form(user: TeamsUser) -> None:
    await answer_up_to_review(user, [NO_RISK])
    cards = cards_in(await user.say("My referrals!"))
    assert "You have not made a referral yet." in card_text(cards[0])
    assert "What are you referring?" in card_text(cards[1])


async def test_draft_in_dialog_state_is_encrypted(user: TeamsUser, running_bot: RunningBot) -> None:
    await answer_up_to_review(
        user, [NO_RISK, KIND, {"verb": "model", "model": "space_to_think"}, NARRATIVE]
    )
    engine = engine_for(running_bot.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            rows = (await session.scalars(select(BotStateRow))).all()
            audit = (await session.scalars(select(AuditEntry))).all()
    finally:
        await engine.dispose()
    assert rows and all(b"network cannot agree" not in row.data for row in rows)
    assert audit == []  # nothing submitted yet


async def test_referrals_only_in_one_to_one_chats(running_bot: RunningBot, connector, http) -> None:
    group = TeamsUser(running_bot.url, connector, http, conversation_type="groupChat")
    sent = await group.say("<at>Reflective practice</at> refer")
    assert "one-to-one chat" in texts_in(sent)[0]


async def test_unknown_text_gets_the_welcome_card(user: TeamsUser) -> None:
    sent = await user.say("what is this?")
    assert "did not understand" in texts_in(sent)[0]
    assert "Make a referral" in card_text(only_card(sent))


async def test_a_redelivered_submit_stores_one_referral(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """Teams re-sends a request it thinks was lost; the same activity id must act once."""
    await answer_up_to_review(user)
    before = len(user.connector.activities)
    submit = user.activity(value=SUBMIT)
    await asyncio.gather(user.post(submit), user.post(submit))
    await user.post(submit)
    assert len(await referral_rows(running_bot.settings.database_url)) == 1
    # One confirmation in the conversation, and nothing else (no error, no "expired").
    sent = user.connector.activities[before:]
    assert len(sent) == 1 and len(cards_in(sent)) == 1


async def test_submit_pressed_twice_stores_one_referral(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """Two presses are two activities (two ids): the draft id still makes one referral, and
    the "Referral received" card is shown once (it was shown twice)."""
    await answer_up_to_review(user)
    before = len(user.connector.activities)
    await asyncio.gather(user.press(SUBMIT), user.press(SUBMIT))
    sent = user.connector.activities[before:]
    rows = await referral_rows(running_bot.settings.database_url)
    assert len(rows) == 1
    received = [c for c in cards_in(sent) if "Referral received" in card_text(c)]
    assert len(received) == 1
    assert rows[0].reference in card_text(received[0])


async def test_a_failed_confirmation_then_retry_stores_one_referral(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """The referral is stored, then the confirmation fails: the retry must not store another."""
    await answer_up_to_review(user)
    user.connector.failures.extend([Failure(500)] * 2)  # the confirmation, then the apology
    await user.press(SUBMIT)
    confirmation = only_card(await user.press(SUBMIT))
    (row,) = await referral_rows(running_bot.settings.database_url)
    assert row.reference in card_text(confirmation)


async def test_field_limits_are_checked_before_the_database(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """PostgreSQL refuses a value longer than its column; the form must refuse it first."""
    await answer_up_to_review(
        user, [NO_RISK, KIND, {"verb": "model", "model": "space_to_think"}, NARRATIVE]
    )
    long_email = "a" * 250 + "@nhs.example"
    said = refusal(await user.press({**ABOUT, "manager_email": long_email}))
    assert "email address does not look right" in said
    # A manager who has not agreed is not recorded, whatever the boxes held.
    await user.press({**ABOUT, "manager_agreed": "no", "manager_name": "x" * 500})
    await user.press(INVITEES)
    said = refusal(
        await user.press(
            {"verb": "timing", "availability": "Mum is on 07700 900123", "urgency": "soon"}
        )
    )
    assert "a phone number" in said and "07700" not in said
    await user.press({"verb": "timing", "availability": "Tuesdays", "urgency": "soon"})
    await user.press(SUBMIT)
    (row,) = await referral_rows(running_bot.settings.database_url)
    assert row.manager_name is None and row.manager_email is None


async def test_a_crafted_remove_index_is_refused_politely(user: TeamsUser) -> None:
    await answer_up_to_review(
        user, [NO_RISK, KIND, {"verb": "model", "model": "space_to_think"}, NARRATIVE, ABOUT]
    )
    for index in ("²", "-1", "1e3", "99"):
        sent = await user.press({"verb": "invitees", "op": "remove", "index": index})
        assert user.last_status in (200, 201)
        assert refusal(sent) == "I could not tell whom to remove. Please try again.", index
    assert "Who should be invited" in card_text(cards_in(await user.say("help"))[-1])


async def test_cancel_on_a_card_from_an_earlier_referral_leaves_this_one(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    first = only_card(await user.say("refer"))
    old_cancel = next(d for d in submit_actions(first) if d.get("verb") == "risk")
    old_cancel = {**old_cancel, "verb": "cancel"}
    await user.say("cancel")
    await answer_up_to_review(user, [NO_RISK, KIND])
    sent = await user.press(old_cancel)
    assert "earlier referral" in texts_in(sent)[0]
    assert "Which session" in card_text(only_card(sent))
    # And an old step button from the first draft does not feed this one either.
    card = only_card(
        await user.press({**next(d for d in submit_actions(first) if d.get("at_risk") == "no")})
    )
    assert "earlier referral" in card_text(card)


async def test_reading_a_narrative_is_audited(user: TeamsUser, running_bot: RunningBot) -> None:
    await answer_up_to_review(user)
    await user.press(SUBMIT)
    (row,) = await referral_rows(running_bot.settings.database_url)
    engine = engine_for(running_bot.settings.database_url)
    try:
        sessions = session_factory(engine)
        store = ReferralStore(sessions, Cipher(running_bot.settings.encryption_keys))
        narrative = await store.read_narrative(row.reference, actor_id="admin-1")
        assert narrative is not None
        assert narrative.what_is_stuck == NARRATIVE["what_is_stuck"]
        assert await store.read_narrative("RP-1999-9999", actor_id="admin-1") is None
        async with sessions() as session:
            audit = (await session.execute(select(AuditEntry.actor_id, AuditEntry.action))).all()
    finally:
        await engine.dispose()
    entries = [tuple(entry) for entry in audit]
    assert ("admin-1", "referral.narrative_read") in entries
    assert (user.aad_id, "referral.submitted") in entries


# --- answered cards settle ----------------------------------------------------------------


async def test_each_answered_step_settles_to_a_record_with_nothing_to_press(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """A PUT to the step card's own activity id: the answer in a few words, no buttons, no
    boxes, and nothing that was typed (only that it was written, and its length)."""
    card = only_card(await user.say("refer"))
    expected = [
        "A child at immediate risk\nNo",
        "Referring\nA child or family",
        "Session\nSpace to Think",
        f"What is stuck\nWritten and checked, {len(NARRATIVE['what_is_stuck'])} characters",
        "Lead Professional\nNo",
        "To invite\n1 person",
        f"When you are available\nWritten and checked, {len(TIMING['availability'])} characters",
    ]
    typed = [
        str(value) for answer in HAPPY_PATH for key, value in answer.items() if "_" in key and value
    ]
    typed += [TIMING["availability"], ABOUT["agency"], ABOUT["role"]]
    for answer, shown in zip(HAPPY_PATH, expected, strict=True):
        next_card = only_card(await user.press(answer))
        (record,) = settled(user, sent_id(card, user))
        assert shown in card_text(record), card_text(record)
        assert controls(record) == []
        assert not [text for text in typed if text in card_text(record)]
        card = next_card

    review = card
    before = len(user.connector.requests)
    confirmation = only_card(await user.press(SUBMIT))
    (row,) = await referral_rows(running_bot.settings.database_url)
    (record,) = settled(user, sent_id(review, user))
    assert f"Sent: its reference is {row.reference}." in card_text(record)
    # The review keeps its Submit until the referral is stored and its confirmation shown.
    methods = [method for method, _ in user.connector.requests[before:]]
    assert methods == ["POST", "PUT"], methods
    assert row.reference in card_text(confirmation)


async def test_the_card_pressed_and_every_copy_of_the_step_settle(user: TeamsUser) -> None:
    """Help shows the step's card again: the older copy, pressed as Teams presses it (its
    id as replyToId), settles with the newer one."""
    older = only_card(await answer_up_to_review(user, [NO_RISK]))
    newer = cards_in(await user.say("help"))[-1]
    press = user.activity(
        value={**button(older, verb="kind"), "kind": "debrief", "theme": ""},
        replyToId=sent_id(older, user),
    )
    assert "Which session" in card_text(only_card(await user.post(press)))
    for card in (older, newer):
        (record,) = settled(user, sent_id(card, user))
        assert "A debrief after a significant event" in card_text(record)


async def test_a_refused_answer_does_not_settle(user: TeamsUser) -> None:
    card = only_card(await answer_up_to_review(user, [NO_RISK]))
    refusal(await user.press({"verb": "kind", "kind": "theme", "theme": ""}))
    assert settled(user, sent_id(card, user)) == []
    await user.press(KIND)
    assert len(settled(user, sent_id(card, user))) == 1


# --- plain words ---------------------------------------------------------------------------


async def test_text_typed_at_a_step_gets_the_card_again_saying_what_to_do(
    user: TeamsUser,
) -> None:
    await answer_up_to_review(user, [NO_RISK])
    card = only_card(await user.say("It is about a child"))
    text = card_text(card)
    assert "What are you referring?" in text
    assert "Please answer on this card and press Continue" in text
    assert "What you have entered so far is kept" in text
    assert "card above" not in text
    assert "Which session" in card_text(only_card(await user.press(KIND)))


async def test_a_greeting_gets_a_greeting_not_a_puzzle(user: TeamsUser) -> None:
    sent = await user.say("Hi!")
    assert texts_in(sent) == ["Hello! Here is what I can do."]
    assert "Make a referral" in card_text(only_card(sent))
    sent = await user.say("thanks")
    assert cards_in(sent) == [] and texts_in(sent)[0].startswith("You are welcome.")
    # Part-way through a referral: where they were, said kindly.
    await answer_up_to_review(user, [NO_RISK])
    card = only_card(await user.say("hello"))
    assert "Hello again. You are part-way through a referral" in card_text(card)
    assert "What are you referring?" in card_text(card)


async def test_an_incomplete_invitee_row_is_named_with_what_it_lacks(user: TeamsUser) -> None:
    await answer_up_to_review(user, [NO_RISK, KIND, MODEL_STT, NARRATIVE, ABOUT])
    await user.press({**INVITEES, "op": "add"})  # Pat Teacher is on the list: rows are 2 and 3
    said = refusal(await user.press({"verb": "invitees", "op": "done", "name_1": "Lee Nurse"}))
    assert said.startswith("Practitioner 2 has no agency or work email.")
    said = refusal(
        await user.press(
            {
                **INVITEES,
                "name_1": "Lee Nurse",
                "agency_1": "School nursing",
                "email_1": "lee@nhs.example",
                "agency_2": "Oak School",
            }
        )
    )
    assert said.startswith("Practitioner 3 has no name or work email.")
    said = refusal(await user.press({**INVITEES, "email_1": "lee-at-nhs"}))
    assert said == "Practitioner 2's work email address does not look right: please check it."
    assert "Pat Teacher" not in said and "Lee" not in said
