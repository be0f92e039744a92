"""A partnership's own model, added as one protocol file: referred, accepted, booked, run.

The file goes into a temporary PROTOCOLS_DIR and OFFERED_MODELS names it; nothing else
changes. The real app, a loopback Bot Connector, SQLite and PostgreSQL, as in the other
HTTP tests; booking is by hand (a date, a time and a Teams join link; no Graph).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.core.protocols import ProtocolError
from tests.conftest import RunningBot, make_settings
from tests.support.client import TeamsUser, card_text, cards_in, nodes
from tests.support.connector import FakeConnector
from tests.support.meeting import button_data, live_stage_card
from tests.support.referral_steps import (
    ABOUT,
    INVITEES,
    KIND,
    NARRATIVE,
    NO_RISK,
    SUBMIT,
    TIMING,
)
from tests.support.triage import (
    FACILITATOR,
    Scene,
    accept,
    press,
    shown,
    stored_referral,
    triage_scene,
    version_of,
)

HUDDLE = """
id = "huddle"
name = "Team Huddle"
source = "Our partnership's own model, agreed by the practice group"
summary = "A short huddle for a team worried about a family: a worry, ideas, next steps."
facilitator_role = "facilitator"
presenter_role = "presenter"
group_agreement = ["We listen first.", "What is said here stays here."]
is = ["A quick space to share a worry with the team."]
is_not = ["A case conference.", "A place for blame."]

[[roles]]
key = "facilitator"
name = "Huddle Lead"
description = "Keeps the huddle short and on track."

[[roles]]
key = "presenter"
name = "Worried Practitioner"
description = "Brings the worry."

[[roles]]
key = "team"
name = "Team"
description = "Everyone else in the huddle."
holders = "many"

[[stages]]
key = "worry"
title = "The worry"
speaks = ["presenter"]
listens = ["team"]
guidance = "Say what worries you, in a few sentences."
minutes = { min = 2, default = 5, max = 8 }

[[stages]]
key = "ideas"
title = "Ideas from the team"
speaks = ["team"]
listens = ["presenter"]
guidance = "Each person offers one idea."
minutes = { min = 5, default = 10, max = 15 }

[[stages]]
key = "next_steps"
title = "Next steps"
speaks = ["everyone"]
guidance = "Agree who does what next."
minutes = { min = 3, default = 5, max = 10 }
collect = "actions"

[booking]
minutes = 30
earliest = "08:00"
latest_end = "09:30"
weekdays = [1, 3]

[referral]
note = "twenty minutes with your own team, first thing in the morning."
help = "Team Huddle is a short morning huddle with your own team."
"""
MODEL_HUDDLE = {"verb": "model", "model": "huddle", "rethink_strategy": ""}
THREAD = "19:meeting_SHVkZGxlMQ@thread.v2"
JOIN = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_SHVkZGxlMQ%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%22aa%22%7d"
)


@pytest.fixture
async def scene(
    database_url: str,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Scene]:
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    (protocols / "huddle.toml").write_text(HUDDLE, encoding="utf-8")
    # As an operator would: two environment variables, no code.
    monkeypatch.setenv("PROTOCOLS_DIR", str(protocols))
    monkeypatch.setenv("OFFERED_MODELS", "huddle,re_think")
    async with triage_scene(database_url, connector, http) as scene:
        await scene.register_desk()
        yield scene


def choices(card: dict, input_id: str) -> list[tuple[str, str]]:
    (found,) = [node for node in nodes(card) if node.get("id") == input_id]
    return [(choice["title"], choice["value"]) for choice in found["choices"]]


async def refer_to_the_huddle(scene: Scene) -> str:
    """The practitioner's referral in their 1:1 chat, choosing the new model."""
    user: TeamsUser = scene.practitioner
    welcome = cards_in(await user.install())[0]
    assert "Team Huddle, Re-think" in card_text(welcome)
    await user.say("refer")
    await user.press(NO_RISK)
    (form,) = cards_in(await user.press(KIND))
    text = card_text(form)
    # The form offers what OFFERED_MODELS names, labelled and described by the files.
    assert choices(form, "model") == [("Team Huddle", "huddle"), ("Re-think", "re_think")]
    assert "**Team Huddle**: twenty minutes with your own team, first thing in the morning." in text
    assert "**Re-think**: a restorative, professionals-only conversation" in text
    assert "Only for Re-think: which strategy are you at?" in text
    assert "Think Space" not in text and "Space to Think" not in text
    helped = cards_in(await user.say("help"))  # the help, then the same step again
    assert "Team Huddle is a short morning huddle with your own team." in card_text(helped[0])

    # The huddle asks no strategy (only Re-think's file asks for one).
    for answer in (MODEL_HUDDLE, NARRATIVE, ABOUT, INVITEES):
        await user.press(answer)
    (review,) = cards_in(await user.press(TIMING))
    assert "Team Huddle" in card_text(review)
    (confirmation,) = cards_in(await user.press(SUBMIT))
    assert "Team Huddle" in card_text(confirmation)
    found = re.search(r"RP-\d{4}-\d{4}", card_text(confirmation))
    assert found is not None
    await scene.bot.settle()
    return found.group(0)


async def test_a_fourth_model_is_referred_accepted_booked_and_run(scene: Scene) -> None:
    reference = await refer_to_the_huddle(scene)
    assert (await stored_referral(scene, reference)).model == "huddle"
    listing = cards_in(await scene.practitioner.say("my referrals"))[0]
    assert "Team Huddle" in card_text(listing)

    # Triage: the desk card names it, and the accept form offers the partnership's models.
    assert "Team Huddle" in card_text(scene.desk_card(reference))
    version = version_of(scene.desk_card(reference))
    form = await press(scene.admin, "triage_accept_form", reference, version)
    assert ("Team Huddle", "huddle") in choices(form["value"], "model")
    accepted = await accept(scene.admin, reference, version, model="huddle")
    assert "Accepted." in shown(accepted)
    await scene.bot.settle()

    # Booked by hand: a date, a time and the Teams meeting's join link.
    version = version_of(scene.desk_card(reference))
    done = await press(
        scene.admin,
        "triage_schedule",
        reference,
        version,
        day="2026-12-01",
        time="08:30",
        link=JOIN,
    )
    assert "Scheduled." in shown(done)
    await scene.bot.settle()
    row = await stored_referral(scene, reference)
    assert (row.model, row.session_minutes) == ("huddle", 30)  # the file's [booking] minutes
    told = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))[-1]
    assert f"The session for {reference} is booked" in card_text(told)

    # The meeting starts: its chat runs the huddle's own stages.
    facilitator = scene.in_chat(
        FACILITATOR["name"], THREAD, FACILITATOR["aad_object_id"], meeting_id="meeting-huddle"
    )
    scene.clock.set(scene.clock.now().replace(day=1, month=12, hour=8, minute=30))
    started = await facilitator.post(
        facilitator.activity(type="event", name="application/vnd.microsoft.meetingStart", value={})
    )
    assert f"This meeting is for {reference} (Team Huddle)" in started[0]["text"]
    await scene.bot.settle()
    in_chat = cards_in(scene.connector.sent_to(THREAD))
    roles = [card for card in in_chat if "Roles:" in card_text(card)][-1]
    assert "Huddle Lead" in card_text(roles) and "Worried Practitioner" in card_text(roles)
    await facilitator.invoke("session_begin", button_data(roles, "session_begin"))
    assert facilitator.last_status == 200
    await scene.bot.settle()

    def stage_card() -> dict:
        return live_stage_card(scene.connector, THREAD)

    assert "Stage 1 of 3" in card_text(stage_card()) and "The worry" in card_text(stage_card())
    for number, title in ((2, "Ideas from the team"), (3, "Next steps")):
        moved = await facilitator.invoke("session_next", button_data(stage_card(), "session_next"))
        assert facilitator.last_status == 200 and title in card_text(moved["value"])
        await scene.bot.settle()
        assert f"Stage {number} of 3" in card_text(stage_card())
    ended = await facilitator.invoke("session_end", button_data(stage_card(), "session_end"))
    assert "The session has ended" in card_text(ended["value"])
    await scene.bot.settle()
    listing = cards_in(await scene.practitioner.say("my referrals"))[0]
    assert "Session held" in card_text(listing)


async def test_offering_a_model_without_its_file_stops_the_app_at_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, protocols_dir=tmp_path, offered_models=["huddle"])
    refused = RunningBot(settings)
    with pytest.raises(ProtocolError, match="OFFERED_MODELS names 'huddle' with no protocol file"):
        await refused.start()
    await refused.stop()
    (tmp_path / "huddle.toml").write_text(HUDDLE, encoding="utf-8")
    bot = RunningBot(settings)
    await bot.start()
    await bot.stop()
