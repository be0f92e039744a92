"""Retake the README's pictures from the Microsoft 365 Agents Playground, walking its recipe.

Writes, over the files in docs/images (or `--out DIR`), in the order the README's
"Try the triage desk and a session in the Playground" recipe takes them:

  * the 1:1 chat: playground-first-card.png (`refer` and the first step),
    playground-narrative-error.png (the "What is stuck" step refused for a phone number, and the
    bot's short message naming the box; the Playground draws the card again with its boxes
    empty), playground-review.png ("Check and submit"), playground-confirmation.png (the review
    settled into one line, and "Referral received"), playground-my-referrals.png;
  * the triage desk, registered in the Playground's Announcements channel:
    playground-desk-card.png (the referral's card as it arrives) and
    playground-desk-accepted.png (the same card after Accept, with Alex Wilber facilitating);
  * the group chat: playground-session-setup.png (`@Test Bot start session`, the reference
    typed, Space to Think opened), playground-session-roles.png (set up, "before we start", the
    roles card with the Case Presenter taken), playground-session-stage.png (Begin: the live
    stage card), playground-session-next.png (Next stage: the same card, updated in place).
    The session is then ended (End the session now, Yes), as the recipe does, without a picture.

Run it again with one command, from the repository root:

    .venv/bin/python docs/shoot_playground.py

What it needs (all offline):
  * the project's virtualenv and Node packages: `make run` once (or `make .venv/.installed`
    and `npm ci`), so `bot.run_with_playground` and node_modules/.bin/agentsplayground exist;
  * Playwright for Python in the virtualenv: `.venv/bin/pip install playwright` (a tool for
    this script, not a dependency of the bot). Its own browsers are not used (no
    `playwright install`): it drives Debian's Chromium (`apt-get install -y chromium`;
    `--chromium PATH` for another one);
  * ports 3978 and 56150 free (stop any `make run` first).

How it works: a temporary directory holds a fresh SQLite database and the bot gets a fresh
encryption key, both through the environment, which wins over any `.env`; so do ADMIN_IDS (the
Playground's user, Alex Wilber, by the Entra object id in the Playground's built-in
configuration) and FACILITATORS (Alex Wilber again), as the recipe has you put them in `.env`.
The checkout's own `.env` and database are not touched. The script migrates that database,
starts `python -m bot.run_with_playground` (the bot and the Playground, as `make run` does) in
its own process group, and walks the recipe in one page of headless Chromium (the Playground
keeps its chats' history in the page: a reload would show them empty). Each picture is clipped
to the chat column (598 px wide, light theme). The process group is stopped at the end, also on
failure. Chromium resolves no host but loopback and every request for another host is aborted
(the Playground asks for Segoe UI from Microsoft's CDN; the pictures use the local fallback font).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, Route, ViewportSize, sync_playwright

from bot.run_with_playground import wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_OUT = ROOT / "docs" / "images"
BOT_PORT = 3978
PLAYGROUND_PORT = 56150  # fixed in bot/run_with_playground.py
PLAYGROUND_URL = f"http://127.0.0.1:{PLAYGROUND_PORT}"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

# The Playground's built-in configuration (node_modules/@microsoft/m365agentsplayground/dist/
# index.js, used when there is no .m365agentsplayground.yml): the person at the keyboard, and
# the bot's display name. The README's recipe gives the same values.
USER_NAME = "Alex Wilber"
USER_AAD_OBJECT_ID = "00000000-0000-0000-0000-0000000000020"
USER_EMAIL = "alexw@example.com"
BOT_NAME = "Test Bot"
DESK_CHANNEL = "Announcements"  # a channel of the built-in team "My Team"

RESOLVE_LOOPBACK_ONLY = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
VIEWPORT: ViewportSize = {
    "width": 1280,
    "height": 1800,
}  # tall enough for the review card, and the session's three set-up cards, without scrolling
SHOT_WIDTH = 598  # the chat column without its scrollbar, as in the other playground-*.png
SHOT_LEFT_INSET = 7  # from the chat column's left edge to the picture's
SHOT_MARGIN = 8  # below the last message
MESSAGE_HEADER = 22  # the sender's name and the time, above a chat message's bubble
OWN_HEADER = 30  # the time (and "..."), above the person's own message
REPLY_SECONDS = 20

STUCK_WITH_PHONE = (
    "Child A (ref CS-1234): repeated re-referrals over 18 months; school and health disagree "
    "on the level of need. Mum can be reached on 07700 900123."
)
STUCK = (
    "Child A (ref CS-1234): repeated re-referrals over 18 months; school and health disagree "
    "on the level of need."
)
HELP_WANTED = "A shared view of risk and a plan everyone in the network can sign up to."
REFERENCE = re.compile(r"RP-\d{4}-\d{4}")

# The scrolling column that holds a chat's (or a channel's) messages: the nearest scrolling
# ancestor of the first card on the page.
COLUMN_JS = """() => {
  const card = document.querySelector('.ac-adaptiveCard');
  for (let e = card; e; e = e.parentElement) {
    if (getComputedStyle(e).overflowY === 'auto') {
      const r = e.getBoundingClientRect();
      return {x: r.x, y: r.y, width: r.width, height: r.height};
    }
  }
  return null;
}"""


def fail(message: str) -> NoReturn:
    raise SystemExit(f"shoot_playground: {message}")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def bot_environment(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MODE="development",
        HOST="127.0.0.1",
        PORT=str(BOT_PORT),
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'playground.db'}",
        # What `make key` prints: a Fernet key is 32 random bytes, URL-safe base64.
        ENCRYPTION_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        MICROSOFT_APP_ID="",
        GRAPH_ORGANISER="",
        EXTRA_CHANNELS="",
        LOG_LEVEL="WARNING",
        # The recipe's two lines in .env: the Playground's user is an admin and a facilitator.
        ADMIN_IDS=USER_AAD_OBJECT_ID,
        ADMIN_GROUP_CONVERSATION_ID="",
        FACILITATORS=json.dumps(
            [{"name": USER_NAME, "aad_object_id": USER_AAD_OBJECT_ID, "email": USER_EMAIL}]
        ),
    )
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to `run_with_playground` (it stops its children), then the whole group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        time.sleep(1)


def loopback_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:
        route.abort()


class Conversation:
    """One of the Playground's conversations (its sidebar entry), driven as a person would."""

    def __init__(self, page: Page, sidebar_name: str) -> None:
        self.page = page
        self.sidebar_name = sidebar_name

    def open(self) -> None:
        self.page.get_by_role("treeitem").filter(has_text=self.sidebar_name).first.click()
        self.page.wait_for_load_state("networkidle")
        self.compose_box().wait_for()
        self.page.wait_for_timeout(500)

    def compose_box(self) -> Locator:
        # In a channel the first one starts a new post; each thread has its own below.
        return self.page.locator("[data-lexical-editor='true']").first

    def messages(self) -> Locator:
        """The bot's messages in a chat (the person's own are drawn differently)."""
        return self.page.locator(".fai-OutputCard")

    def wait_for_reply(self, before: int) -> None:
        deadline = time.monotonic() + REPLY_SECONDS
        while time.monotonic() < deadline:
            if self.messages().count() > before:
                # A turn can send more than one message: wait until it stops.
                self.page.wait_for_timeout(1500)
                return
            self.page.wait_for_timeout(200)
        fail(f"the bot did not answer in {self.sidebar_name} within {REPLY_SECONDS}s")

    def mention_bot(self) -> None:
        """@Test Bot, picked from the list the Playground offers, as a real mention: in a
        channel or a group chat the bot is sent only messages that @mention it."""
        box = self.compose_box()
        box.click()
        self.page.keyboard.type("@" + BOT_NAME.split()[0])
        self.page.get_by_role("menuitem", name=BOT_NAME).click()
        box.locator(".mention").wait_for()

    def say(self, text: str, *, mention: bool = False) -> None:
        before = self.messages().count()
        if mention:
            self.mention_bot()
            self.page.keyboard.type(" " + text)
        else:
            self.compose_box().click()
            self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")
        self.wait_for_reply(before)

    def post(self, text: str, expect: str) -> None:
        """A new post in a channel, @mentioning the bot; waits for its reply `expect`."""
        self.mention_bot()
        self.page.keyboard.type(" " + text)
        self.page.get_by_role("button", name="Post", exact=True).click()
        self.page.get_by_text(expect, exact=False).first.wait_for(timeout=REPLY_SECONDS * 1000)
        self.page.wait_for_timeout(1000)

    def own_message(self, text: str) -> Locator:
        """The person's latest message that reads exactly `text` (mention included): the
        last such text inside the chat column (the log panel beside it quotes it too)."""
        column = self.page.evaluate(COLUMN_JS)
        matches = self.page.get_by_text(text, exact=True).all()
        for match in reversed(matches):
            box = match.bounding_box()
            if box and column and column["x"] <= box["x"] < column["x"] + column["width"]:
                return match
        fail(f"no message {text!r} in {self.sidebar_name}")

    def last_message(self) -> Locator:
        return self.messages().nth(self.messages().count() - 1)

    def last_card(self) -> Locator:
        return self.page.locator(".ac-adaptiveCard").last

    def press(self, title: str, card: Locator | None = None) -> None:
        """A button on `card` (the last card) that makes the bot post something new."""
        before = self.messages().count()
        (card or self.last_card()).get_by_role("button", name=title, exact=True).click()
        self.wait_for_reply(before)

    def press_in_place(self, title: str, card: Locator, then: str) -> None:
        """A button whose answer replaces `card` in place; waits until it reads `then`."""
        card.get_by_role("button", name=title, exact=True).click()
        card.get_by_text(then, exact=False).first.wait_for(timeout=REPLY_SECONDS * 1000)
        self.page.wait_for_timeout(1000)

    def type_into(self, label: str, text: str) -> None:
        field = self.last_card().get_by_label(label, exact=False).first
        field.fill(text)

    def choose(self, title: str) -> None:
        self.last_card().get_by_label(title, exact=True).check()

    def pick(self, card: Locator, placeholder: str, option: str) -> None:
        """An Input.ChoiceSet drawn as a combo box."""
        card.locator(f"input[placeholder='{placeholder}']").click()
        self.page.get_by_role("option", name=option, exact=True).click()

    def shoot(
        self, top: Locator, bottom: Locator, path: Path, header: int = MESSAGE_HEADER
    ) -> None:
        """The chat column from `top` (and `header` pixels above it) down to `bottom`'s end."""
        top.scroll_into_view_if_needed()
        self.page.mouse.move(1, 1)  # no hover highlight on the last button pressed
        self.page.wait_for_timeout(300)
        column = self.page.evaluate(COLUMN_JS)
        if column is None:
            fail(f"the Playground showed no card to photograph for {path.name}")
        top_box = top.bounding_box()
        bottom_box = bottom.bounding_box()
        if top_box is None or bottom_box is None:
            fail(f"nothing to photograph for {path.name}")
        y = max(column["y"], top_box["y"] - header)
        height = bottom_box["y"] + bottom_box["height"] + SHOT_MARGIN - y
        if y + height > column["y"] + column["height"]:
            fail(f"{path.name} does not fit in the window; make VIEWPORT taller")
        self.page.screenshot(
            path=str(path),
            clip={
                "x": column["x"] + SHOT_LEFT_INSET,
                "y": y,
                "width": SHOT_WIDTH,
                "height": height,
            },
        )
        print(f"wrote {path}")


def expect_text(where: Locator, text: str, what: str) -> None:
    said = where.inner_text()
    if text not in said:
        fail(f"expected {what} to say {text!r}, it said: {said[:300]!r}")


def register_desk(desk: Conversation) -> None:
    """Step 2 of the recipe: the channel becomes the triage desk."""
    desk.open()
    desk.post("register triage here", expect="This is now the triage desk")


def refer(chat: Conversation, out: Path) -> str:
    """Step 3: a referral in the 1:1 chat, with the first card, a refused narrative, the
    review, the confirmation and `my referrals` photographed. Gives its reference."""
    chat.open()
    chat.say("refer")
    chat.shoot(
        chat.own_message("refer"),
        chat.last_message(),
        out / "playground-first-card.png",
        header=OWN_HEADER,
    )
    chat.press("No, go on")
    chat.choose("A child or family")
    chat.press("Continue")
    chat.choose("Space to Think")
    chat.press("Continue")

    chat.type_into("What feels stuck", STUCK_WITH_PHONE)
    chat.type_into("What help would you like", HELP_WANTED)
    narrative_card = chat.last_message()
    chat.press("Continue")
    reply = chat.last_message()
    expect_text(reply, "phone number", "the bot's refusal")
    # As the Playground shows it: it draws the card afresh when a message arrives, so its
    # boxes come back empty.
    chat.shoot(narrative_card, reply, out / "playground-narrative-error.png")

    # Type it again without the number, as the person must in the Playground, and go on.
    chat.type_into("What help would you like", HELP_WANTED)
    chat.type_into("What feels stuck", STUCK)
    chat.press("Continue")
    chat.type_into("Your agency", "Children's Social Care")
    chat.type_into("Your role", "Social worker")
    # Two questions answered "Yes": the Lead Professional's, then the manager's agreement.
    chat.last_card().get_by_label("Yes", exact=True).nth(0).check()
    chat.last_card().get_by_label("Yes", exact=True).nth(1).check()
    chat.type_into("Manager's name", "Sam Patel")
    chat.type_into("Manager's work email", "sam.patel@example.org")
    chat.press("Continue")
    chat.type_into("Name", "Jo Bloggs")
    chat.type_into("Agency", "Oak Primary School")
    chat.type_into("Work email", "jo.bloggs@example.org")
    chat.press("Continue")
    chat.type_into("When are you", "Tuesday and Thursday afternoons; not school holidays")
    chat.choose("Soon (within two weeks)")
    chat.press("Continue")
    review = chat.last_message()
    expect_text(review, "Check and submit", "the review card")
    chat.shoot(review, review, out / "playground-review.png")

    chat.press("Submit referral")
    confirmation = chat.last_message()
    expect_text(confirmation, "Referral received", "the confirmation")
    # The review, settled into one line, and the confirmation under it.
    chat.shoot(review, confirmation, out / "playground-confirmation.png")
    found = REFERENCE.search(confirmation.inner_text())
    if found is None:
        fail("the confirmation gave no reference")

    chat.say("my referrals")
    chat.shoot(
        chat.own_message("my referrals"),
        chat.last_message(),
        out / "playground-my-referrals.png",
        header=OWN_HEADER,
    )
    return found.group()


def triage(desk: Conversation, reference: str, out: Path) -> None:
    """Step 4: the referral's card on the desk, and Accept with Alex Wilber facilitating."""
    desk.open()
    card = desk.page.locator(".ac-adaptiveCard").filter(has_text=f"Referral {reference}").first
    card.wait_for(timeout=REPLY_SECONDS * 1000)
    post = desk.page.locator(".fui-Card").filter(has=card).first
    desk.shoot(post, post, out / "playground-desk-card.png", header=SHOT_MARGIN)
    card.get_by_role("button", name="Accept", exact=True).click()
    card.get_by_text("Accept the referral", exact=False).first.wait_for()
    desk.pick(card, "Choose from the pool", USER_NAME)
    desk.press_in_place("Accept", card, then=f"Accepted by {USER_NAME}")
    desk.shoot(post, post, out / "playground-desk-accepted.png", header=SHOT_MARGIN)


def told(chat: Conversation, reference: str) -> None:
    """Step 5: the referrer (and the facilitator: the same person here) heard in the 1:1."""
    chat.open()
    said = chat.page.locator(".ac-adaptiveCard").all_inner_texts()
    for news in ("Your referral has been accepted", f"You are facilitating {reference}"):
        if not any(news in text for text in said):
            fail(f"the 1:1 chat did not show {news!r}")


def run_session(group: Conversation, reference: str, out: Path) -> None:
    """Step 6: a session in the group chat, linked to the accepted referral."""
    group.open()
    group.say("start session", mention=True)
    setup = group.last_message()
    expect_text(setup, "Set up a reflective session", "the set-up card")
    group.type_into("Referral reference", reference)
    setup.get_by_role("button", name="Space to Think", exact=True).click()
    group.shoot(
        group.own_message(f"{BOT_NAME} start session"),
        setup,
        out / "playground-session-setup.png",
        header=OWN_HEADER,
    )

    group.press("Start Space to Think")
    roles = group.last_message()
    expect_text(roles, "Roles: Space to Think", "the roles card")
    group.press_in_place("Take it", roles, then=f"Case Presenter: {USER_NAME}")
    group.shoot(setup, roles, out / "playground-session-roles.png")

    group.press("Begin the first stage", roles)
    stage = group.last_message()
    expect_text(stage, "Stage 1 of 6", "the stage card")
    group.shoot(roles, stage, out / "playground-session-stage.png")

    stage_card = stage.locator(".ac-adaptiveCard").first
    group.press_in_place("Next stage", stage_card, then="Stage 2 of 6")
    if group.last_message().inner_text() != stage.inner_text():
        fail("Next stage posted a new message instead of updating the stage card")
    group.shoot(roles, stage, out / "playground-session-next.png")

    # End it, as the recipe does: the button only opens the question.
    stage_card.get_by_role("button", name="End the session now", exact=True).click()
    group.press("Yes, end the session", stage_card)
    expect_text(group.page.locator(".ac-adaptiveCard").last, "took place", "the summary")


def walk_and_shoot(page: Page, out: Path) -> None:
    page.goto(PLAYGROUND_URL, wait_until="networkidle")
    chat = Conversation(page, "Personal Chat")
    desk = Conversation(page, DESK_CHANNEL)
    group = Conversation(page, "Group Chat")
    # The Playground installs the bot when the page connects: wait for its welcome card.
    chat.open()
    chat.last_card().wait_for(timeout=REPLY_SECONDS * 1000)

    register_desk(desk)
    reference = refer(chat, out)
    triage(desk, reference, out)
    told(chat, reference)
    run_session(group, reference, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the PNGs go")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium to drive")
    args = parser.parse_args()
    if not PYTHON.exists():
        fail(f"{PYTHON} is missing: run `make run` once to build the virtualenv")
    if not Path(args.chromium).exists():
        fail(f"{args.chromium} is missing: apt-get install -y chromium, or pass --chromium")
    for port in (BOT_PORT, PLAYGROUND_PORT):
        if not port_is_free(port):
            fail(f"port {port} is in use: stop `make run` (or whatever holds it) first")
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="shoot-playground-") as tmp:
        env = bot_environment(Path(tmp))
        subprocess.run([str(PYTHON), "-m", "bot.core.migrate"], cwd=ROOT, env=env, check=True)
        process = subprocess.Popen(
            [str(PYTHON), "-m", "bot.run_with_playground"],
            cwd=ROOT,
            env=env,
            start_new_session=True,  # its own process group, so stop() ends all of it
        )
        try:
            wait_until_healthy(PLAYGROUND_URL, 60)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=args.chromium,
                    args=[f"--host-resolver-rules={RESOLVE_LOOPBACK_ONLY}"],
                )
                try:
                    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
                    context.route("**/*", loopback_only)
                    page = context.new_page()
                    try:
                        walk_and_shoot(page, args.out)
                    except BaseException:
                        failure = Path(tempfile.gettempdir()) / "shoot_playground-failure.png"
                        page.screenshot(path=str(failure), full_page=True)
                        print(f"the page as it was: {failure}", file=sys.stderr)
                        raise
                finally:
                    browser.close()
        finally:
            stop(process)


if __name__ == "__main__":
    main()
