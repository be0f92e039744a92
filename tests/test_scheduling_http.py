"""Scheduling a session by hand (no Graph): the date, time and join link on the triage card,
then the meeting's chat runs that referral's session when the meeting starts."""

from __future__ import annotations

from tests.support.client import TeamsUser, card_text, cards_in
from tests.support.meeting import button_data
from tests.support.triage import (
    DESK,
    FACILITATOR,
    MESSAGE,
    Scene,
    accept,
    press,
    shown,
    verbs_on,
    version_of,
)

THREAD = "19:meeting_NjA2ZTk1YjQtYjQ0MS00@thread.v2"
JOIN = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YjQtYjQ0MS00%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%22aa%22%7d"
)


async def schedule(
    scene: Scene, reference: str, version: int, day: str, at: str, link: str
) -> dict[str, object]:
    """Presses Schedule on the triage card with a date, a time and a join link."""
    return await press(
        scene.admin, "triage_schedule", reference, version, day=day, time=at, link=link
    )


async def accepted(scene: Scene) -> tuple[str, int]:
    reference = await scene.refer()
    await accept(scene.admin, reference, version_of(scene.desk_card(reference)))
    await scene.bot.settle()
    return reference, version_of(scene.desk_card(reference))


async def test_a_session_scheduled_by_hand_runs_in_its_meeting_chat(scene: Scene) -> None:
    reference, version = await accepted(scene)
    assert "triage_schedule_form" in verbs_on(scene.desk_card(reference))
    form = await press(scene.admin, "triage_schedule_form", reference, version)
    assert "Teams meeting join link" in shown(form)

    # Mistakes are shown on the form and change nothing.
    past = await schedule(scene, reference, version, "2026-11-20", "13:00", JOIN)
    assert "That time has passed" in shown(past)
    bad_link = await schedule(
        scene, reference, version, "2026-12-01", "13:00", "https://example.org/meeting"
    )
    assert "join link" in shown(bad_link)

    done = await schedule(scene, reference, version, "2026-12-01", "13:00", JOIN)
    assert "Scheduled." in shown(done)
    await scene.bot.settle()
    desk = card_text(scene.desk_card(reference))
    assert "Session scheduled" in desk and "1 Dec 2026 13:00" in desk
    assert "Reschedule" in desk

    # The referrer and the facilitator hear in their 1:1 chats, with the link.
    told = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))[-1]
    assert f"The session for {reference} is booked" in card_text(told)
    assert "Tuesday 1 December 2026 at 13:00" in card_text(told)
    assert told["actions"][0]["url"] == JOIN
    facilitator_chat = scene.connector.created[-1]["id"]
    to_facilitator = cards_in(scene.connector.sent_to(facilitator_chat))[-1]
    assert "Add me to the meeting" in card_text(to_facilitator)

    # The meeting starts: its chat (named in the link) runs this referral's session.
    facilitator = scene.in_chat(
        FACILITATOR["name"], THREAD, FACILITATOR["aad_object_id"], meeting_id="meeting-1"
    )
    scene.clock.set(scene.clock.now().replace(day=1, month=12, hour=13))
    started = await facilitator.post(
        facilitator.activity(type="event", name="application/vnd.microsoft.meetingStart", value={})
    )
    assert (
        f"This meeting is for {reference} (Space to Think), facilitated by Jo Facilitator"
        in (started[0]["text"])
    )
    await scene.bot.settle()
    roles = [c for c in cards_in(scene.connector.sent_to(THREAD)) if "Roles:" in card_text(c)][-1]
    assert f"Reference {reference}" in card_text(roles)
    begun = await facilitator.invoke("session_begin", button_data(roles, "session_begin"))
    assert facilitator.last_status == 200 and "Begin the first stage" not in card_text(
        begun["value"]
    )
    await scene.bot.settle()
    stage = [c for c in cards_in(scene.connector.sent_to(THREAD)) if "Stage 1 of 6" in card_text(c)]
    end = await facilitator.invoke("session_end", button_data(stage[-1], "session_end"))
    assert "The session has ended" in card_text(end["value"])
    await scene.bot.settle()
    listing = cards_in(await scene.practitioner.say("my referrals"))[0]
    assert "Session held" in card_text(listing)


async def test_rescheduling_tells_people_again(scene: Scene) -> None:
    reference, version = await accepted(scene)
    await schedule(scene, reference, version, "2026-12-01", "13:00", JOIN)
    await scene.bot.settle()
    version = version_of(scene.desk_card(reference))
    again = await schedule(scene, reference, version, "2026-12-03", "14:30", JOIN)
    assert "Scheduled." in shown(again)
    await scene.bot.settle()
    told = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))[-1]
    assert "Thursday 3 December 2026 at 14:30" in card_text(told)
    # Stale: the first version's button changes nothing now.
    stale = await schedule(scene, reference, version, "2026-12-04", "10:00", JOIN)
    assert "has moved on" in shown(stale)
    assert DESK


async def test_a_referrals_session_takes_its_model_from_the_referral(scene: Scene) -> None:
    reference = await scene.refer()
    await accept(scene.admin, reference, version_of(scene.desk_card(reference)), model="re_think")
    await scene.bot.settle()
    facilitator = scene.in_chat(
        FACILITATOR["name"], "19:group-chat@thread.v2", FACILITATOR["aad_object_id"]
    )
    answer = await facilitator.invoke(
        "session_set_up", {"model": "think_space", "reference": reference.lower()}
    )
    assert "Re-think is set up" in card_text(answer["value"])
    # Someone else in some chat learns nothing about a reference they try.
    stranger = scene.in_chat("Sam Stranger", "19:another@thread.v2")
    tried = await stranger.invoke(
        "session_set_up", {"model": "think_space", "reference": reference}
    )
    missing = await stranger.invoke(
        "session_set_up", {"model": "think_space", "reference": "RP-2026-9999"}
    )
    # The same message either way, naming neither the reference typed nor its facilitator.
    assert tried == missing
    assert tried["type"] == MESSAGE and tried["value"].startswith(
        "I cannot start that referral here."
    )
    assert "Jo Facilitator" not in tried["value"] and reference not in tried["value"]


async def test_invitees_who_use_the_bot_are_told_in_teams(scene: Scene) -> None:
    # Pat (invited by email in the referral) has talked to the bot 1:1 before: Teams gives
    # the bot her email then, in the background.
    pat = TeamsUser(scene.bot.url, scene.connector, scene.admin.session, name="Pat Teacher")
    scene.connector.profiles[pat.user_id] = {
        "name": "Pat Teacher",
        "aadObjectId": pat.aad_id,
        "email": "Pat@Oak.example",
        "userPrincipalName": "pat.teacher@oak.example",
    }
    await pat.say("help")
    await pat.say("help")  # known by now: asked about once
    await scene.bot.settle()
    asked = [path for method, path in scene.connector.requests if "/members/" in path]
    assert len(asked) == 1

    reference, version = await accepted(scene)
    await schedule(scene, reference, version, "2026-12-01", "13:00", JOIN)
    await scene.bot.settle()

    # Pat's 1:1 chat (the one she wrote in: the bot kept where to reach her) has the
    # invitation and the link.
    (invitation,) = [
        card
        for card in cards_in(scene.connector.sent_to(pat.conversation_id))
        if "You are invited" in card_text(card)
    ]
    assert f"You are invited to a reflective session ({reference})" in card_text(invitation)
    assert "Tuesday 1 December 2026 at 13:00" in card_text(invitation)
    assert invitation["actions"][0]["url"] == JOIN
    assert "Child A" not in str(invitation)  # nothing of the case
    # One 1:1 chat opened: the facilitator's, who had not written to the bot.
    assert len(scene.connector.created) == 1


async def test_an_invitee_the_bot_has_never_met_is_not_messaged(scene: Scene) -> None:
    reference, version = await accepted(scene)
    await schedule(scene, reference, version, "2026-12-01", "13:00", JOIN)
    await scene.bot.settle()
    assert len(scene.connector.created) == 1  # the facilitator's chat only
    assert await scene.bot.runtime.outbox.pending() == 2  # just the facilitator's reminders
