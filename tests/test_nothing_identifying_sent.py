"""Nothing identifying is written by the bot into a chat, and nothing personal into its logs.

The real app over loopback HTTP runs a referral, its triage and two sessions while the root
logger takes every record at DEBUG. Every free-text box first gets text the identifying
check refuses (a full name with a date of birth, an email address, a postcode), then a
harmless marker of its own. Afterwards every activity sent to the loopback Bot Connector,
every HTTP response the bot gave and every log line is searched for each of them:

- a refused text is found nowhere: the refusal names the box and the kind of detail only;
- an accepted marker is found only in the Details view an admin pressed on the desk (an
  invoke response, seen only by them), and for the admin's own question and decline reason
  also in the one card that carries it to the referrer;
- no log line holds a marker, nor the names and emails of the people involved.

Feedback (issue 16) is not built yet, so it has no boxes here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bot.referrals.model import FormQuestion
from cards.verbs import Verb
from tests.support.client import TeamsUser, card_text, cards_in, texts_in
from tests.support.connector import FakeConnector
from tests.support.meeting import button_data, live_stage_card
from tests.support.referral_steps import KIND, MODEL_STT, NO_RISK, SUBMIT
from tests.support.triage import (
    CARD,
    FACILITATOR,
    MESSAGE,
    Scene,
    accept,
    press,
    triage_scene,
    version_of,
)
from tests.test_form_questions import TEAM  # the same optional question on "About you"

NAME_WITH_BIRTH_DATE = "Zebedee Quinlan 03/04/2015"
EMAIL = "zq.marker@example.org"
POSTCODE = "ZE9 9QX"
REFUSED = {
    NAME_WITH_BIRTH_DATE: "a full name with a date of birth",
    EMAIL: "an email address",
    POSTCODE: "a postcode",
}
# The further questions the form asks in this test: one required on the narrative's step, one
# optional on "About you".
CONTEXT = FormQuestion(
    key="context",
    step=Verb.NARRATIVE,
    asked="Anything else the panel should know?",
    label_for_admins="Context",
    max_chars=300,
    required=True,
)
# People whose names and emails must stay out of the logs (they may be on cards).
REFERRER = "Quilla Referrer-Marker"
MANAGER = ("Mira Manager-Marker", "mira.manager-marker@nhs.example")
INVITEE = ("Ivo Invitee-Marker", "ivo.invitee-marker@oak.example")
THREAD = "19:meeting_NjA2ZTk1YjQtYjQ0MS00@thread.v2"
JOIN = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YjQtYjQ0MS00%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%22aa%22%7d"
)
SECOND_CHAT = "19:actions-chat@thread.v2"


def marker(box: str) -> str:
    return f"marker-{box}-7f3a"


class EveryRecord(logging.Handler):
    """Keeps every log record as a line: its formatted message (with any traceback), and its
    raw message and arguments, in case a formatter elsewhere would print them differently."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            raw = f"{record.msg!r} {record.args!r}"
        except Exception as error:  # noqa: BLE001 - a repr that fails is itself worth seeing
            raw = f"(arguments not readable: {error!r})"
        self.lines.append(f"{self.format(record)} | {raw}")


@contextmanager
def every_log_record() -> Iterator[EveryRecord]:
    root = logging.getLogger()
    handler = EveryRecord()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class Watch:
    """What the bot gave out: to the connector, as HTTP answers, and to the log."""

    scene: Scene
    logs: EveryRecord
    users: list[TeamsUser] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # the Details responses, as sent

    def user(self, user: TeamsUser) -> TeamsUser:
        self.users.append(user)
        return user

    def places(self) -> list[tuple[str, str]]:
        """(where, text) for everything the bot gave out."""
        connector = self.scene.connector
        found = [
            (f"sent to {a.get('conversation', {}).get('id')}", json.dumps(a))
            for a in connector.activities + connector.updates
        ]
        for user in self.users:
            for answer in user.answers:
                where = "details" if answer in self.details else f"answer to {user.name}"
                found.append((where, answer))
        found += [("log", line) for line in self.logs.lines]
        # JSON escapes non-ASCII; searched both ways.
        return [(where, text + "\n" + _unescaped(text)) for where, text in found]

    def where(self, text: str) -> set[str]:
        needle = text.lower()
        return {place for place, body in self.places() if needle in body.lower()}

    async def press_details(self, reference: str) -> dict[str, Any]:
        admin = self.scene.admin
        body = await press(admin, "triage_details", reference, self.version(reference))
        self.details.append(admin.answers[-1])
        return body

    def log_lines_with(self, text: str) -> list[str]:
        """The log lines that hold `text`, shortened: to say why the test failed."""
        return [line[:300] for line in self.logs.lines if text.lower() in line.lower()][:5]

    def version(self, reference: str) -> int:
        return version_of(self.scene.desk_card(reference))


def _unescaped(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except (ValueError, TypeError):
        return text


def refused_texts() -> list[str]:
    """The texts the check refuses, planted one box at a time: all three kinds in one."""
    return [f"about {NAME_WITH_BIRTH_DATE}, {EMAIL}, {POSTCODE}"]


def says_refused(reply: str, box: str) -> None:
    """A refusal names the box and every kind of detail found, and quotes none of it."""
    assert f"In \u201c{box}" in reply, reply
    for kind in REFUSED.values():
        assert kind in reply, reply
    for text in REFUSED:
        assert text.lower() not in reply.lower()


async def refused_by_message(user: TeamsUser, answer: dict[str, Any], box: str) -> None:
    """An Action.Submit refused: one short message, and no card sent again."""
    sent = await user.press(answer)
    assert cards_in(sent) == [], card_text(cards_in(sent)[0])
    (reply,) = texts_in(sent)
    says_refused(reply, box)


async def refused_by_invoke(user: TeamsUser, verb: str, data: dict[str, Any], box: str) -> None:
    """An Action.Execute refused: Teams' message response, so the card keeps its inputs."""
    body = await user.invoke(verb, data)
    assert user.last_status == 200, body
    assert body["type"] == MESSAGE, body
    says_refused(str(body["value"]), box)


@pytest.fixture
async def watched(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> AsyncIterator[Watch]:
    with every_log_record() as logs:
        async with triage_scene(
            database_url, connector, http, form_questions=(CONTEXT, TEAM)
        ) as scene:
            scene.practitioner = TeamsUser(scene.bot.url, connector, http, name=REFERRER)
            watch = Watch(scene, logs)
            for user in (scene.admin, scene.second_admin, scene.outsider, scene.practitioner):
                watch.user(user)
            await scene.register_desk()
            yield watch


# --- the referral ---------------------------------------------------------------------------

NARRATIVE = {
    "verb": "narrative",
    "what_is_stuck": f"Child A: {marker('stuck')}",
    "help_wanted": f"Space to think: {marker('help')}",
    "context": marker("context"),
}
ABOUT = {
    "verb": "about",
    "agency": "Health Visiting",
    "role": "Health visitor",
    "is_lead_professional": "no",
    "manager_agreed": "yes",
    "manager_name": MANAGER[0],
    "manager_email": MANAGER[1],
    "team": marker("team"),
}
INVITEES = {
    "verb": "invitees",
    "op": "done",
    "name_1": INVITEE[0],
    "agency_1": "Oak School",
    "email_1": INVITEE[1],
}
TIMING = {"verb": "timing", "availability": f"Tuesdays {marker('availability')}", "urgency": "soon"}
# (the step's answers, its free-text box, what a refusal calls the box)
FORM_BOXES = [
    (NARRATIVE, "what_is_stuck", "What is stuck"),
    (NARRATIVE, "help_wanted", "The help you want"),
    (NARRATIVE, "context", CONTEXT.label_for_admins),
    (ABOUT, "team", TEAM.label_for_admins),
    (TIMING, "availability", "When you are available"),
]


async def refer(watch: Watch, *, refusals: bool = True) -> str:
    """A referral whose every free-text box is refused once, then filled with its marker;
    then each part changed from the review card, boxes left empty to keep what was written."""
    user = watch.scene.practitioner
    await user.say("refer")
    for step in (NO_RISK, KIND, MODEL_STT):
        await user.press(step)
    for answers in (NARRATIVE, ABOUT, INVITEES, TIMING):
        for bad in refused_texts() if refusals else []:
            for step, box, label in FORM_BOXES:
                if step is answers:
                    await refused_by_message(user, {**answers, box: bad}, label)
        review = card_text(cards_in(await user.press(answers))[-1])
    assert "Check and submit" in review
    assert f"Written and checked, {len(NARRATIVE['what_is_stuck'])} characters" in review

    # Changed from the review: the step's card has empty boxes, and empty keeps what was there.
    for change, answers in (("narrative", NARRATIVE), ("about", ABOUT), ("timing", TIMING)):
        card = cards_in(await user.press({"verb": "review", "change": change}))[-1]
        assert "Already written" in card_text(card)
        kept = {box: "" for step, box, _ in FORM_BOXES if step is answers}
        review = card_text(cards_in(await user.press({**answers, **kept}))[-1])
        assert "Check and submit" in review, review
    sent = await user.press(SUBMIT)
    found = re.search(r"RP-\d{4}-\d{4}", card_text(cards_in(sent)[0]))
    assert found is not None
    await watch.scene.bot.settle()
    return found.group(0)


# --- triage ---------------------------------------------------------------------------------


async def decide_refused_then(
    watch: Watch, verb: str, reference: str, box_key: str, label: str, fine: str, **inputs: Any
) -> dict[str, Any]:
    """A triage panel's free text refused, nothing changed; then the marker, stored."""
    admin = watch.scene.admin
    version = watch.version(reference)
    for bad in refused_texts():
        data = {"reference": reference, "version": version, **inputs, box_key: bad}
        await refused_by_invoke(admin, verb, data, label)
    assert watch.version(reference) == version  # nothing changed
    done = await press(admin, verb, reference, version, **inputs, **{box_key: fine})
    assert done["type"] == CARD
    await watch.scene.bot.settle()
    return done


async def triage(watch: Watch, reference: str) -> None:
    """Asks the referrer a question, takes the answer; accepts, schedules, cancels."""
    scene = watch.scene
    await decide_refused_then(
        watch, "triage_ask", reference, "question", "Your question", marker("question")
    )
    question = cards_in(scene.connector.sent_to(scene.practitioner.conversation_id))[-1]
    assert marker("question") in card_text(question)
    button = next(a for a in question["actions"] if a["type"] == "Action.Submit")["data"]
    for bad in refused_texts():
        await refused_by_message(scene.practitioner, {**button, "answer": bad}, "Your answer")
    thanks = await scene.practitioner.press({**button, "answer": marker("answer")})
    assert "Your answer has gone to business support" in " ".join(texts_in(thanks))
    await scene.bot.settle()

    await accept(scene.admin, reference, watch.version(reference), model="think_space")
    await scene.bot.settle()

    async def schedule() -> None:
        version = watch.version(reference)
        await press(
            scene.admin,
            "triage_schedule",
            reference,
            version,
            day="2026-12-01",
            time="13:00",
            link=JOIN,
        )
        await scene.bot.settle()

    await schedule()
    await decide_refused_then(
        watch,
        "triage_cancel",
        reference,
        "note",
        "Message to the people invited",
        marker("cancel"),
    )
    await schedule()


async def decline(watch: Watch, reference: str) -> None:
    await decide_refused_then(
        watch, "triage_decline", reference, "reason", "Reason", marker("decline"), signpost="0"
    )


async def withdraw(watch: Watch, reference: str) -> None:
    await decide_refused_then(
        watch, "triage_withdraw", reference, "note", "Note", marker("withdraw"), why="duplicate"
    )


# --- sessions -------------------------------------------------------------------------------


def latest_card(watch: Watch, chat: str, pattern: str) -> dict[str, Any]:
    connector = watch.scene.connector
    found = [
        card
        for card in cards_in(connector.sent_to(chat) + connector.updates_to(chat))
        if re.search(pattern, card_text(card))
    ]
    assert found, f"no card matching {pattern!r} in {chat}"
    return found[-1]


async def control(watch: Watch, user: TeamsUser, chat: str, verb: str) -> None:
    await watch.scene.bot.settle()
    stage = live_stage_card(watch.scene.connector, chat)
    body = await user.invoke(verb, button_data(stage, verb))
    assert user.last_status == 200 and body["type"] == CARD, body
    await watch.scene.bot.settle()


async def contribute(
    watch: Watch, user: TeamsUser, chat: str, heading: str, boxes: dict[str, str], thanks: str
) -> None:
    """Each box refused once (the others filled), then all filled with their markers;
    then shown together."""
    data = button_data(latest_card(watch, chat, heading), "session_contribute")
    for box, label in boxes.items():
        filled = {key: marker(key) for key in boxes}
        for bad in refused_texts():
            await refused_by_invoke(user, "session_contribute", {**data, **filled, box: bad}, label)
    added = await user.invoke("session_contribute", {**data, **{k: marker(k) for k in boxes}})
    assert thanks in str(added["value"]) or thanks in card_text(added["value"])
    await watch.scene.bot.settle()


async def session_with_hopes_blockers_and_enablers(watch: Watch, reference: str) -> None:
    scene = watch.scene
    facilitator = watch.user(
        scene.in_chat(FACILITATOR["name"], THREAD, FACILITATOR["aad_object_id"], "meeting-1")
    )
    other = watch.user(scene.in_chat("Nia Nurse-Marker", THREAD, meeting_id="meeting-1"))
    scene.clock.set(scene.clock.now().replace(day=1, month=12, hour=13))
    await facilitator.post(
        facilitator.activity(type="event", name="application/vnd.microsoft.meetingStart", value={})
    )
    await scene.bot.settle()
    roles = latest_card(watch, THREAD, "Roles:")
    await facilitator.invoke("session_begin", button_data(roles, "session_begin"))
    await scene.bot.settle()
    for _ in range(2):  # welcome, pen picture
        await control(watch, facilitator, THREAD, "session_next")
    await contribute(
        watch,
        other,
        THREAD,
        "Hopes for this session · ",
        {"hope": "My hopes for this session"},
        "your hopes are in",
    )
    heading = "Hopes for this session · "
    shown = await facilitator.invoke(
        "session_show_together",
        button_data(latest_card(watch, THREAD, heading), "session_show_together"),
    )
    assert "Shown in the chat" in str(shown["value"])
    await control(watch, facilitator, THREAD, "session_next")
    boxes = {"blocker_1": "Blocker 1", "blocker_2": "Blocker 2", "enabler_1": "Enabler 1"}
    await contribute(
        watch, other, THREAD, "Three blockers and three enablers · ", boxes, "yours are in"
    )
    together = latest_card(watch, THREAD, "Three blockers and three enablers · ")
    await facilitator.invoke(
        "session_show_together", button_data(together, "session_show_together")
    )
    await scene.bot.settle()
    counts = card_text(latest_card(watch, THREAD, "Three blockers and three enablers: together"))
    assert "Blockers" in counts and "2" in counts and "Enablers" in counts
    await control(watch, facilitator, THREAD, "session_end")


async def session_with_actions(watch: Watch) -> None:
    """A session without a referral, set up in a group chat, to its stage that collects actions."""
    scene = watch.scene
    facilitator = watch.user(
        scene.in_chat(FACILITATOR["name"], SECOND_CHAT, FACILITATOR["aad_object_id"])
    )
    await facilitator.say("<at>Reflective practice</at> start session")
    for bad in refused_texts():  # the set-up card's reference box
        body = await facilitator.invoke(
            "session_set_up", {"model": "space_to_think", "reference": bad}
        )
        assert body["type"] == MESSAGE and "I cannot start that referral here" in body["value"]
    await facilitator.invoke("session_set_up", {"model": "space_to_think", "reference": ""})
    await scene.bot.settle()
    roles = latest_card(watch, SECOND_CHAT, "Roles:")
    await facilitator.invoke("session_begin", button_data(roles, "session_begin"))
    for _ in range(5):
        await control(watch, facilitator, SECOND_CHAT, "session_next")
    boxes = {"what": "What", "who": "Who", "where": "Where it will be recorded"}
    await contribute(watch, facilitator, SECOND_CHAT, "Actions · ", boxes, "the action is added")
    await control(watch, facilitator, SECOND_CHAT, "session_end")
    summary = card_text(latest_card(watch, SECOND_CHAT, "Session summary"))
    assert "1 action was added on the cards" in summary


# --- the test -------------------------------------------------------------------------------

FORM_MARKERS = ["stuck", "help", "context", "team", "availability"]
DETAILS_MARKERS = ["stuck", "help", "context", "team", "question", "answer"]
SESSION_MARKERS = ["hope", "blocker_1", "blocker_2", "enabler_1", "what", "who", "where"]


async def test_nothing_identifying_is_sent_or_logged(watched: Watch) -> None:
    watch = watched
    scene = watch.scene
    first = await refer(watch)
    await triage(watch, first)
    details = [await watch.press_details(first)]
    await session_with_hopes_blockers_and_enablers(watch, first)
    await session_with_actions(watch)
    declined = await refer(watch, refusals=False)
    await decline(watch, declined)
    details.append(await watch.press_details(declined))
    withdrawn = await refer(watch, refusals=False)
    await withdraw(watch, withdrawn)
    details.append(await watch.press_details(withdrawn))
    await scene.bot.settle()

    # The search finds what is there: the Details view shows the case, to the admin only.
    shown = "\n".join(card_text(body["value"]) for body in details)
    for box in [*DETAILS_MARKERS, "decline", "withdraw"]:
        assert marker(box) in shown, box
    assert len(watch.logs.lines) > 100  # DEBUG really was on

    for refused in REFUSED:
        assert watch.where(refused) == set(), (refused, watch.log_lines_with(refused))

    to_referrer = f"sent to {scene.practitioner.conversation_id}"
    allowed = {
        **{box: {"details"} for box in [*FORM_MARKERS, *SESSION_MARKERS, "answer"]},
        **{box: {"details"} for box in ("cancel", "withdraw")},
        # The admin's own words to the referrer: carried to them by design, checked first.
        "question": {"details", to_referrer},
        "decline": {"details", to_referrer},
    }
    leaks = {
        box: watch.where(marker(box)) - places
        for box, places in allowed.items()
        if watch.where(marker(box)) - places
    }
    assert leaks == {}, [watch.log_lines_with(marker(box)) for box in leaks]

    people = [REFERRER, *MANAGER, *INVITEE, "Alex Admin", FACILITATOR["name"], "Nia Nurse-Marker"]
    in_logs = {who for who in people if "log" in watch.where(who)}
    assert in_logs == set(), [watch.log_lines_with(who) for who in in_logs]
