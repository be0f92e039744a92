"""The live session in the meeting chat: its controls stay in reach.

At any moment of a live session the bot's latest message in the chat is the live stage card,
or one short prompt directly beneath it; earlier copies of the card collapse to one line (a
PUT to their activity ids); the bot posts a bounded number of messages per stage; ending a
live session takes a confirmation. Over real HTTP with the real app, a loopback Bot
Connector, a fake clock, SQLite and PostgreSQL; and the cards on their own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp

from bot.core.protocols import BUILT_IN, load_protocols
from bot.sessions.meeting import STALE, choice_of
from bot.sessions.timing import Status
from cards.sessions import roles_card, setup_card, stage_card, summary_card
from tests.support.client import card_text, cards_in, nodes
from tests.support.connector import FakeConnector
from tests.support.meeting import (
    MEETING_CHAT,
    STAGE,
    Meeting,
    button_data,
    meeting_scene,
    shown,
    verbs_on,
)
from tests.support.session_gallery import CALENDAR, NOW, sample_view

PROTOCOLS = load_protocols([BUILT_IN])
# The most the bot posts in a stage on its own: the stage's contribution form, the stage
# card (posted again below the form, or below a second prompt), and one "time is up" or
# "moved on" note. (README: "Sessions in the meeting chat".)
MOST_POSTS_PER_STAGE = 3
SIZES = ["Small", "Default", "Medium", "Large", "ExtraLarge"]


# --- helpers ---------------------------------------------------------------------------


async def begin(meeting: Meeting, model: str, **inputs: Any) -> None:
    await meeting.set_up(model, **inputs)
    roles = meeting.posted_cards("Roles: ")[-1]
    await meeting.press(meeting.facilitator, "session_begin", **button_data(roles, "session_begin"))
    await meeting.bot.settle()


def is_stage_card(activity: dict[str, Any]) -> bool:
    return any(STAGE.search(card_text(card)) for card in cards_in([activity]))


def below_the_stage_card(meeting: Meeting) -> list[dict[str, Any]]:
    """What the bot has posted in the chat after its latest stage card."""
    posts = meeting.chat_posts()
    last = max(i for i, activity in enumerate(posts) if is_stage_card(activity))
    return posts[last + 1 :]


def assert_in_reach(meeting: Meeting) -> None:
    """The bot's latest message is the stage card, or one short prompt directly below it."""
    below = below_the_stage_card(meeting)
    described = [a.get("text") or card_text(cards_in([a])[0])[:60] for a in below]
    assert len(below) <= 1, described
    assert all(not activity.get("attachments") for activity in below), described


def puts_to(connector: FakeConnector, activity_id: str) -> int:
    return sum(
        method == "PUT" and path.endswith(f"/activities/{activity_id}")
        for method, path in connector.requests
    )


def assert_earlier_copies_collapsed(meeting: Meeting) -> None:
    """Every stage card posted before the live one now reads as one line, with no buttons,
    by an update (PUT) to its own activity id."""
    posted = [activity for activity in meeting.chat_posts() if is_stage_card(activity)]
    for activity in posted[:-1]:
        updates = [
            u for u in meeting.connector.updates_to(MEETING_CHAT) if u.get("id") == activity["id"]
        ]
        assert updates and puts_to(meeting.connector, activity["id"]) >= 1
        last = cards_in([updates[-1]])[0]
        assert card_text(last).endswith("moved below"), card_text(last)
        assert verbs_on(last) == [] and len(list(nodes(last["body"]))) == 1


async def run_every_stage_over_time(meeting: Meeting, model: str, **inputs: Any) -> list[int]:
    """Runs a whole session, every stage a minute over its time (so every stage gets its
    "time is up"), checking after each moment that the stage card is in reach. Returns the
    POSTs to the chat for each stage: its stage card (by the stage it shows), its form (by
    the step its button names) and its "time is up" or "moved on" note (said when its time
    ran out). The summary after End is the session's, not a stage's."""
    await meeting.set_up(model, **inputs)
    mark = len(meeting.chat_posts())
    roles = meeting.posted_cards("Roles: ")[-1]
    await meeting.press(meeting.facilitator, "session_begin", **button_data(roles, "session_begin"))
    await meeting.bot.settle()
    assert_in_reach(meeting)
    row = await meeting.session_row()
    per_stage = [0] * len(row.plan)

    def count(running_out: int) -> None:
        nonlocal mark
        for activity in meeting.chat_posts()[mark:]:
            per_stage[stage_of(activity, running_out)] += 1
        mark = len(meeting.chat_posts())

    count(0)
    last = len(row.plan) - 1
    while True:
        step = row.step
        await meeting.advance(minutes=row.plan[step]["default_minutes"] + 1)
        assert_in_reach(meeting)
        count(step)
        row = await meeting.session_row()
        if row.step == step:  # it waits for the facilitator
            if step == last:
                break
            await meeting.control(meeting.facilitator, "session_next")
            assert_in_reach(meeting)
            count(step)
            row = await meeting.session_row()
    await meeting.control(meeting.facilitator, "session_end")
    assert (await meeting.session_row()).status == "ended"
    return per_stage


def stage_of(activity: dict[str, Any], running_out: int) -> int:
    """The stage a post in the chat is for (see run_every_stage_over_time)."""
    if not activity.get("attachments"):
        return running_out  # "time is up", "moved on": the stage whose time ran out
    card = cards_in([activity])[0]
    found = STAGE.search(card_text(card))
    if found:
        return int(found.group(0).split()[1]) - 1
    return int(button_data(card, "session_contribute")["step"])


# --- over HTTP ---------------------------------------------------------------------------


async def test_a_whole_session_posts_at_most_three_messages_a_stage(meeting: Meeting) -> None:
    per_stage = await run_every_stage_over_time(meeting, "think_space", cycles=2)
    print("think_space, POSTs per stage:", per_stage)  # noqa: T201 - the figure for the README
    assert max(per_stage) <= MOST_POSTS_PER_STAGE
    # The forms of the two stages that collect, each directly above a fresh stage card.
    assert len(meeting.posted_cards("Hopes for this session · ")) == 1
    assert len(meeting.posted_cards("Three blockers and three enablers · ")) == 1
    assert_earlier_copies_collapsed(meeting)
    said = meeting.texts()
    assert sum("Time is up" in t for t in said) == len(per_stage)  # one note a stage
    moved_on = [t for t in said if "Now: **" in t]
    assert len(moved_on) == 4 and all("Speaking: " in t for t in moved_on)
    assert not any(" speak;" in t or "- listen" in t for t in said)
    assert len(meeting.posted_cards("Session summary")) == 1


async def test_space_to_think_and_rethink_stay_within_the_bound(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    for model, inputs in (("space_to_think", {}), ("re_think", {"independent": "false"})):
        connector.activities.clear()
        connector.updates.clear()
        connector.requests.clear()
        connector.meeting_roles.clear()
        async with meeting_scene(database_url, connector, http) as meeting:
            per_stage = await run_every_stage_over_time(meeting, model, **inputs)
            print(model, "POSTs per stage:", per_stage)  # noqa: T201
            assert max(per_stage) <= MOST_POSTS_PER_STAGE, (model, per_stage)
            assert_earlier_copies_collapsed(meeting)
            # One Actions form: Re-think's three agreement stages share it.
            assert len(meeting.posted_cards("Actions · ")) == 1


async def test_a_card_posted_below_brings_the_stage_card_down_and_collapses_the_old_one(
    meeting: Meeting,
) -> None:
    await begin(meeting, "think_space")
    first = meeting.chat_posts()[-1]
    assert is_stage_card(first)
    await meeting.control(meeting.facilitator, "session_next")  # pen picture: in place
    assert meeting.stage_posts() == 1
    assert puts_to(meeting.connector, first["id"]) >= 1

    # Hopes: its form goes out, and the stage card again below it; the first copy collapses.
    await meeting.control(meeting.facilitator, "session_next")
    posts = meeting.chat_posts()
    assert "Hopes for this session · " in card_text(cards_in([posts[-2]])[0])
    assert is_stage_card(posts[-1]) and "Stage 3 of " in card_text(cards_in([posts[-1]])[0])
    collapsed = [u for u in meeting.connector.updates_to(MEETING_CHAT) if u["id"] == first["id"]]
    line = card_text(cards_in([collapsed[-1]])[0])
    assert line == "Stage 2 of 11: Pen picture and the child's lived experience \u2014 moved below"
    assert_in_reach(meeting)
    live_id = posts[-1]["id"]

    # A contribution shown together: the card, then the stage card again below it.
    form = meeting.posted_cards("Hopes for this session · ")[-1]
    data = button_data(form, "session_contribute")
    await meeting.press(meeting.presenter, "session_contribute", **data, hope="A shared picture")
    await meeting.bot.settle()
    assert meeting.chat_posts()[-1]["id"] == live_id  # a contribution posts nothing
    await meeting.press(meeting.facilitator, "session_show_together", **data)
    await meeting.bot.settle()
    posts = meeting.chat_posts()
    assert "Hopes for this session: together" in card_text(cards_in([posts[-2]])[0])
    assert is_stage_card(posts[-1]) and posts[-1]["id"] != live_id
    assert_in_reach(meeting)
    assert_earlier_copies_collapsed(meeting)

    # The question bank, asked for: the same.
    await meeting.control(meeting.facilitator, "session_questions")
    posts = meeting.chat_posts()
    assert "Reflective questions: Think Space" in card_text(cards_in([posts[-2]])[0])
    assert_in_reach(meeting)
    assert_earlier_copies_collapsed(meeting)
    assert meeting.stage_posts() == 4


async def test_one_prompt_may_sit_below_the_card_a_second_brings_it_down(
    meeting: Meeting,
) -> None:
    await begin(meeting, "space_to_think")  # stage 1: 5 minutes, up to 10
    await meeting.advance(minutes=4)
    assert meeting.texts() == []  # "under a minute left": the card says so, no message
    assert "Nearly time" in card_text(meeting.stage_card())
    await meeting.advance(minutes=1)
    posts = meeting.chat_posts()
    assert "Time is up for **Case Presenter offloads**" in str(posts[-1].get("text"))
    assert is_stage_card(posts[-2])  # the prompt directly beneath the card
    assert meeting.stage_posts() == 1
    assert_in_reach(meeting)

    # Two more minutes, and time is up again: a second prompt, so the card comes below it.
    first = posts[-2]
    await meeting.control(meeting.facilitator, "session_add_time")
    await meeting.advance(minutes=2)
    posts = meeting.chat_posts()
    assert sum("Time is up" in t for t in meeting.texts()) == 2
    assert "Time is up" in str(posts[-2].get("text")) and is_stage_card(posts[-1])
    assert meeting.stage_posts() == 2
    assert puts_to(meeting.connector, first["id"]) >= 2  # redrawn, then collapsed
    assert_earlier_copies_collapsed(meeting)
    assert "Time is up" in card_text(meeting.stage_card())

    # A press on the collapsed copy is answered there in one line, pointing below.
    earlier = button_data(stage_card_as_posted(first), "session_pause")
    answer = await meeting.press(meeting.facilitator, "session_pause", **earlier)
    assert "moved below" in shown(answer) and "Nothing changed" in shown(answer)
    assert "bottom of the chat" in shown(answer)
    current = button_data(meeting.stage_card(), "session_pause")
    paused = await meeting.press(meeting.facilitator, "session_pause", **{**current, "card": 1})
    assert "Paused. The live card is at the bottom of the chat." in shown(paused)
    assert (await meeting.session_row()).status == "paused"


def stage_card_as_posted(activity: dict[str, Any]) -> dict[str, Any]:
    return cards_in([activity])[0]


async def test_ending_a_live_session_takes_a_confirmation(meeting: Meeting) -> None:
    await begin(meeting, "space_to_think")
    card = meeting.stage_card()
    (opens,) = [
        n for n in nodes(card) if n.get("type") == "Action.ShowCard" and "End" in n["title"]
    ]
    assert opens["title"] == "End the session now"
    assert "End the session for everyone?" in card_text(opens["card"])
    # The only End button on the card is the confirmation's.
    ends = [n for n in nodes(card) if n.get("verb") == "session_end"]
    assert ends == opens["card"]["actions"]
    confirm = button_data(opens["card"], "session_end")
    assert confirm["confirmed"] is True

    # An End without the confirmation (a card from before, or made up) ends nothing.
    unconfirmed = {key: value for key, value in confirm.items() if key != "confirmed"}
    answer = await meeting.press(meeting.facilitator, "session_end", **unconfirmed)
    assert "To end it, press End the session now, then Yes, end the session" in shown(answer)
    for odd in ("true", 1, "yes"):
        await meeting.press(meeting.facilitator, "session_end", **unconfirmed, confirmed=odd)
    # Someone who may not drive it is refused even on the confirmation.
    refused = await meeting.press(meeting.consultant, "session_end", **confirm)
    assert shown(refused).startswith("Sorry, only Jo Facilitator (facilitating)")
    await meeting.bot.settle()
    assert (await meeting.session_row()).status == "running"

    # A confirmation opened before the session moved on is stale: nothing ends.
    await meeting.control(meeting.facilitator, "session_next")
    stale = await meeting.press(meeting.facilitator, "session_end", **confirm)
    assert STALE in shown(stale)
    await meeting.bot.settle()
    assert (await meeting.session_row()).status == "running"
    assert meeting.posted_cards("Session summary") == []

    # The confirmation on the card as it is now ends it, once.
    ended = await meeting.control(meeting.facilitator, "session_end")
    assert "The session has ended" in shown(ended)
    again = await meeting.press(meeting.facilitator, "session_end", **confirm)
    assert "session has ended" in shown(again).lower()
    await meeting.bot.settle()
    assert (await meeting.session_row()).status == "ended"
    assert len(meeting.posted_cards("Session summary")) == 1


async def test_back_then_next_posts_no_second_form(meeting: Meeting) -> None:
    await begin(meeting, "space_to_think")
    for _ in range(5):
        await meeting.control(meeting.facilitator, "session_next")
    assert len(meeting.posted_cards("Actions · ")) == 1
    posts = len(meeting.chat_posts())
    await meeting.control(meeting.facilitator, "session_back")  # no clock time passes
    await meeting.control(meeting.facilitator, "session_next")
    assert len(meeting.posted_cards("Actions · ")) == 1
    assert len(meeting.chat_posts()) == posts  # both redrawn in place
    assert "Stage 6 of 6" in card_text(meeting.stage_card())
    assert_in_reach(meeting)


async def test_typing_start_session_brings_the_live_card_down(meeting: Meeting) -> None:
    await begin(meeting, "space_to_think")
    await meeting.advance(minutes=5)  # time is up: one prompt below the card
    await meeting.facilitator.say("<at>Reflective practice</at> start session")
    await meeting.bot.settle()
    posts = meeting.chat_posts()
    assert "is under way here: its card follows" in str(posts[-2].get("text"))
    assert is_stage_card(posts[-1]) and meeting.stage_posts() == 2
    assert_earlier_copies_collapsed(meeting)


async def test_typing_start_session_during_set_up_posts_the_roles_card_again(
    meeting: Meeting,
) -> None:
    await meeting.set_up("space_to_think")
    first = meeting.posted_cards("Roles: Space to Think")
    assert len(first) == 1
    await meeting.facilitator.say("<at>Reflective practice</at> start session")
    await meeting.bot.settle()
    posts = meeting.chat_posts()
    assert "is being set up here: its roles card follows" in str(posts[-2].get("text"))
    assert "Roles: Space to Think" in card_text(cards_in(posts[-1:])[0])
    # The new copy is the one kept up to date: taking a role redraws it, not the old one.
    taken = await meeting.press(
        meeting.presenter, "session_take_role", session=1, role="case_presenter"
    )
    await meeting.bot.settle()
    assert meeting.connector.updates_to(MEETING_CHAT)[-1]["id"] == posts[-1]["id"], taken


async def test_the_set_up_options_are_the_chosen_models(meeting: Meeting) -> None:
    """The set-up card's Start buttons send each model's options under its own name."""
    answer = await meeting.set_up("think_space", cycles_think_space="2")
    assert "Think Space is set up" in shown(answer)
    row = await meeting.session_row()
    assert len(row.plan) == 9  # 5 stages, the reflecting team twice each way


async def test_the_cards_say_who_may_move_the_session_on_as_configured(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with meeting_scene(
        database_url, connector, http, session_control_roles="organizer,presenter"
    ) as meeting:
        await begin(meeting, "space_to_think")
        text = card_text(meeting.stage_card())
        assert (
            "Jo Facilitator (facilitating), the meeting's organiser or a presenter can move "
            "the session on." in text
        )
        roles = card_text(meeting.posted_cards("Roles: ")[-1])
        assert "or a presenter can begin the session and move it on" in roles


# --- the cards on their own ------------------------------------------------------------


def test_the_countdown_is_the_largest_text_on_the_stage_card() -> None:
    running = sample_view(PROTOCOLS["space_to_think"])
    for view in (
        running,
        replace(running, status=Status.PAUSED, ends_at=None, remaining_seconds=250.0),
        replace(running, ends_at=NOW.replace(minute=19)),
    ):
        card = stage_card(view, NOW, CALENDAR)
        blocks = [n for n in nodes(card) if n.get("type") == "TextBlock"]
        largest = [b for b in blocks if b.get("size") == "ExtraLarge"]
        assert len(largest) == 1, [b["text"] for b in largest]
        assert largest[0]["text"].endswith(" left") or largest[0]["text"] == "Time is up"
        rest = [SIZES.index(b.get("size", "Default")) for b in blocks if b is not largest[0]]
        assert max(rest) < SIZES.index("ExtraLarge")


def test_the_clock_and_who_speaks_read_plainly() -> None:
    stt, rethink = PROTOCOLS["space_to_think"], PROTOCOLS["re_think"]
    running = sample_view(stt)
    nearly = card_text(stage_card(replace(running, ends_at=NOW.replace(second=40)), NOW, CALENDAR))
    assert "Under 1 min left" in nearly and "About under" not in nearly
    just_over = stage_card(
        replace(running, ends_at=NOW.replace(minute=20, second=30)), NOW, CALENDAR
    )
    assert "Time is up" in card_text(just_over) and "over by under" not in card_text(just_over)
    assert "Move on when the group is ready." in card_text(just_over)

    everyone = stage_card(sample_view(rethink, 1), NOW, CALENDAR)  # Introductions
    facts = {f["title"]: f["value"] for n in nodes(everyone) if n.get("type") == "FactSet"
             for f in n["facts"]}  # fmt: skip
    assert facts == {"Speaking": "Everyone"}
    # A plan stored before this change says "-" for nobody: no line for it either.
    view = sample_view(stt, 2)
    stored = replace(view, steps=[replace(s, listens="-") for s in view.steps])
    titles = [f["title"] for n in nodes(stage_card(stored, NOW, CALENDAR))
              if n.get("type") == "FactSet" for f in n["facts"]]  # fmt: skip
    assert titles == ["Speaking"]


def test_who_may_move_it_on_follows_the_setting() -> None:
    view = sample_view(PROTOCOLS["space_to_think"])
    default = card_text(stage_card(view, NOW, CALENDAR))
    assert "Jo Facilitator (facilitating) or the meeting's organiser can move the session on." in (
        default
    )
    assert "presenter" not in default.lower().replace("case presenter", "")
    alone = card_text(stage_card(view, NOW, CALENDAR, control_roles=frozenset()))
    assert "Only Jo Facilitator (facilitating) can move the session on." in alone
    ready = replace(view, status=Status.READY, step=0)
    roles = card_text(roles_card(ready, control_roles=frozenset({"organizer", "presenter"})))
    assert "the meeting's organiser or a presenter can begin the session and move it on" in roles


def test_the_set_up_card_shows_only_the_chosen_models_options() -> None:
    card = setup_card([choice_of(p) for p in PROTOCOLS.values()])
    assert not [n for n in nodes(card) if n.get("type") == "Input.ChoiceSet"]
    body_inputs = [n["id"] for n in card["body"] if str(n.get("type", "")).startswith("Input.")]
    assert body_inputs == ["reference"]
    shown_cards = {n["title"]: n["card"] for n in nodes(card) if n.get("type") == "Action.ShowCard"}
    assert set(shown_cards) == {"Space to Think", "Think Space", "Re-think"}

    def inputs(name: str) -> list[str]:
        return [n["id"] for n in nodes(shown_cards[name]) if "Input." in str(n.get("type"))]

    assert inputs("Space to Think") == []
    assert inputs("Think Space") == ["cycles_think_space"]
    assert inputs("Re-think") == ["independent_re_think"]
    starts = {
        name: button_data(shown, "session_set_up")["model"] for name, shown in shown_cards.items()
    }
    assert starts == {
        "Space to Think": "space_to_think",
        "Think Space": "think_space",
        "Re-think": "re_think",
    }


def test_the_summary_promises_nothing_the_bot_does_not_do() -> None:
    view = sample_view(PROTOCOLS["space_to_think"], 5, status=Status.ENDED, ended_at=NOW)
    text = card_text(summary_card(view, [], CALENDAR))
    assert "three months" not in text and "will be asked" not in text


def test_the_agreement_card_shows_the_key_points_and_opens_the_rest() -> None:
    from cards.sessions import agreement_card

    for protocol in PROTOCOLS.values():
        card = agreement_card(sample_view(protocol))
        hidden = {n["id"]: n for n in nodes(card) if n.get("isVisible") is False}
        targets = {t for n in nodes(card) if n.get("type") == "Action.ToggleVisibility"
                   for t in n["targetElements"]}  # fmt: skip
        assert targets == set(hidden)
        visible_points = [
            b for b in card["body"] if b.get("type") == "TextBlock" and b["text"].startswith("•")
        ]
        assert len(visible_points) == min(3, len(protocol.group_agreement))
        everything = card_text(card)
        assert all(point in everything for point in protocol.group_agreement)
        assert "immediate risk of harm" in card_text({"body": card["body"][-1:]})
