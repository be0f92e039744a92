"""Retake the README's pictures of the session on a screen (docs/images/live-*.png).

    .venv/bin/python docs/shoot_live.py            # or --out DIR, --chromium PATH

The real app on a fresh SQLite database (in a temporary directory), a loopback Bot Connector
and a loopback sign-on server, from the tests' own support (tests/support): a Space to Think
session is set up in a meeting chat, its roles taken, begun, and run 1 min 40 s into its
first stage. Then Debian's Chromium (Playwright drives it; no browser download) takes:

  * live-side-panel.png: the Teams tab as the facilitator sees it in the meeting's side panel
    (320 px wide, with the controls); Teams itself is stood in for (tests/support/teams_host);
  * live-stage.png: the same tab shared to the meeting's stage, as a participant sees it
    (1280 x 720, no controls);
  * live-room.png: the room display's link in a full-screen browser (1920 x 1080, no names),
    about ten seconds from the end of the stage, in its "Nearly time" state.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.browser import CHROMIUM  # noqa: E402
from tests.support.connector import FakeConnector  # noqa: E402
from tests.support.databases import MigratedTemplates  # noqa: E402
from tests.support.jwks import serve_openid  # noqa: E402
from tests.support.meeting import MEETING_CHAT, meeting_scene  # noqa: E402
from tests.support.screen import begin_with_roles, room_link  # noqa: E402
from tests.support.teams_host import in_teams  # noqa: E402
from tests.test_session_tab import AUDIENCE, ISSUER, token  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"


async def shoot(out: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as directory, serve_openid(ISSUER) as openid:
        templates = MigratedTemplates(Path(directory))
        connector = FakeConnector()
        await connector.start()
        try:
            async with (
                templates.sqlite(Path(directory)) as url,
                aiohttp.ClientSession() as http,
                meeting_scene(
                    url,
                    connector,
                    http,
                    tab_sso_metadata_url=openid.metadata_url,
                    tab_sso_audience=AUDIENCE,
                ) as meeting,
                async_playwright() as playwright,
            ):
                for person in meeting.people.values():
                    connector.members[MEETING_CHAT].add(person.aad_id)
                await begin_with_roles(meeting)
                await meeting.advance(minutes=1, seconds=40)
                browser = await playwright.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox"]
                )
                side = await browser.new_page(viewport={"width": 320, "height": 900})
                await in_teams(side, MEETING_CHAT, token(openid, meeting.facilitator))
                await side.goto(meeting.bot.url + "live/tab")
                await side.locator("#controls").wait_for()
                await side.screenshot(path=out / "live-side-panel.png", full_page=True)

                stage = await browser.new_page(viewport={"width": 1280, "height": 720})
                await in_teams(stage, MEETING_CHAT, token(openid, meeting.consultant))
                await stage.goto(meeting.bot.url + "live/tab")
                await stage.locator("#plan li[aria-current=step]").wait_for()
                await stage.screenshot(path=out / "live-stage.png")

                await meeting.advance(minutes=3, seconds=10)
                room = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await room.goto(await room_link(meeting))
                await room.locator("body[data-clock=warning]").wait_for()
                await room.screenshot(path=out / "live-room.png")
                await browser.close()
        finally:
            await connector.close()
            templates.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(args.out, args.chromium))
    print(f"written to {args.out}: live-side-panel.png, live-stage.png, live-room.png")


if __name__ == "__main__":
    main()
