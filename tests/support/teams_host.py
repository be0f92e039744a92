"""Teams, as the session tab sees it, for browser tests and screenshots: a stand-in for the
Teams JavaScript library that answers as a meeting's host would (its chat, a sign-on token
minted by the loopback OpenID server). Served in place of the bundled library by Playwright's
routing, so the tab's own script (tab.js), the app and its checks all run for real."""

from __future__ import annotations

import json

from playwright.async_api import Page, Route


def teams_library(chat_id: str, token: str) -> str:
    context = {"chat": {"id": chat_id}, "page": {"frameContext": "sidePanel"}}
    return f"""
window.microsoftTeams = {{
  app: {{
    initialize: () => Promise.resolve(),
    getContext: () => Promise.resolve({json.dumps(context)}),
  }},
  authentication: {{ getAuthToken: () => Promise.resolve({json.dumps(token)}) }},
  pages: {{ config: {{
    registerOnSaveHandler: () => undefined,
    setValidityState: () => undefined,
    setConfig: () => Promise.resolve(),
  }} }},
}};
"""


async def in_teams(page: Page, chat_id: str, token: str) -> None:
    """From now on, `page` loads the tab as inside a Teams meeting, signed in with `token`."""
    script = teams_library(chat_id, token)

    async def answer(route: Route) -> None:
        await route.fulfill(status=200, content_type="application/javascript", body=script)

    await page.route("**/live/static/teams-js.min.js", answer)
