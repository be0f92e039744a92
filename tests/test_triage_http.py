"""Triage over real HTTP: the real app, a loopback Bot Connector, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import unquote

import aiohttp
from sqlalchemy import select

from bot.core.database import session_factory
from bot.core.models import AuditEntry, OutboxMessage, ReferralRow
from bot.core.settings import PROJECT_ROOT
from tests.support.client import card_text, cards_in, texts_in
from tests.support.connector import Failure, FakeConnector
from tests.support.databases import TEST_KEY, engine_for
from tests.support.triage import (
    ADMIN,
    ADMIN_GROUP,
    DESK,
    FACILITATOR,
    MESSAGE,
    Scene,
    accept,
    press,
    shown,
    stored_referral,
    triage_scene,
    verbs_on,
    version_of,
)


async def audit_actions(scene: Scene, reference: str) -> list[tuple[str, str]]:
    engine = engine_for(scene.bot.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            referral_id = await session.scalar(
                select(ReferralRow.id).where(ReferralRow.reference == reference)
            )
            rows = await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.referral_id == referral_id)
                .order_by(AuditEntry.id)
            )
            return [(row.action, row.actor_name) for row in rows]
    finally:
        await engine.dispose()


async def test_whole_triage_flow(scene: Scene) -> None:
    reference = await scene.refer()

    card = scene.desk_card(reference)
    text = card_text(card)
    for expected in ("Space to Think", "Health Visiting", "Oak School", "Invitees", "Soon"):
        assert expected in text
    assert "network cannot agree" not in text  # no narrative on the shared card
    assert verbs_on(card) == [
        "triage_details",
        "triage_accept_form",
        "triage_ask_form",
        "triage_decline_form",
        "triage_withdraw_form",
    ]
    version = version_of(card)

    details = await press(scene.admin, "triage_details", reference, version)
    assert "network cannot agree" in shown(details)
    assert "Only you can see this" in shown(details)

    form = await press(scene.admin, "triage_accept_form", reference, version)
    assert "Facilitator" in shown(form)
    accepted = await accept(scene.admin, reference, version)
    assert "Accepted. The referrer and the facilitator are being told." in shown(accepted)
    await scene.bot.settle()

    # The shared card is updated in place: status, who and when, no decision buttons.
    updated = cards_in(scene.connector.updates_to(DESK))[-1]
    assert "Accepted by Alex Admin, 23 Nov 2026 10:00." in card_text(updated)
    assert "Jo Facilitator" in card_text(updated)
    assert verbs_on(updated) == ["triage_details", "triage_schedule_form", "triage_withdraw_form"]
    assert scene.posts_on_desk(reference) == 1

    # The referrer hears in their 1:1 chat, and `my referrals` shows it.
    told = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))
    assert "Your referral has been accepted" in card_text(told[-1])
    listing = cards_in(await scene.practitioner.say("my referrals"))[0]
    assert "Accepted" in card_text(listing)

    # The facilitator hears in a 1:1 chat the bot opens with their Entra id.
    opened = scene.connector.created[-1]
    assert opened["members"] == [{"id": FACILITATOR["aad_object_id"]}]
    facilitator_cards = cards_in(scene.connector.sent_to(opened["id"]))
    assert f"You are facilitating {reference}" in card_text(facilitator_cards[0])

    # The audit log, read by an admin in the desk.
    audit_card = cards_in(await scene.admin.say(f"<at>Reflective practice</at> audit {reference}"))
    listing_text = card_text(audit_card[0])
    for said in ("Referred by Pat", "Details read by Alex Admin", "Accepted by Alex Admin"):
        assert said in listing_text
    assert "triage." not in listing_text and ADMIN not in listing_text
    assert [a for a, _ in await audit_actions(scene, reference)] == [
        "referral.submitted",
        "triage.details_viewed",
        "triage.accepted",
        "audit.read",
    ]
    assert await scene.bot.runtime.outbox.pending() == 0


async def test_more_information_round_trip(scene: Scene) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    asked = await press(
        scene.admin, "triage_ask", reference, version, question="Is the school on board?"
    )
    assert "Your question has gone to the referrer." in shown(asked)
    await scene.bot.settle()
    assert "More information requested" in card_text(scene.desk_card(reference))

    question = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))[-1]
    assert "Is the school on board?" in card_text(question)
    answer_button = next(a for a in question["actions"] if a["type"] == "Action.Submit")

    # An answer that names a child is refused by a message that says where and what kind,
    # and no card: the card keeps what was typed, and the chat never gets the name.
    refused = await scene.practitioner.press(
        answer_button["data"], answer="Jane Smith born 12/03/2015 is at Oak School"
    )
    assert cards_in(refused) == []
    (said,) = texts_in(refused)
    assert said.startswith("In \u201cYour answer\u201d this looks like it includes")
    assert "a full name with a date of birth" in said and "use initials or a case reference" in said
    assert "Jane Smith" not in said and "12/03/2015" not in said

    thanks = await scene.practitioner.press(
        answer_button["data"], answer="Yes: the head teacher will attend."
    )
    assert f"Your answer has gone to business support with referral {reference}" in " ".join(
        texts_in(thanks)
    )
    await scene.bot.settle()

    card = scene.desk_card(reference)
    assert "Submitted, waiting for triage" in card_text(card)
    assert "The referrer answered" in card_text(card)
    assert "head teacher" not in card_text(card)  # the answer stays behind View details
    details = await press(scene.second_admin, "triage_details", reference, version_of(card))
    assert "Yes: the head teacher will attend." in shown(details)

    again = await scene.practitioner.press(answer_button["data"], answer="Another answer")
    assert "already answered" in " ".join(texts_in(again))
    actions = [a for a, _ in await audit_actions(scene, reference)]
    assert actions.count("referral.answer_received") == 1


async def test_two_admins_at_once_the_first_wins(scene: Scene) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    first, second = await asyncio.gather(
        accept(scene.admin, reference, version),
        press(
            scene.second_admin,
            "triage_decline",
            reference,
            version,
            reason="Not a fit for reflective practice.",
            signpost="0",
        ),
    )
    outcomes = sorted([shown(first), shown(second)], key=lambda text: "moved on" in text)
    assert "moved on" not in outcomes[0]
    assert "This referral has moved on" in outcomes[1]
    assert "Nothing was changed by your press" in outcomes[1]

    row = await stored_referral(scene, reference)
    assert row.status in ("accepted", "declined")
    assert row.version == version + 1
    actions = [a for a, _ in await audit_actions(scene, reference)]
    assert actions.count("triage.already_decided") == 1
    assert len({"triage.accepted", "triage.declined"} & set(actions)) == 1

    await scene.bot.settle()
    referrer_cards = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))
    status_news = [c for c in referrer_cards if "Your referral has" in card_text(c)]
    assert len(status_news) == 1  # told once, of the decision that won


async def test_a_stale_button_does_nothing_harmful(scene: Scene) -> None:
    reference = await scene.refer()
    old_version = version_of(scene.desk_card(reference))
    await accept(scene.admin, reference, old_version, model="re_think")
    await scene.bot.settle()

    for verb, inputs in [
        ("triage_decline_form", {}),
        ("triage_decline", {"reason": "late", "signpost": "1"}),
        ("triage_accept", {"model": "think_space", "facilitator": FACILITATOR["aad_object_id"]}),
    ]:
        body = await press(scene.second_admin, verb, reference, old_version, **inputs)
        assert "This referral has moved on: Alex Admin made it" in shown(body)
    row = await stored_referral(scene, reference)
    assert (row.status, row.model, row.version) == ("accepted", "re_think", old_version + 1)


async def test_bad_form_input_keeps_the_form_and_changes_nothing(scene: Scene) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    # A message answers: Teams leaves the card pressed as it was, its panel open with what was
    # typed in it.
    body = await press(scene.admin, "triage_accept", reference, version, facilitator="nobody")
    assert body == {
        "statusCode": 200,
        "type": MESSAGE,
        "value": "Please choose a facilitator from the list.",
    }
    body = await press(scene.admin, "triage_decline", reference, version, reason=" ", signpost="0")
    assert body["type"] == MESSAGE and body["value"] == "Please write a reason."
    # Text that seems to identify a child, wherever an admin writes it, is refused by name.
    for verb, inputs, box in (
        ("triage_ask", {"question": "Is Jane Smith (DOB 12/03/2015) known?"}, "Your question"),
        ("triage_decline", {"reason": "Family at SW1A 1AA moved", "signpost": "0"}, "Reason"),
        ("triage_withdraw", {"why": "duplicate", "note": "see jo@x.example"}, "Note"),
    ):
        body = await press(scene.admin, verb, reference, version, **inputs)
        assert body["type"] == MESSAGE, body
        assert body["value"].startswith(f"In \u201c{box}\u201d this looks like it includes")
        assert not any(text in body["value"] for text in ("Jane", "SW1A", "jo@x"))
    body = await press(scene.admin, "triage_explode", reference, version)
    assert body["type"] == MESSAGE
    row = await stored_referral(scene, reference)
    assert (row.status, row.version) == ("submitted", version)


async def test_non_admins_are_refused_politely_and_audited(scene: Scene) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    for verb in ("triage_details", "triage_decline"):
        body = await press(scene.outsider, verb, reference, version, reason="x", signpost="0")
        assert body["type"] == MESSAGE
        assert "only the partnership's business support team" in body["value"]
    sent = await scene.outsider.say("<at>Reflective practice</at> register triage here")
    assert "only the partnership's business support team" in " ".join(texts_in(sent))
    sent = await scene.outsider.say(f"audit {reference}")
    assert "only the partnership's business support team" in " ".join(texts_in(sent))

    row = await stored_referral(scene, reference)
    assert (row.status, row.version) == ("submitted", version)
    refused = [
        (a, who) for a, who in await audit_actions(scene, reference) if a == "triage.refused"
    ]
    assert refused == [("triage.refused", "Olly Outsider")] * 3


async def test_members_of_the_admin_group_are_admins(scene: Scene) -> None:
    reference = await scene.refer()
    version = version_of(scene.desk_card(reference))
    assert (await press(scene.outsider, "triage_details", reference, version))["type"] == MESSAGE
    scene.connector.members[ADMIN_GROUP].add(scene.outsider.aad_id)
    # A refusal is not remembered: once added to the group, the next press works.
    body = await press(scene.outsider, "triage_details", reference, version)
    assert "network cannot agree" in shown(body)
    assert ("GET", f"/v3/conversations/{ADMIN_GROUP}/members/{scene.outsider.aad_id}") in [
        (method, unquote(path)) for method, path in scene.connector.requests
    ]


async def test_a_429_is_retried_after_retry_after_and_nothing_is_lost(scene: Scene) -> None:
    scene.connector.failures_for[DESK].append(Failure(429, {"Retry-After": "1"}))
    reference = await scene.refer()  # the triage card's first post gets the 429
    posts = [
        i
        for i, (method, path) in enumerate(scene.connector.requests)
        if method == "POST" and DESK in unquote(path)
    ]
    throttled, delivered = posts[-2], posts[-1]
    waited = scene.connector.request_times[delivered] - scene.connector.request_times[throttled]
    assert waited >= 1.0
    assert scene.posts_on_desk(reference) == 1


async def test_a_long_429_is_kept_in_the_outbox_and_sent_later(scene: Scene) -> None:
    # Four 429s use up the sender's attempts; the outbox keeps the card for after Retry-After.
    scene.connector.failures_for[DESK].extend(Failure(429, {"Retry-After": "1"}) for _ in range(4))
    reference = await scene.refer()
    assert scene.posts_on_desk(reference) == 0
    assert await scene.bot.runtime.outbox.pending() == 1
    scene.clock.advance(seconds=2)
    await scene.bot.settle()
    assert scene.posts_on_desk(reference) == 1
    assert await scene.bot.runtime.outbox.pending() == 0


async def test_a_referral_made_before_the_desk_exists_waits_for_it(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with triage_scene(database_url, connector, http) as scene:
        reference = await scene.refer()
        assert connector.sent_to(DESK) == []
        await scene.register_desk()
        await scene.bot.settle()
        assert scene.posts_on_desk(reference) == 1
        engine = engine_for(scene.bot.settings.database_url)
        try:
            async with session_factory(engine)() as session:
                unsent = await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
                )
                assert unsent.all() == []
        finally:
            await engine.dispose()


async def test_the_audit_cli_lists_a_referrals_trail(scene: Scene) -> None:
    reference = await scene.refer()
    await press(scene.admin, "triage_details", reference, version_of(scene.desk_card(reference)))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.core.audit",
        reference,
        env={
            **os.environ,
            "DATABASE_URL": scene.bot.settings.database_url,
            "MODE": "development",
            "ENCRYPTION_KEYS": TEST_KEY,  # actors' names are sealed: the app's key reads them
        },
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert [line.split()[3] for line in lines] == ["referral.submitted", "triage.details_viewed"]
    assert "Alex Admin" in lines[1]
    assert "network cannot agree" not in out.decode()
