"""Real headless Chromium for the session pages, driven by Playwright for Python.

Debian's own `chromium` (never Playwright's download): `.ci/run` installs it, and the README
says how. Without it these tests fail, saying what to install; they never skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def chromium_path() -> str:
    found = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")
    if not found:
        pytest.fail(
            f"Chromium is not installed (looked for {CHROMIUM}): the session page tests run in "
            "a real browser. Install Debian's: `sudo apt-get install chromium` (or set CHROMIUM "
            "to its path).",
            pytrace=False,
        )
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    path = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()
