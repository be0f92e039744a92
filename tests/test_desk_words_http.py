"""The triage desk talks like people (issue 15): the audit listing in words, the card's own
labels, desk help with the @mention rule, and answered panels settled to a record.

The real app over HTTP, a loopback Bot Connector, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.core.audit import Action
from bot.privacy.retention import SYSTEM as RETENTION
from bot.sessions.store import MEETING_OVER, NOBODY_CAME_BACK
from cards.audit import NOT_PEOPLE, SENTENCES
from cards.common import inputs_of, nodes
from cards.triage import DESK_COMMANDS
from manifest.pack import TEMPLATE as MANIFEST_TEMPLATE
from tests.support.client import TENANT, TeamsUser, card_text, cards_in, texts_in
from tests.support.connector import FakeConnector
from tests.support.triage import (
    ADMIN,
    DESK,
    SECOND_ADMIN,
    Scene,
    accept,
    press,
    shown,
    triage_scene,
    version_of,
)

MENTION = "<at>Reflective practice</at>"
OTHER_TENANT = "00000000-0000-0000-0000-0000000000bb"
JOIN = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YjQtYjQ0MS00%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%22aa%22%7d"
)


async def listing(user: TeamsUser, what: str) -> dict[str, Any]:
    """`audit <what>` typed in the desk: the one card it answers with."""
    (card,) = cards_in(await user.say(f"{MENTION} audit {what}"))
    return card


def no_codes_or_ids(card: dict[str, Any], *ids: str) -> None:
    """Nothing on the card that only a database would say."""
    dumped = json.dumps(card)
    for code in ("triage.", "referral.", "audit.read", "_form", "already_decided", "19:"):
        assert code not in dumped, code
    for person_id in ids:
        assert person_id not in dumped
    assert TENANT not in dumped


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in nodes(card) if str(node.get("type", "")).startswith("Action.")]


# --- the audit listing ------------------------------------------------------------------


async def test_the_audit_listing_names_people_and_actions_in_words(scene: Scene) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    await press(scene.admin, "triage_details", reference, version)
    await press(scene.outsider, "triage_decline", reference, version, reason="x", signpost="0")
    # Two admins at once: the second press finds the referral decided (triage.already_decided).
    await asyncio.gather(
        accept(scene.admin, reference, version),
        press(scene.second_admin, "triage_ask", reference, version, question="Who leads?"),
    )

    card = await listing(scene.admin, reference)
    text = card_text(card)
    for sentence in (
        f"Audit log for {reference}",
        "Referred by Pat Practitioner.",
        "Details read by Alex Admin.",
        "Refused: Olly Outsider, who is not in business support, tried to press "
        "\u201cDecline\u201d.",
        "on an out-of-date card was refused: someone had already changed the referral, so "
        "nothing was changed.",
    ):
        assert sentence in text, sentence
    assert ("Accepted by Alex Admin, for a Space to Think session." in text) != (
        "More information asked of the referrer by Sam Second." in text
    )
    no_codes_or_ids(card, ADMIN, SECOND_ADMIN, scene.practitioner.aad_id, scene.outsider.aad_id)


async def test_a_name_comes_from_the_people_table_and_goes_after_retention(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with triage_scene(database_url, connector, http, retention_audit_days=30) as scene:
        await scene.register_desk()
        reference = await scene.refer()
        # Alex has written to the bot 1:1, so it knows Alex's name; in the desk, Teams
        # gives no name this time.
        await TeamsUser(scene.bot.url, connector, http, name="Alex Admin", aad_id=ADMIN).say(
            "my referrals"
        )
        nameless = TeamsUser(
            scene.bot.url,
            connector,
            http,
            name="",
            aad_id=ADMIN,
            conversation_type="channel",
            conversation_id=DESK,
        )
        stranger = TeamsUser(
            scene.bot.url,
            connector,
            http,
            name="",
            aad_id=SECOND_ADMIN,
            conversation_type="channel",
            conversation_id=DESK,
        )
        version = version_of(scene.desk_card(reference))
        await press(nameless, "triage_details", reference, version)
        await press(stranger, "triage_details", reference, version)
        text = card_text(await listing(scene.admin, reference))
        assert "Details read by Alex Admin." in text
        assert "Details read by someone whose name Teams did not give." in text

        # Past RETENTION_AUDIT_DAYS the purge replaces every actor by a pseudonym (entries
        # are timed by the database's clock, so the bot's is set from the real time).
        scene.clock.set(datetime.now(UTC) + timedelta(days=31))
        await scene.bot.settle()
        card = await listing(scene.admin, reference)
        text = card_text(card)
        assert "Referred by someone (their name was removed after 30 days)." in text
        assert "Details read by someone (their name was removed after 30 days)." in text
        assert "pseudonym" not in json.dumps(card)
        no_codes_or_ids(card, ADMIN, SECOND_ADMIN, scene.practitioner.aad_id)


async def test_the_desk_registration_is_listed_by_audit_desk(scene: Scene) -> None:
    # Refused desk commands are the desk's too; another tenant's desk is not.
    await scene.outsider.say(f"{MENTION} register triage here")
    await scene.outsider.say(f"{MENTION} digest")
    elsewhere = TeamsUser(
        scene.bot.url,
        scene.connector,
        scene.admin.session,
        name="Tess Other",
        aad_id=ADMIN,
        tenant=OTHER_TENANT,
        conversation_type="channel",
        conversation_id="19:other-desk@thread.tacv2",
    )
    await elsewhere.say(f"{MENTION} register triage here")
    refused = await scene.outsider.say(f"{MENTION} audit desk")
    assert "only the partnership's business support team" in " ".join(texts_in(refused))

    card = await listing(scene.admin, "desk")
    text = card_text(card)
    for sentence in (
        "Audit log of the triage desk",
        "The triage desk was registered here by Alex Admin.",
        "Refused: Olly Outsider, who is not in business support, tried to register a triage desk.",
        "Refused: Olly Outsider, who is not in business support, tried to see the weekly digest.",
        "Refused: Olly Outsider, who is not in business support, tried to read an audit log.",
    ):
        assert sentence in text, sentence
    assert "read by" not in text  # this listing is recorded once listed
    assert "Tess Other" not in text and "in another channel" not in text
    no_codes_or_ids(card, ADMIN, scene.outsider.aad_id)

    # Moved to another chat and back: the listing says where, in words.
    await scene.in_chat("Sam Second", "19:group-desk@thread.v2", SECOND_ADMIN).say(
        f"{MENTION} register triage here"
    )
    await scene.register_desk()
    text = card_text(await listing(scene.admin, "desk"))
    assert "The triage desk was registered in another channel or chat by Sam Second." in text
    assert text.count("The triage desk was registered here by Alex Admin.") == 2
    assert "This desk's audit log was read by Alex Admin." in text


# --- the card's own labels ------------------------------------------------------------


async def test_the_moved_on_notice_uses_the_cards_labels(scene: Scene) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    await press(scene.admin, "triage_ask", reference, version, question="Is the school on board?")
    stale = shown(await accept(scene.second_admin, reference, version))
    assert (
        "This referral has moved on: Alex Admin made it \u201cMore information requested\u201d "
        "on 23 Nov 2026 10:00." in stale
    )
    assert "more info requested" not in stale.lower()


# --- desk help and the @mention rule ----------------------------------------------------


async def test_help_in_the_desk_shows_the_desk_and_the_mention_rule(scene: Scene) -> None:
    confirmation = " ".join(texts_in(await scene.register_desk()))
    assert "In this channel Teams passes me only messages that @mention me" in confirmation
    assert "**@Reflective practice audit RP-2026-0001**" in confirmation
    assert "**@Reflective practice digest**" in confirmation

    (card,) = cards_in(await scene.admin.say(f"{MENTION} help"))
    text = card_text(card)
    assert "The triage desk" in text
    assert "Teams passes me only messages that @mention me" in text
    assert "@Reflective practice" in text
    for command, _ in DESK_COMMANDS:
        assert command in text
    for button in ("Details", "Accept", "Ask referrer", "Decline", "Withdrawn or duplicate"):
        assert button in text
    assert "my referrals" not in text and "refer" not in text.split()

    # Words it does not know, in the desk: the desk's help, not the session menu.
    sent = await scene.admin.say(f"{MENTION} what now")
    assert texts_in(sent) == ["Sorry, I did not understand that."]
    assert "The triage desk" in card_text(cards_in(sent)[0])

    # In the 1:1 chat, help is still the referral menu.
    (one_to_one,) = cards_in(await scene.practitioner.say("help"))
    assert "my referrals" in card_text(one_to_one)
    assert "The triage desk" not in card_text(one_to_one)


async def test_help_in_a_chat_that_is_not_the_desk_is_not_the_desk_help(scene: Scene) -> None:
    other = scene.in_chat("Alex Admin", "19:some-group@thread.v2", ADMIN)
    sent = await other.say(f"{MENTION} help")
    assert all("The triage desk" not in card_text(card) for card in cards_in(sent))


def test_the_manifest_lists_the_desk_commands_for_channels_and_group_chats() -> None:
    manifest = json.loads(MANIFEST_TEMPLATE.read_text(encoding="utf-8"))
    (shared,) = [
        lst["commands"]
        for lst in manifest["bots"][0]["commandLists"]
        if set(lst["scopes"]) == {"team", "groupChat"}
    ]
    listed = {command["title"] for command in shared}
    for command, _ in DESK_COMMANDS:
        assert command.split()[0] in listed or command in listed, command
    assert all(command["description"] for command in shared)


# --- answered panels settle -------------------------------------------------------------


def settled(body: dict[str, Any]) -> str:
    """The invoke response for an answered panel: a card with no buttons and no inputs."""
    card = body["value"]
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert buttons(card) == [] and list(inputs_of(card)) == []
    return card_text(card)


async def test_answered_panels_settle_to_a_record_of_the_answer(scene: Scene) -> None:
    reference = await scene.refer()
    (posted,) = [
        sent
        for sent in scene.connector.sent_to(DESK)
        if any(f"Referral {reference}" in card_text(c) for c in cards_in([sent]))
    ]

    version = version_of(scene.desk_card(reference))
    text = settled(await accept(scene.admin, reference, version))
    assert (
        "Accepted by Alex Admin, 23 Nov 2026 10:00: Space to Think, facilitated by Jo Facilitator."
        in text
    )
    assert "Accepted. The referrer and the facilitator are being told." in text
    await scene.bot.settle()
    # Everyone's card is brought up to date in place (a PUT to the card's own id), with the
    # buttons for what comes next.
    assert ("PUT", f"/v3/conversations/{DESK}/activities/{posted['id']}") in [
        (method, path.replace("%3A", ":").replace("%40", "@"))
        for method, path in scene.connector.requests
    ]
    assert "triage_schedule_form" in [b.get("verb") for b in buttons(scene.desk_card(reference))]

    version = version_of(scene.desk_card(reference))
    text = settled(
        await press(
            scene.admin, "triage_schedule", reference, version, day="2026-12-01", time="13:00",
            link=JOIN,
        )
    )  # fmt: skip
    assert (
        "Scheduled by Alex Admin, 23 Nov 2026 10:00: 1 Dec 2026 13:00, with the join link" in text
    )
    await scene.bot.settle()

    version = version_of(scene.desk_card(reference))
    text = settled(await press(scene.admin, "triage_cancel", reference, version))
    assert (
        "Session cancelled by Alex Admin, 23 Nov 2026 10:00: the session of 1 Dec 2026 13:00"
        in text
    )
    await scene.bot.settle()

    version = version_of(scene.desk_card(reference))
    text = settled(await press(scene.admin, "triage_withdraw", reference, version, why="duplicate"))
    assert "Closed by Alex Admin, 23 Nov 2026 10:00: a duplicate of another referral." in text

    other = await scene.refer()
    version = version_of(scene.desk_card(other))
    text = settled(await press(scene.admin, "triage_ask", other, version, question="Who leads?"))
    assert "More information asked by Alex Admin, 23 Nov 2026 10:00." in text
    assert "Who leads?" not in text  # the question stays behind Details
    await scene.bot.settle()
    version = version_of(scene.desk_card(other))
    text = settled(
        await press(
            scene.admin, "triage_decline", other, version, reason="Out of scope for now.",
            signpost="0",
        )
    )  # fmt: skip
    assert "Declined by Alex Admin, 23 Nov 2026 10:00: signposted to" in text
    assert "Out of scope" not in text  # the reason stays behind Details
    assert ".." not in text


async def test_an_answered_question_card_settles_in_the_referrers_chat(scene: Scene) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    await press(scene.admin, "triage_ask", reference, version, question="Is the school on board?")
    await scene.bot.settle()
    chat = scene.practitioner.conversation_id
    (question,) = [
        sent
        for sent in scene.connector.sent_to(chat)
        if any("Is the school on board?" in card_text(c) for c in cards_in([sent]))
    ]
    (card,) = cards_in([question])
    answer_button = next(a for a in card["actions"] if a["type"] == "Action.Submit")

    await scene.practitioner.press(answer_button["data"], answer="Yes: the head will attend.")
    (update,) = [u for u in scene.connector.updates_to(chat) if u.get("id") == question["id"]]
    (record,) = cards_in([update])
    assert buttons(record) == [] and list(inputs_of(record)) == []
    text = card_text(record)
    assert f"Question about {reference}" in text and "Is the school on board?" in text
    assert "You answered on 23 Nov 2026 10:00." in text
    assert "head will attend" not in text  # the answer is not echoed into the chat

    # Pressed again (another device still showing the old card): settled again, not stored.
    again = await scene.practitioner.press(answer_button["data"], answer="Another answer")
    assert "already answered" in " ".join(texts_in(again))


async def test_the_withdraw_panel_says_what_is_missing(scene: Scene) -> None:
    reference = await scene.refer()
    body = await press(
        scene.admin, "triage_withdraw_form", reference, version_of(scene.desk_card(reference))
    )
    (why,) = [node for node in inputs_of(body["value"]) if node.get("id") == "why"]
    assert why["isRequired"] is True
    assert why["errorMessage"] == "Choose whether it was withdrawn or a duplicate."


def test_every_audit_action_has_a_sentence_and_every_non_person_its_words() -> None:
    actions = {value for name, value in vars(Action).items() if name.isupper()}
    assert set(SENTENCES) == actions
    assert set(NOT_PEOPLE) == {MEETING_OVER.id, NOBODY_CAME_BACK.id, RETENTION.id}
