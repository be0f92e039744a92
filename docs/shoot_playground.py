"""Retake the README's referral pictures from the Microsoft 365 Agents Playground.

Writes, over the files in docs/images (or `--out DIR`):

  * playground-narrative-error.png: the "What is stuck" card after Continue with a phone number
    in the text, and the bot's short message below it naming the box and the kind of detail
    (the Playground redraws the card with its boxes empty);
  * playground-review.png: the "Check and submit" card of a completed form.

Run it again with one command, from the repository root:

    .venv/bin/python docs/shoot_playground.py

What it needs (all offline):
  * the project's virtualenv and Node packages: `make run` once (or `make .venv/.installed`
    and `npm ci`), so `bot.run_with_playground` and node_modules/.bin/agentsplayground exist;
  * Playwright for Python in the virtualenv: `.venv/bin/pip install playwright`. Its own
    browsers are not used (no `playwright install`): it drives Debian's Chromium
    (`apt-get install -y chromium`; `--chromium PATH` for another one);
  * ports 3978 and 56150 free (stop any `make run` first).

How it works: a temporary directory holds a fresh SQLite database and the bot gets a fresh
encryption key, both through the environment, which wins over any `.env`; the checkout's own
`.env` and database are not touched. The script migrates that database, starts
`python -m bot.run_with_playground` (the bot and the Playground, as `make run` does) in its own
process group, walks the referral form in headless Chromium as a practitioner would (say hi,
Make a referral, the risk question, kind, model, the narrative with a phone number, then
without, about you, who to invite, when), clips each picture to the chat column (598 px wide,
light theme, like the other playground-*.png), and stops the process group at the end, also on
failure. Chromium resolves no host but loopback and every request for another host is aborted
(the Playground asks for Segoe UI from Microsoft's CDN; the pictures use the local fallback font).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, Route, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_OUT = ROOT / "docs" / "images"
BOT_PORT = 3978
PLAYGROUND_PORT = 56150  # fixed in bot/run_with_playground.py
PLAYGROUND_URL = f"http://127.0.0.1:{PLAYGROUND_PORT}"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

RESOLVE_LOOPBACK_ONLY = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
VIEWPORT: ViewportSize = {
    "width": 1280,
    "height": 1800,
}  # tall enough for the review card without scrolling
SHOT_WIDTH = 598  # the chat column without its scrollbar, as in the other playground-*.png
SHOT_LEFT_INSET = 7  # from the chat column's left edge to the picture's
SHOT_MARGIN = 8  # below the last message
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

# The script's own page helpers: the chat column, its messages, and the bot's cards in it.
CHAT_JS = """() => {
  const card = document.querySelector('.ac-adaptiveCard');
  for (let e = card; e; e = e.parentElement) {
    if (getComputedStyle(e).overflowY === 'auto') {
      const r = e.getBoundingClientRect();
      return {x: r.x, y: r.y, width: r.width, height: r.height, count: e.children.length};
    }
  }
  return null;
}"""


def fail(message: str) -> NoReturn:
    raise SystemExit(f"shoot_playground: {message}")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    fail(f"nothing answered at {url} within {seconds:.0f}s")


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


class Chat:
    """The Playground's personal chat with the bot, driven as a person would."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def column(self) -> dict[str, Any]:
        found = self.page.evaluate(CHAT_JS)
        if found is None:
            fail("the Playground showed no chat with a card")
        return dict(found)

    def messages(self) -> Locator:
        return self.page.locator(".fai-OutputCard")

    def wait_for_reply(self, before: int) -> None:
        deadline = time.monotonic() + REPLY_SECONDS
        while time.monotonic() < deadline:
            if self.messages().count() > before:
                # A turn can send more than one message: wait until it stops.
                self.page.wait_for_timeout(1500)
                return
            self.page.wait_for_timeout(200)
        fail(f"the bot did not answer within {REPLY_SECONDS}s")

    def say(self, text: str) -> None:
        before = self.messages().count()
        box = self.page.locator("[data-lexical-editor='true']")  # the compose box
        box.click()
        self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")
        self.wait_for_reply(before)

    def last_card(self) -> Locator:
        return self.page.locator(".ac-adaptiveCard").last

    def press(self, title: str) -> None:
        before = self.messages().count()
        self.last_card().get_by_role("button", name=title, exact=True).click()
        self.wait_for_reply(before)

    def type_into(self, label: str, text: str) -> None:
        field = self.last_card().get_by_label(label, exact=False).first
        field.fill(text)

    def choose(self, title: str) -> None:
        self.last_card().get_by_label(title, exact=True).check()

    def shoot(self, top: Locator, bottom: Locator, path: Path) -> None:
        """The chat column from the message row holding `top` down to `bottom`'s end."""
        top.scroll_into_view_if_needed()
        self.page.mouse.move(1, 1)  # no hover highlight on the last button pressed
        column = self.column()
        top_box = top.bounding_box()
        bottom_box = bottom.bounding_box()
        if top_box is None or bottom_box is None:
            fail(f"nothing to photograph for {path.name}")
        # The bot's name and the time sit above the message's bubble.
        y = max(column["y"], top_box["y"] - 22)
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


def walk_and_shoot(page: Page, out: Path) -> None:
    page.goto(PLAYGROUND_URL, wait_until="networkidle")
    page.get_by_role("treeitem", name="Personal Chat").click()
    chat = Chat(page)
    chat.say("hi")
    chat.press("Make a referral")
    chat.press("No, go on")
    chat.choose("A child or family")
    chat.press("Continue")
    chat.choose("Space to Think")
    chat.press("Continue")

    chat.type_into("What feels stuck", STUCK_WITH_PHONE)
    chat.type_into("What help would you like", HELP_WANTED)
    narrative_card = chat.messages().nth(chat.messages().count() - 1)
    chat.press("Continue")
    reply = chat.messages().nth(chat.messages().count() - 1)
    if "phone number" not in reply.inner_text():
        fail(f"expected the bot to refuse the phone number, it said: {reply.inner_text()!r}")
    # As the Playground shows it: it draws every card afresh when a message arrives, so its
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
    review = chat.messages().nth(chat.messages().count() - 1)
    if "Check and submit" not in review.inner_text():
        fail(f"expected the review card, the bot sent: {review.inner_text()[:200]!r}")
    chat.shoot(review, review, out / "playground-review.png")


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
            wait_for(PLAYGROUND_URL, 60)
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
