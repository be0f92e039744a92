"""Sessions in a meeting chat, over real HTTP: the real app, a loopback Bot Connector,
an injected clock (no sleeping), SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.support.client import TeamsUser, card_text, cards_in, nodes
from tests.support.connector import Failure, FakeConnector
from tests.support.meeting import (
    MEETING_CHAT,
    MESSAGE,
    Meeting,
    button_data,
    meeting_scene,
    shown,
    verbs_on,
)


def facts_of(card: dict[str, object]) -> dict[str, str]:
    return {
        str(fact["title"]): str(fact["value"])
        for node in nodes(card)
        if node.get("type") == "FactSet"
        for fact in node["facts"]
    }


async def begin(meeting: Meeting, model: str, **inputs: object) -> None:
    await meeting.facilitator.say("<at>Reflective practice</at> start session")
    await meeting.set_up(model, **inputs)
    roles = meeting.posted_cards("Roles: ")[-1]
    begun = await meeting.press(
        meeting.facilitator, "session_begin", **button_data(roles, "session_begin")
    )
    assert "Begin the first stage" not in shown(begun)
    await meeting.bot.settle()


async def test_space_to_think_runs_stage_by_stage(meeting: Meeting) -> None:
    sent = await meeting.facilitator.say("<at>Reflective practice</at> start session")
    assert "Set up a reflective session" in card_text(cards_in(sent)[0])

    answer = await meeting.set_up("space_to_think")
    assert "Space to Think is set up" in shown(answer)
    agreement = meeting.posted_cards("before we start")
    assert len(agreement) == 1
    assert "Everyone" in card_text(agreement[0]) or "Group agreement" in card_text(agreement[0])
    roles = meeting.posted_cards("Roles: Space to Think")
    assert len(roles) == 1 and "Jo Facilitator" in card_text(roles[0])

    taken = await meeting.press(
        meeting.presenter, "session_take_role", session=1, role="case_presenter"
    )
    assert "You are the Case Presenter" in shown(taken)
    await meeting.bot.settle()
    roles_now = cards_in(meeting.connector.updates_to(meeting.facilitator.conversation_id))[-1]
    assert "Pat Presenter" in card_text(roles_now)

    await meeting.press(
        meeting.facilitator, "session_begin", **button_data(roles_now, "session_begin")
    )
    await meeting.bot.settle()
    card = meeting.stage_card()
    text = card_text(card)
    assert "Stage 1 of 6" in text and "Case Presenter offloads" in text
    assert "5 min left" in text and "Ends at 13:05" in text
    assert meeting.stage_posts() == 1

    # A warning a minute before the end, on the card only; then "time is up", a message.
    await meeting.advance(minutes=3, seconds=59)
    assert "Nearly time" not in card_text(meeting.stage_card())
    await meeting.advance(seconds=1)
    assert "Nearly time" in card_text(meeting.stage_card())
    assert meeting.texts() == []
    await meeting.advance(minutes=1)
    assert "Time is up for **Case Presenter offloads**" in meeting.texts()[-1]
    assert "over by" in card_text(meeting.stage_card()) or "Time is up" in card_text(
        meeting.stage_card()
    )
    await meeting.advance(minutes=3)
    assert sum("Time is up" in t for t in meeting.texts()) == 1  # said once, not every tick

    # The facilitator moves through the stages; the card is updated in place, and posted
    # again below a second prompt (time is up for the 2-minute Sharing of strengths, with
    # stage 1's still beneath the card) and below the last stage's actions form.
    for expected in (
        "Checking of facts",
        "Group exploration",
        "Sharing of strengths",
        "Purposeful reflection",
        "Summary and next steps",
    ):
        moved = await meeting.control(meeting.facilitator, "session_next")
        assert expected in shown(moved)
        await meeting.advance(minutes=2)
    assert meeting.stage_posts() == 3
    assert "Stage 6 of 6" in card_text(meeting.stage_card())

    # The last stage collects actions.
    collect = meeting.posted_cards("Actions · ")[-1]
    data = button_data(collect, "session_contribute")
    added = await meeting.press(
        meeting.presenter,
        "session_contribute",
        **data,
        what="Share the plan with school",
        who="Health visitor",
        by_when="2026-12-01",
        where="Health record",
    )
    assert "the action is added" in shown(added)

    ended = await meeting.control(meeting.facilitator, "session_end")
    assert "The session has ended" in shown(ended)
    await meeting.bot.settle()
    summary = meeting.posted_cards("Session summary")
    assert len(summary) == 1
    summary_text = card_text(summary[0])
    # How many actions, not what they are: the meeting chat keeps every card.
    assert "1 action was added on the cards" in summary_text
    assert "Share the plan with school" not in summary_text
    assert (
        "A multi-agency reflective session (Space to Think) took place on 24 November 2026"
        in summary_text
    )
    assert verbs_on(meeting.stage_card()) == []
    print(meeting.texts())


async def test_think_space_cycles_and_contributions_shown_together(meeting: Meeting) -> None:
    await begin(meeting, "think_space", cycles=2)
    assert "Welcome and ground rules" in card_text(meeting.stage_card())
    await meeting.control(meeting.facilitator, "session_next")  # pen picture
    await meeting.control(meeting.facilitator, "session_next")  # hopes
    await meeting.bot.settle()

    hopes_card = meeting.posted_cards("Hopes for this session · ")[-1]
    data = button_data(hopes_card, "session_contribute")
    await meeting.press(meeting.presenter, "session_contribute", **data, hope="A shared picture")
    await meeting.press(meeting.consultant, "session_contribute", **data, hope="First try")
    again = await meeting.press(
        meeting.consultant, "session_contribute", **data, hope="Clarity on roles"
    )
    assert "replaces" in shown(again)
    told = await meeting.press(meeting.facilitator, "session_show_together", **data)
    assert "Shown in the chat" in shown(told)
    await meeting.bot.settle()
    # Shown together as counts: what was written is shared aloud, never posted.
    together_card = meeting.posted_cards("Hopes for this session: together")[-1]
    together = card_text(together_card)
    assert facts_of(together_card) == {"Hopes": "2"}  # a second answer replaces the first
    assert "From 2 people." in together
    for text in ("A shared picture", "Clarity on roles", "Pat Presenter", "Chris Consultant"):
        assert text not in together

    await meeting.control(meeting.facilitator, "session_next")  # blockers and enablers
    await meeting.bot.settle()
    form = meeting.posted_cards("Three blockers and three enablers · ")[-1]
    data = button_data(form, "session_contribute")
    await meeting.press(
        meeting.presenter,
        "session_contribute",
        **data,
        blocker_1="No shared plan",
        blocker_2="Missed meetings",
        enabler_1="School knows the family",
    )
    await meeting.press(
        meeting.consultant, "session_contribute", **data, blocker_1="Late referrals"
    )
    await meeting.press(meeting.facilitator, "session_show_together", **data)
    await meeting.bot.settle()
    together_card = meeting.posted_cards("Three blockers and three enablers: together")[-1]
    assert facts_of(together_card) == {"Blockers": "3", "Enablers": "1"}
    shown_together = card_text(together_card)
    assert "Late referrals" not in shown_together and "Pat Presenter" not in shown_together

    # Reflecting team: five minutes each way, moving on by itself, two cycles.
    await meeting.control(meeting.facilitator, "session_next")
    assert "Stage 5 of 9 · cycle 1 of 2" in card_text(meeting.stage_card())
    assert "Practitioners talk" in card_text(meeting.stage_card())
    expected = [
        ("Stage 6 of 9 · cycle 1 of 2", "Membership reflects"),
        ("Stage 7 of 9 · cycle 2 of 2", "Practitioners talk"),
        ("Stage 8 of 9 · cycle 2 of 2", "Membership reflects"),
    ]
    for position, phase in expected:
        await meeting.advance(minutes=5)
        text = card_text(meeting.stage_card())
        assert position in text and phase in text, text
        assert f"Now: **Reflecting team: {phase}**" in meeting.texts()[-1]
    await meeting.advance(minutes=5)
    assert "Summing up together" in card_text(meeting.stage_card())
    moved = [t for t in meeting.texts() if "Now: **" in t]
    assert len(moved) == 4


async def test_rethink_with_independent_facilitator_stores_nothing_said(meeting: Meeting) -> None:
    secret = "Sentinel-7f3a school and health disagree about Child Q"
    await begin(meeting, "re_think", independent="true")
    agreement = card_text(meeting.posted_cards("before we start")[-1])
    assert "No notes are kept in this session" in agreement
    assert "No notes" in card_text(meeting.stage_card())

    for _ in range(5):  # introduction ... reflections
        await meeting.control(meeting.facilitator, "session_next")
    await meeting.bot.settle()
    assert "Stage 6 of 9" in card_text(meeting.stage_card())
    assert meeting.posted_cards("Actions · ") == []  # no form to type into

    # A contribute button from any card, and a message typed to the bot: neither is kept.
    refused = await meeting.press(
        meeting.presenter,
        "session_contribute",
        session=1,
        step=5,
        kind="actions",
        what=secret,
        who="Lead Professional",
        where=secret,
    )
    assert "keeps no notes" in shown(refused)
    await meeting.facilitator.say(f"<at>Reflective practice</at> {secret}")
    await meeting.control(meeting.facilitator, "session_end")
    await meeting.bot.settle()
    summary = card_text(meeting.posted_cards("Session summary")[-1])
    assert "No notes were kept" in summary and secret not in summary

    stored = await meeting.everything_stored()
    assert secret not in stored
    assert "Sentinel-7f3a" not in stored
    assert await meeting.count("session_contributions") == 0


async def test_only_the_facilitator_organiser_or_presenter_may_move_it_on(
    meeting: Meeting,
) -> None:
    await begin(meeting, "space_to_think")
    card = meeting.stage_card()
    version = button_data(card, "session_next")["version"]

    refused = await meeting.press(
        meeting.consultant, "session_next", **button_data(card, "session_next")
    )
    assert shown(refused).startswith("Sorry, only Jo Facilitator (facilitating)")
    stranger = meeting.person("Sam Stranger", role=None)  # not in the meeting at all
    refused = await meeting.press(stranger, "session_pause", **button_data(card, "session_pause"))
    assert shown(refused).startswith("Sorry, only")
    row = await meeting.session_row()
    assert (row.step, row.version, row.status) == (0, version, "running")

    # The meeting's organiser, and a presenter, may drive it (their role read from Teams).
    moved = await meeting.press(
        meeting.organiser, "session_next", **button_data(card, "session_next")
    )
    assert "Checking of facts" in shown(moved)
    presenter = meeting.person("Prue Presenter", role="Presenter")
    refused = await meeting.control(presenter, "session_pause")  # by default, organiser only
    assert shown(refused).startswith("Sorry, only")
    lookups = [path for _, path in meeting.connector.requests if path.startswith("/v1/meetings/")]
    assert lookups and all("tenantId=" in path for path in lookups)


async def test_meeting_roles_that_may_drive_a_session_are_configurable(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with meeting_scene(database_url, connector, http, session_control_roles="") as meeting:
        await begin(meeting, "space_to_think")
        card = meeting.stage_card()
        refused = await meeting.press(
            meeting.organiser, "session_next", **button_data(card, "session_next")
        )
        assert shown(refused).startswith("Sorry, only")
        assert (await meeting.session_row()).step == 0
    meeting.connector.meeting_roles.clear()
    async with meeting_scene(
        database_url, connector, http, session_control_roles="organizer,presenter"
    ) as meeting:
        await begin(meeting, "space_to_think")
        presenter = meeting.person("Prue Presenter", role="Presenter")
        paused = await meeting.control(presenter, "session_pause")
        assert "Paused" in shown(paused)


async def test_a_button_from_another_chat_cannot_touch_this_session(meeting: Meeting) -> None:
    await begin(meeting, "think_space")
    await meeting.control(meeting.facilitator, "session_next")
    await meeting.control(meeting.facilitator, "session_next")  # hopes, collected
    form = meeting.posted_cards("Hopes for this session · ")[-1]
    await meeting.press(
        meeting.presenter,
        "session_contribute",
        **button_data(form, "session_contribute"),
        hope="Private hope",
    )
    # Someone organises their own meeting, adds the bot, and replays this session's buttons.
    elsewhere = TeamsUser(
        meeting.bot.url,
        meeting.connector,
        meeting.http,
        name="Mal Other",
        conversation_type="groupChat",
        conversation_id="19:meeting_other@thread.v2",
        meeting_id="other-meeting",
    )
    meeting.connector.meeting_roles[("other-meeting", elsewhere.aad_id)] = "Organizer"
    shown_there = await meeting.press(
        elsewhere, "session_show_together", **button_data(form, "session_show_together")
    )
    assert "could not use that button" in shown(shown_there)
    ended = await meeting.press(
        elsewhere, "session_end", **button_data(meeting.stage_card(), "session_end")
    )
    assert "could not use that button" in shown(ended)
    assert meeting.connector.sent_to("19:meeting_other@thread.v2") == []
    assert (await meeting.session_row()).status == "running"


async def test_odd_button_data_gets_a_polite_answer(meeting: Meeting) -> None:
    await begin(meeting, "think_space")
    odd = [
        ("session_set_up", {"model": "think_space", "cycles": "1e999"}),
        ("session_next", {"session": 3_000_000_000, "version": 1}),
        ("session_next", {"session": "seven", "version": 1}),
        ("session_contribute", {"session": 1, "step": 99, "kind": "hopes", "hope": "x"}),
        ("session_contribute", {"session": 1, "step": 0, "kind": "none", "hope": "x"}),
        ("session_take_role", {"session": 1}),
        ("session_pause", {"session": 1}),
    ]
    for verb, data in odd:
        answer = await meeting.facilitator.invoke(verb, data)
        assert meeting.facilitator.last_status == 200, (verb, data)
        assert answer["type"] in (MESSAGE, "application/vnd.microsoft.card.adaptive"), answer
    assert await meeting.count("session_contributions") == 0


async def test_a_set_up_cancelled_before_begin_leaves_no_trace_of_a_session(
    meeting: Meeting,
) -> None:
    await meeting.facilitator.say("<at>Reflective practice</at> start session")
    await meeting.set_up("space_to_think")
    roles = meeting.posted_cards("Roles: ")[-1]
    cancelled = await meeting.press(
        meeting.facilitator, "session_end", **button_data(roles, "session_end")
    )
    assert "Set-up cancelled" in shown(cancelled)
    await meeting.bot.settle()
    assert meeting.posted_cards("Session summary") == []
    again = await meeting.facilitator.say("<at>Reflective practice</at> start session")
    assert "Set up a reflective session" in card_text(cards_in(again)[0])


async def test_double_and_stale_presses_move_the_session_once(meeting: Meeting) -> None:
    await begin(meeting, "space_to_think")
    first_card = meeting.stage_card()
    data = button_data(first_card, "session_next")

    answers = await asyncio.gather(
        meeting.press(meeting.facilitator, "session_next", **data),
        meeting.press(meeting.facilitator, "session_next", **data),
    )
    texts = sorted(shown(a) for a in answers)
    assert sum("Nothing changed" in t for t in texts) == 1
    row = await meeting.session_row()
    assert row.step == 1 and row.version == data["version"] + 1

    # Pressed on the old card after the session has moved on: nothing changes.
    await meeting.control(meeting.facilitator, "session_next")
    stale = await meeting.press(meeting.facilitator, "session_back", **data)
    assert "Nothing changed" in shown(stale)
    assert "Group exploration" in shown(stale)  # the card as it is now
    assert (await meeting.session_row()).step == 2

    # "+2 min" twice from the same card adds two minutes, not four.
    card = meeting.stage_card()
    extend = button_data(card, "session_add_time")
    before = (await meeting.session_row()).allotted_seconds
    await meeting.press(meeting.facilitator, "session_add_time", **extend)
    await meeting.press(meeting.facilitator, "session_add_time", **extend)
    assert (await meeting.session_row()).allotted_seconds == before + 120


async def test_pause_resume_and_time_added_move_the_prompts(meeting: Meeting) -> None:
    await begin(meeting, "space_to_think")  # stage 1: 5 minutes, warning 1 minute before
    await meeting.advance(minutes=2)
    paused = await meeting.control(meeting.facilitator, "session_pause")
    assert "Paused \u00b7 3 min left" in shown(paused)
    await meeting.advance(minutes=30)
    assert meeting.texts() == []  # nothing fires while paused
    await meeting.control(meeting.facilitator, "session_resume")
    assert "3 min left" in card_text(meeting.stage_card())
    await meeting.control(meeting.facilitator, "session_add_time")  # +2 minutes: 5 left
    await meeting.advance(minutes=3, seconds=59)
    assert "Nearly time" not in card_text(meeting.stage_card())
    await meeting.advance(seconds=1)
    assert "Nearly time" in card_text(meeting.stage_card())  # the warning: on the card only
    assert meeting.texts() == []
    await meeting.advance(minutes=1)
    assert "Time is up" in meeting.texts()[-1]
    assert "+" not in " ".join(verbs_on(meeting.stage_card()))
    extended = await meeting.control(meeting.facilitator, "session_add_time")
    assert "Time is up" not in card_text(extended["value"]) or "guidance allows" in shown(extended)


async def test_a_restart_mid_stage_carries_on_without_replaying(meeting: Meeting) -> None:
    await begin(meeting, "space_to_think")
    await meeting.advance(minutes=1)
    await meeting.bot.stop()
    meeting.clock.advance(minutes=12)  # stage 1 ended at 13:05 while the bot was down
    await meeting.bot.start()
    for user in meeting.people.values():
        user.bot_url = meeting.bot.url
    await meeting.bot.settle()

    said = meeting.texts()
    assert not any(t.startswith("\u23f3") for t in said)  # no late warning
    assert len([t for t in said if "Time is up" in t]) == 1
    assert "It was due at 13:05, while I was unavailable." in said[-1]
    assert "Over by 8 minutes" in card_text(meeting.stage_card())
    await meeting.advance(minutes=5)
    assert len([t for t in meeting.texts() if "Time is up" in t]) == 1
    moved = await meeting.control(meeting.facilitator, "session_next")
    assert "Checking of facts" in shown(moved)
    assert meeting.stage_posts() == 1  # still the one card, updated in place


async def test_meeting_events_open_a_session_and_note_who_joined(meeting: Meeting) -> None:
    started = await meeting.organiser.post(
        meeting.organiser.activity(
            type="event",
            name="application/vnd.microsoft.meetingStart",
            value={
                "Id": "meeting",
                "JoinUrl": "https://teams.example/join",
                "Title": "RP",
                "MeetingType": "Scheduled",
                "StartTime": "2026-11-24T13:00:00Z",
            },
        )
    )
    assert "Set up a reflective session" in card_text(cards_in(started)[0])
    await meeting.set_up("space_to_think")
    again = await meeting.organiser.post(
        meeting.organiser.activity(
            type="event", name="application/vnd.microsoft.meetingStart", value={}
        )
    )
    assert again == []  # a session is already set up: no second set-up card
    joined = meeting.person("Jordan Joiner")
    await joined.post(
        joined.activity(
            type="event",
            name="application/vnd.microsoft.meetingParticipantJoin",
            value={
                "members": [
                    {
                        "user": {
                            "id": joined.user_id,
                            "aadObjectId": joined.aad_id,
                            "name": joined.name,
                        },
                        "meeting": {"inMeeting": True, "role": "Attendee"},
                    }
                ]
            },
        )
    )
    assert await meeting.count("session_participants") == 2  # the facilitator and Jordan


async def test_bad_contributions_are_refused_politely_and_the_text_kept(meeting: Meeting) -> None:
    await begin(meeting, "think_space")
    for _ in range(2):
        await meeting.control(meeting.facilitator, "session_next")
    form = meeting.posted_cards("Hopes for this session · ")[-1]
    data = button_data(form, "session_contribute")
    # Each refusal is Teams' message response: the card pressed keeps what was typed in it,
    # and what was typed is never sent back (the meeting chat keeps every card).
    empty = await meeting.press(meeting.presenter, "session_contribute", **data, hope="  ")
    assert empty["type"] == MESSAGE and "Please write your hopes" in empty["value"]
    typed = "Talk to jane.doe@example.org about it"
    flagged = await meeting.press(meeting.presenter, "session_contribute", **data, hope=typed)
    assert flagged["type"] == MESSAGE
    assert flagged["value"].startswith(
        "In \u201cMy hopes for this session\u201d this looks like it includes an email address"
    )
    assert "jane.doe" not in flagged["value"]
    assert await meeting.count("session_contributions") == 0
    fine = await meeting.press(meeting.presenter, "session_contribute", **data, hope="Clarity")
    assert "your hopes are in" in shown(fine)
    assert await meeting.count("session_contributions") == 1


async def test_a_busy_connector_delays_the_card_but_loses_and_doubles_nothing(
    meeting: Meeting,
) -> None:
    await begin(meeting, "space_to_think")
    busy = Failure(429, {"Retry-After": "1"})
    meeting.connector.failures_for[MEETING_CHAT].extend([busy] * 5)
    await meeting.advance(minutes=4)  # the warning is due; Teams says "too many" five times
    assert "Nearly time" not in card_text(meeting.stage_card())
    await meeting.advance(seconds=2)  # after Retry-After, the outbox tries again
    assert "Nearly time" in card_text(meeting.stage_card())
    assert meeting.stage_posts() == 1
    await meeting.advance(minutes=1)
    assert sum("Time is up" in t for t in meeting.texts()) == 1
    assert "Time is up" in card_text(meeting.stage_card())
    assert await meeting.bot.runtime.outbox.pending() == 0


async def test_added_to_a_meeting_it_says_what_it_does_and_roles_pass_on(meeting: Meeting) -> None:
    installed = await meeting.organiser.post(
        meeting.organiser.activity(
            type="conversationUpdate", membersAdded=[{"id": "28:bot"}], text=None
        )
    )
    opening = card_text(cards_in(installed)[0])
    assert "When the group is ready, press **Start session**" in opening
    puzzled = await meeting.consultant.say("<at>Reflective practice</at> what now?")
    assert "type **start session**" in puzzled[0]["text"]  # not the referral menu

    await meeting.set_up("space_to_think")
    await meeting.press(meeting.consultant, "session_take_role", session=1, role="case_presenter")
    taken = await meeting.press(
        meeting.presenter, "session_take_role", session=1, role="case_presenter"
    )
    assert "You are the Case Presenter" in shown(taken)
    assert "**Case Presenter**: Pat Presenter" in card_text(taken["value"])
    again = await meeting.press(
        meeting.presenter, "session_take_role", session=1, role="case_presenter"
    )
    assert "You already have this role" in shown(again)
    # The chair is not taken from the facilitator by just anyone.
    chair = await meeting.press(
        meeting.consultant, "session_take_role", session=1, role="facilitator"
    )
    assert "Jo Facilitator is facilitating" in shown(chair)
    handed = await meeting.press(
        meeting.organiser, "session_take_role", session=1, role="facilitator"
    )
    assert "You are the Facilitator" in shown(handed)
    assert (await meeting.session_row()).facilitator_name == "Olu Organiser"
