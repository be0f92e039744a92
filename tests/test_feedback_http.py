"""Feedback after a session and three months on, over real HTTP: a real session run to its
end in a meeting chat, the feedback job on an injected clock, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.core.database import session_factory
from bot.core.models import FeedbackResponse, SessionParticipant
from tests.support.client import TeamsUser, card_text, cards_in, inputs_of
from tests.support.clock import FakeClock
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.meeting import (
    CARD,
    MEETING_CHAT,
    MESSAGE,
    Meeting,
    button_data,
    meeting_scene,
    shown,
)

FEEDBACK = "How was the session for you?"
MONTHS_ON = "3 months on"
THANKS = "Thank you: your feedback is in"
ALREADY = "You have already given your feedback for this session"


def known_to_teams(meeting: Meeting, *people: TeamsUser) -> None:
    """What the Bot Connector answers when asked for each of them in the meeting chat."""
    for person in people:
        meeting.connector.profiles[person.aad_id] = {
            "id": person.user_id,
            "aadObjectId": person.aad_id,
            "name": person.name,
        }


async def with_a_personal_chat(meeting: Meeting, person: TeamsUser) -> TeamsUser:
    """The same person in a 1:1 chat with the bot: it can reach them there from now on."""
    one_to_one = TeamsUser(
        meeting.bot.url, meeting.connector, meeting.http, name=person.name, aad_id=person.aad_id
    )
    one_to_one.user_id = person.user_id
    await one_to_one.say("hello")
    return one_to_one


async def joins(meeting: Meeting, person: TeamsUser) -> None:
    await person.post(
        person.activity(
            type="event",
            name="application/vnd.microsoft.meetingParticipantJoin",
            value={
                "members": [
                    {
                        "user": {"id": person.user_id, "aadObjectId": person.aad_id},
                        "meeting": {"inMeeting": True, "role": "Attendee"},
                    }
                ]
            },
        )
    )


async def run_a_session(meeting: Meeting, model: str, **inputs: Any) -> None:
    await meeting.facilitator.say("<at>Reflective practice</at> start session")
    await meeting.set_up(model, **inputs)
    roles = meeting.posted_cards("Roles: ")[-1]
    await meeting.press(meeting.facilitator, "session_begin", **button_data(roles, "session_begin"))
    await meeting.bot.settle()


async def meeting_ends(meeting: Meeting) -> None:
    await meeting.organiser.post(
        meeting.organiser.activity(
            type="event",
            name="application/vnd.microsoft.meetingEnd",
            value={"Id": "meeting", "EndTime": meeting.clock.now().isoformat()},
        )
    )
    await meeting.bot.settle()


def feedback_cards(activities: list[dict[str, Any]], heading: str = FEEDBACK) -> list[Any]:
    return [card for card in cards_in(activities) if heading in card_text(card)]


async def answer(person: TeamsUser, card: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    body = await person.invoke(
        "feedback_answer", {**button_data(card, "feedback_answer"), **inputs}
    )
    assert person.last_status == 200, body
    return body


async def refresh(person: TeamsUser, card: dict[str, Any]) -> dict[str, Any]:
    return await person.invoke("feedback_show", dict(card["refresh"]["action"]["data"]))


async def stored(meeting: Meeting) -> tuple[list[FeedbackResponse], list[SessionParticipant]]:
    engine = engine_for(meeting.bot.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            responses = list(await session.scalars(select(FeedbackResponse)))
            people = list(await session.scalars(select(SessionParticipant)))
            return responses, people
    finally:
        await engine.dispose()


async def test_everyone_answers_once_guests_too_and_is_reminded_once(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with meeting_scene(database_url, connector, http) as meeting:
        guest = meeting.person("Gita Guest")  # from another organisation: no 1:1 chat, ever
        connector.without_app.add(guest.aad_id)
        quiet = meeting.person("Uma Unreachable")  # never answers, cannot be reached 1:1
        busy = meeting.person("Rae Reachable")  # never answers, has a 1:1 chat
        known_to_teams(meeting, meeting.facilitator, meeting.presenter, guest, quiet, busy)
        facilitator_1to1 = await with_a_personal_chat(meeting, meeting.facilitator)
        busy_1to1 = await with_a_personal_chat(meeting, busy)
        await run_a_session(meeting, "space_to_think")
        await meeting.press(
            meeting.presenter, "session_take_role", session=1, role="case_presenter"
        )
        for person in (guest, quiet, busy):
            await joins(meeting, person)
        await meeting.advance(minutes=25)
        await meeting_ends(meeting)

        summary = card_text(meeting.posted_cards("Session summary")[-1])
        assert "feedback card follows" in summary
        in_chat = feedback_cards(meeting.chat_posts())
        assert len(in_chat) == 1
        card = in_chat[0]
        text = card_text(card)
        assert "Space to Think session S-2026-0001" in text
        assert "Did the session feel a blame-free" in text  # the model's own questions
        ids = {node.get("id") for node in inputs_of(card)}
        assert {"felt", "felt_words", "blame_free", "agency"} <= ids
        # Each person sees their own state: Teams user ids, as Teams wants them.
        users = set(card["refresh"]["userIds"])
        assert {meeting.facilitator.user_id, meeting.presenter.user_id, guest.user_id} <= users
        assert all(user.startswith("29:") for user in users)
        # And 1:1 to those the bot can reach.
        assert len(feedback_cards(connector.sent_to(facilitator_1to1.conversation_id))) == 1
        assert len(feedback_cards(connector.sent_to(busy_1to1.conversation_id))) == 1

        # Bad input: a message for the presser only, the card keeps what they typed.
        for inputs, said in (
            ({"felt": ""}, "choose 1 to 5"),
            ({"felt": "9"}, "choose 1 to 5"),
            ({"felt": "4", "blame_free": "7"}, "from 1 to 5"),
            ({"felt": "4", "agency": "x" * 121}, "120 characters"),
            ({"felt": "4", "felt_words": "Child born 12/03/2015 at 4 Oak Lane"}, "date of birth"),
        ):
            refused = await answer(meeting.presenter, card, **inputs)
            assert refused["type"] == MESSAGE and said in refused["value"], refused

        shown_before = await refresh(meeting.presenter, card)
        assert "Send my feedback" in shown(shown_before)
        words = "It gave me room to think about the family's week."
        taken = await answer(
            meeting.presenter, card, felt="4", felt_words=words, blame_free="5", agency="Oak School"
        )
        assert taken["type"] == CARD and THANKS in shown(taken)
        again = await answer(meeting.presenter, card, felt="1")
        assert ALREADY in shown(again)
        assert THANKS in shown(await refresh(meeting.presenter, card))
        assert "Send my feedback" in shown(await refresh(meeting.facilitator, card))

        # The guest answers on the card in the meeting chat; so does someone Teams never
        # said had joined, who becomes a participant; the facilitator answers 1:1.
        assert THANKS in shown(await answer(guest, card, felt="5", agency="Police"))
        assert THANKS in shown(await answer(meeting.consultant, card, felt="3"))
        personal = feedback_cards(connector.sent_to(facilitator_1to1.conversation_id))[0]
        assert THANKS in shown(await answer(facilitator_1to1, personal, felt="5"))
        assert ALREADY in shown(await answer(meeting.facilitator, card, felt="2"))

        # Refused: someone 1:1 who did not take part, a press from another tenant, garbage.
        stranger = TeamsUser(meeting.bot.url, connector, http, name="Sid Stranger")
        assert "took part" in shown(await answer(stranger, personal, felt="3"))
        outsider = TeamsUser(
            meeting.bot.url,
            connector,
            http,
            tenant="00000000-0000-0000-0000-0000000000bb",
            conversation_type="groupChat",
            conversation_id=MEETING_CHAT,
        )
        refused = await outsider.invoke_any("feedback_answer", {"session": 1, "round": "after"})
        assert not (isinstance(refused, dict) and refused.get("type") == CARD)
        odd = await meeting.presenter.invoke("feedback_answer", {"session": "x", "round": "?"})
        assert "could not use that button" in shown(odd)

        responses, people = await stored(meeting)
        assert sorted((r.round, r.score) for r in responses) == [
            ("after", 3),
            ("after", 4),
            ("after", 5),
            ("after", 5),
        ]
        presenter_said = next(r for r in responses if r.score == 4)
        assert presenter_said.answers == {"blame_free": 5}
        assert presenter_said.words == words and presenter_said.agency == "Oak School"
        ids_of_people = {p.person_id for p in people} | {p.user_id for p in meeting.people.values()}
        for response in responses:  # no person id in an answer
            row = repr([getattr(response, c.key) for c in FeedbackResponse.__table__.columns])
            assert not any(person_id in row for person_id in ids_of_people)
        assert meeting.consultant.aad_id in {p.person_id for p in people}
        assert {p.person_id: p.agency for p in people}[guest.aad_id] == "Police"

        # One reminder, two working days on: 1:1 where possible, and once in the chat for
        # those who cannot be reached there. Never again.
        chat_before = len(feedback_cards(meeting.chat_posts()))
        await meeting.advance(days=1)
        assert len(feedback_cards(meeting.chat_posts())) == chat_before
        for _ in range(2):
            await meeting.advance(days=2)
        reminders = [
            c for c in feedback_cards(meeting.chat_posts()) if "A reminder" in card_text(c)
        ]
        assert len(reminders) == 1
        assert len(feedback_cards(connector.sent_to(busy_1to1.conversation_id))) == 2
        assert len(feedback_cards(connector.sent_to(facilitator_1to1.conversation_id))) == 1
        await meeting.advance(days=7)
        assert len(feedback_cards(meeting.chat_posts())) == chat_before + 1
        assert len(feedback_cards(connector.sent_to(busy_1to1.conversation_id))) == 2


async def test_three_months_on_is_asked_on_the_next_working_day_and_no_notes_keeps_no_words(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    # Friday 27 November 2026: three months on is Saturday 27 February 2027.
    clock = FakeClock(datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    async with meeting_scene(database_url, connector, http, clock) as meeting:
        known_to_teams(meeting, meeting.facilitator)
        await run_a_session(meeting, "re_think", independent="true")
        await meeting.advance(minutes=10)
        await meeting_ends(meeting)
        card = feedback_cards(meeting.chat_posts())[0]
        ids = {node.get("id") for node in inputs_of(card)}
        assert ids == {"felt", "communication", "compassion", "clarity", "agency"}  # no words
        secret = "Sentinel-44 the family at home"
        taken = await answer(meeting.facilitator, card, felt="4", felt_words=secret)
        assert THANKS in shown(taken)
        refused = await answer(meeting.presenter, card, felt="3", agency="born 01/02/2016")
        assert refused["type"] == MESSAGE and "date of birth" in refused["value"]
        assert THANKS in shown(await answer(meeting.presenter, card, felt="3"))  # joins

        clock.set(datetime(2027, 2, 27, 10, 0, tzinfo=UTC))  # Saturday, 10:00 in London
        await meeting.bot.settle()
        assert feedback_cards(meeting.chat_posts(), MONTHS_ON) == []
        early = await meeting.facilitator.invoke(
            "feedback_answer", {"session": 1, "round": "follow_up"}
        )
        assert "not open yet" in shown(early)
        clock.set(datetime(2027, 3, 1, 9, 59, tzinfo=UTC))  # Monday, a minute early
        await meeting.bot.settle()
        assert feedback_cards(meeting.chat_posts(), MONTHS_ON) == []
        await meeting.advance(minutes=1)
        months_on = feedback_cards(meeting.chat_posts(), MONTHS_ON)
        assert len(months_on) == 1
        text = card_text(months_on[0])
        assert "How has the session changed your practice?" in text
        assert "1 \u00b7 Not at all" in text and "5 \u00b7 A great deal" in text
        assert "Has the disagreement or lack of progress been resolved" in text
        ids = {node.get("id") for node in inputs_of(months_on[0])}
        assert ids == {"changed", "disagreement_resolved", "agency"}  # no "what has changed"
        done = await answer(
            meeting.facilitator, months_on[0], changed="4", disagreement_resolved="yes"
        )
        assert THANKS in shown(done)
        assert ALREADY in shown(await answer(meeting.facilitator, months_on[0], changed="2"))

        responses, _ = await stored(meeting)
        assert sorted((r.round, r.score, r.words) for r in responses) == [
            ("after", 3, None),
            ("after", 4, None),
            ("follow_up", 4, None),
        ]
        assert next(r for r in responses if r.round == "follow_up").answers == {
            "disagreement_resolved": "yes"
        }
        assert "Sentinel-44" not in await meeting.everything_stored()
        await meeting.advance(days=5)  # the presenter's one reminder, in the chat
        assert len(feedback_cards(meeting.chat_posts(), MONTHS_ON)) == 2
        await meeting.advance(days=10)
        assert len(feedback_cards(meeting.chat_posts(), MONTHS_ON)) == 2
