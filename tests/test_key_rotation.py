"""Key rotation (bot.privacy.rotate): every encrypted value re-encrypted with the newest key, in
batches, resumably; then the old key is removed and the app still reads everything."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, text

from bot.core.audit import Action
from bot.core.crypto import Cipher
from bot.core.database import create_engine, session_factory
from bot.core.models import AuditEntry, Base, Person, ReferralRow, SessionContribution
from bot.core.settings import PROJECT_ROOT
from bot.privacy.rotate import LOOKUP_HASHES, Rotation, encrypted_columns, rotate
from tests.support.client import TeamsUser, card_text, cards_in
from tests.support.connector import FakeConnector
from tests.support.databases import TEST_KEY
from tests.support.meeting import Meeting, button_data, shown
from tests.support.referral_steps import (
    ABOUT,
    INVITEES,
    KIND,
    MODEL_STT,
    NARRATIVE,
    NO_RISK,
    SUBMIT,
    TIMING,
    answer_up_to_review,
)
from tests.support.triage import Scene, accept, press, triage_scene, version_of

ANSWER = "Yes: the head teacher will attend."
HOPE = "A shared picture of the family"
PAT_EMAIL = "pat@oak.example"  # an invitee in referral_steps.INVITEES, who has used the bot
JOIN = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YjQtYjQ0MS00%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%22aa%22%7d"
)


@dataclass
class Planted:
    reference: str
    pat: TeamsUser  # known to the bot by email (the people table)
    drafter: TeamsUser  # half-way through a referral (dialog state)


async def plant(scene: Scene) -> Planted:
    """Through the app: a person known by email, a referral with a question and its answer, a
    half-finished referral, and a session with a contribution: every kind of encrypted value."""
    await scene.register_desk()
    pat = TeamsUser(scene.bot.url, scene.connector, scene.admin.session, name="Pat Teacher")
    scene.connector.profiles[pat.user_id] = {
        "name": "Pat Teacher",
        "aadObjectId": pat.aad_id,
        "email": "Pat@Oak.example",
        "userPrincipalName": "pat.teacher@oak.example",
    }
    await pat.say("help")
    await scene.bot.settle()

    reference = await scene.refer()
    await press(
        scene.admin,
        "triage_ask",
        reference,
        version_of(scene.desk_card(reference)),
        question="Is the school on board?",
    )
    await scene.bot.settle()
    question = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))[-1]
    answer = next(a for a in question["actions"] if a["type"] == "Action.Submit")
    await scene.practitioner.press(answer["data"], answer=ANSWER)
    await scene.bot.settle()

    drafter = TeamsUser(scene.bot.url, scene.connector, scene.admin.session, name="Dee Drafter")
    await answer_up_to_review(drafter, [NO_RISK, KIND, MODEL_STT, NARRATIVE])

    # A meeting chat on the same app; its people are made below (as meeting_scene does).
    nobody: Any = None
    meeting = Meeting(scene.bot, scene.connector, scene.clock, scene.admin.session, *[nobody] * 4)
    facilitator = meeting.person("Jo Facilitator")
    presenter = meeting.person("Pat Presenter")
    await facilitator.say("<at>Reflective practice</at> start session")
    await meeting.press(facilitator, "session_set_up", model="think_space", cycles=1)
    await scene.bot.settle()
    roles = meeting.posted_cards("Roles: ")[-1]
    await meeting.press(facilitator, "session_begin", **button_data(roles, "session_begin"))
    await meeting.control(facilitator, "session_next")  # pen picture
    await meeting.control(facilitator, "session_next")  # hopes
    hopes_card = meeting.posted_cards("Hopes for this session · ")[-1]
    await meeting.press(
        presenter, "session_contribute", **button_data(hopes_card, "session_contribute"), hope=HOPE
    )
    await scene.bot.settle()
    return Planted(reference, pat, drafter)


async def stored_tokens(url: str) -> dict[str, list[bytes]]:
    """Every encrypted value as stored, by `table.column`, read with no key at all."""
    tokens: dict[str, list[bytes]] = {}
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            for each in encrypted_columns():
                rows = await connection.execute(
                    text(
                        f'SELECT "{each.column}" FROM {each.table} '
                        f'WHERE "{each.column}" IS NOT NULL'
                    )
                )
                tokens[each.name] = sorted(_bytes(value) for (value,) in rows)
    finally:
        await engine.dispose()
    return tokens


async def every_stored_value(url: str) -> list[tuple[str, bytes]]:
    """Every text or binary value in every column of every table, as stored."""
    values: list[tuple[str, bytes]] = []
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                rows = await connection.execute(text(f"SELECT * FROM {table.name}"))
                values.extend(
                    (f"{table.name}.{name}", _bytes(value))
                    for row in rows
                    for name, value in row._mapping.items()
                    if isinstance(value, str | bytes | memoryview)
                )
    finally:
        await engine.dispose()
    return values


def _bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def readable_with(key: str, token: bytes) -> bool:
    try:
        Fernet(key.encode()).decrypt(token)
    except InvalidToken:
        return False
    return True


async def rotated(url: str, cipher: Cipher, **options: Any) -> Rotation:
    engine = create_engine(url, cipher=cipher)
    try:
        return await rotate(engine, cipher, **options)
    finally:
        await engine.dispose()


async def audited_rotations(url: str, key: str) -> list[AuditEntry]:
    engine = create_engine(url, cipher=Cipher([key]))
    try:
        async with session_factory(engine)() as session:
            found = await session.scalars(
                select(AuditEntry).where(AuditEntry.action == Action.KEYS_ROTATED)
            )
            return list(found)
    finally:
        await engine.dispose()


async def test_rotate_then_remove_the_old_key_and_everything_still_reads(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with triage_scene(database_url, connector, http) as scene:
        planted = await plant(scene)
    before = await stored_tokens(database_url)
    kinds = {name for name, tokens in before.items() if tokens}
    assert {
        "bot_state.data",
        "referrals.narrative_encrypted",
        "referrals.referrer_name",
        "referrals.invitees",
        "referral_questions.question_encrypted",
        "referral_questions.answer_encrypted",
        "outbox.activity_encrypted",
        "outbox.target",
        "people.email",
        "session_participants.name",
        "session_contributions.content_encrypted",
        "audit_log.actor_name",
    } <= kinds
    old_hash = Cipher([TEST_KEY]).lookup_hash(PAT_EMAIL)

    new = Fernet.generate_key().decode()
    result = await rotated(database_url, Cipher([new, TEST_KEY]), batch=1)

    assert result.unreadable == [] and result.finished
    assert result.total("rotated") == sum(map(len, before.values())) + 2  # the hashes
    assert result.tallies["people.email_hash"].rotated == 1
    assert all(result.tallies[name].rotated == len(before[name]) for name in kinds)
    # No stored value needs the old key, in any column of any table.
    after = await stored_tokens(database_url)
    grown = {name: len(tokens) for name, tokens in before.items()}
    grown["audit_log.actor_name"] += 1  # the rotation's own audit entry
    assert {name: len(tokens) for name, tokens in after.items()} == grown
    only_new = Cipher([new])
    for tokens in after.values():
        for token in tokens:
            only_new.decrypt_bytes(token)  # raises if the new key alone cannot read it
    stored = await every_stored_value(database_url)
    assert [name for name, value in stored if readable_with(TEST_KEY, value)] == []
    (entry,) = await audited_rotations(database_url, new)
    assert entry.actor_id == "operator" and "re-encrypted or re-hashed" in entry.detail
    assert "Pat" not in entry.detail

    # The app, with only the new key: everything reads.
    async with triage_scene(database_url, connector, http, encryption_keys=[new]) as scene:
        # The half-finished referral goes on where it was, and is submitted with what it held.
        planted.drafter.bot_url = scene.bot.url
        assert "About you" in card_text(cards_in(await planted.drafter.say("hello again"))[0])
        await planted.drafter.press(ABOUT)
        await planted.drafter.press(INVITEES)
        assert "Check and submit" in card_text(cards_in(await planted.drafter.press(TIMING))[0])
        submitted = card_text(cards_in(await planted.drafter.press(SUBMIT))[0])
        drafted = re.search(r"RP-\d{4}-\d{4}", submitted)
        assert drafted is not None

        engine = create_engine(database_url, cipher=only_new)
        try:
            async with session_factory(engine)() as session:
                referrals = {
                    row.reference: row for row in await session.scalars(select(ReferralRow))
                }
                person = await session.get(Person, planted.pat.aad_id)
                (hope,) = await session.scalars(select(SessionContribution.content_encrypted))
        finally:
            await engine.dispose()
        referrers = {planted.reference: "Pat Practitioner", drafted.group(0): "Dee Drafter"}
        for reference, referrer in referrers.items():
            referral = referrals[reference]
            narrative = only_new.decrypt(referral.narrative_encrypted or b"")
            assert NARRATIVE["what_is_stuck"] in narrative
            assert referral.referrer_name == referrer
            assert referral.invitees[0]["email"] == PAT_EMAIL
        assert HOPE in only_new.decrypt(hope)  # (the app no longer shows it in the chat)
        assert person is not None
        assert (person.email, person.name) == (PAT_EMAIL, "Pat Teacher")
        assert person.email_hash == only_new.lookup_hash(PAT_EMAIL) != old_hash

        # The desk reads the narrative and the answer.
        reference = planted.reference
        details = await press(
            scene.admin, "triage_details", reference, version_of(scene.desk_card(reference))
        )
        assert NARRATIVE["what_is_stuck"] in shown(details) and ANSWER in shown(details)

        # Pat is found by email: invited to the session booked by hand, in her 1:1 chat.
        await accept(scene.admin, reference, version_of(scene.desk_card(reference)))
        await scene.bot.settle()
        await press(
            scene.admin,
            "triage_schedule",
            reference,
            version_of(scene.desk_card(reference)),
            day="2026-12-01",
            time="13:00",
            link=JOIN,
        )
        await scene.bot.settle()
        # (in the 1:1 chat she wrote in: where to reach her is sealed too, and still reads)
        invited = [
            card
            for card in cards_in(connector.sent_to(planted.pat.conversation_id))
            if f"You are invited to a reflective session ({reference})" in card_text(card)
        ]
        assert len(invited) == 1


async def test_a_second_run_changes_nothing(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with triage_scene(database_url, connector, http) as scene:
        await scene.register_desk()
        await scene.refer()
    both = Cipher([Fernet.generate_key().decode(), TEST_KEY])
    first = await rotated(database_url, both)
    stored = await stored_tokens(database_url)

    second = await rotated(database_url, both)

    assert first.total("rotated") > 0
    assert second.total("rotated") == 0 and second.finished
    # One more value: the first run's own audit entry, written under the newest key.
    assert second.total("current") == first.total("rotated") + first.total("current") + 1
    after = await stored_tokens(database_url)
    assert {name: tokens for name, tokens in after.items() if name != "audit_log.actor_name"} == {
        name: tokens for name, tokens in stored.items() if name != "audit_log.actor_name"
    }


async def test_an_interrupted_rotation_goes_on_where_it_stopped(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with triage_scene(database_url, connector, http) as scene:
        await scene.register_desk()
        await scene.refer()
        await scene.refer()
    new = Fernet.generate_key().decode()
    both = Cipher([new, TEST_KEY])
    before = await stored_tokens(database_url)
    total = sum(map(len, before.values()))

    class Killed(Exception):
        pass

    def killed_after_the_first_batch(table: str, rows: int) -> None:
        raise Killed(table)

    with pytest.raises(Killed):
        await rotated(database_url, both, batch=2, progress=killed_after_the_first_batch)

    middle = [t for tokens in (await stored_tokens(database_url)).values() for t in tokens]
    done = sum(readable_with(new, token) for token in middle)
    assert 0 < done < total  # the first batch was committed, and only it
    assert await audited_rotations(database_url, new) == []

    again = await rotated(database_url, both, batch=2)

    assert again.finished
    assert again.total("current") == done
    assert again.total("rotated") == total - done
    after = [t for tokens in (await stored_tokens(database_url)).values() for t in tokens]
    assert all(readable_with(new, token) for token in after)
    assert len(await audited_rotations(database_url, new)) == 1


async def test_a_value_no_key_reads_is_reported_left_and_the_exit_is_not_zero(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with triage_scene(database_url, connector, http) as scene:
        await scene.register_desk()
        await scene.refer()
        practitioner = scene.practitioner.aad_id
    stranger = Fernet(Fernet.generate_key())
    lost_narrative = stranger.encrypt(b"written under a key nobody has")
    lost_name = stranger.encrypt(b"Someone").decode()
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE referrals SET narrative_encrypted = :token"), {"token": lost_narrative}
        )
        await connection.execute(
            text("UPDATE people SET name = :token WHERE person_id = :id"),
            {"token": lost_name, "id": practitioner},
        )
    await engine.dispose()
    new = Fernet.generate_key().decode()
    keys = f"{new},{TEST_KEY}"

    before = await stored_tokens(database_url)
    dry = await command(database_url, keys, "--dry-run")
    assert dry.code == 1, dry.err
    assert "would re-encrypt" in dry.out and "cannot read" in dry.out
    assert await stored_tokens(database_url) == before  # a dry run changes nothing

    ran = await command(database_url, keys, "--batch", "2")

    assert ran.code == 1, ran.err
    assert "cannot read referrals.narrative_encrypted where id=1" in ran.out
    assert f"cannot read people.name where person_id='{practitioner}'" in ran.out
    assert "cannot be read with any key in ENCRYPTION_KEYS" in ran.out
    assert "can now be removed" not in ran.out
    lines = {line.split()[0]: line.split()[1:] for line in ran.out.splitlines() if line}
    assert lines["referrals.narrative_encrypted"] == ["0", "0", "1"]
    assert lines["people.name"][2] == "1"
    # The unreadable values are left as they were; everything else is under the new key.
    after = await stored_tokens(database_url)
    assert after["referrals.narrative_encrypted"] == [lost_narrative]
    assert lost_name.encode() in after["people.name"]
    for tokens in after.values():
        for token in tokens:
            if token not in (lost_narrative, lost_name.encode()):
                Cipher([new]).decrypt_bytes(token)
    (entry,) = await audited_rotations(database_url, new)
    assert "unreadable 2" in entry.detail


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def command(database_url: str, keys: str, *arguments: str) -> Ran:
    """`python -m bot.privacy.rotate`, as an operator runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.privacy.rotate",
        *arguments,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEYS": keys,
            "MODE": "development",
        },
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def test_every_lookup_hash_is_re_hashed() -> None:
    """A keyed hash column (`*_hash`) that rotation does not know would stop matching once the
    old key is removed."""
    hashes = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_hash")
    }
    pairs = [
        (f"{table}.{hashed}", f"{table}.{of}")
        for table, hashed_of in LOOKUP_HASHES.items()
        for hashed, of in hashed_of
    ]
    assert hashes == {hashed for hashed, _ in pairs}
    # Each is the hash of an encrypted column, which rotation decrypts to hash it again.
    assert {of for _, of in pairs} <= {each.name for each in encrypted_columns()}
