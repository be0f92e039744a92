"""`make run`: the bot on PORT and the Microsoft 365 Agents Playground beside it.

Open http://127.0.0.1:56150 in a browser to chat with the bot as a Teams user would.
Stops both with Ctrl-C.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND_PORT = 56150


def wait_until_healthy(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"nothing answered 200 at {url} within {seconds:.0f}s")


def main() -> None:
    settings = Settings()
    bot = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT)
    processes = [bot]
    try:
        wait_until_healthy(f"http://127.0.0.1:{settings.port}/readyz")
        npx = shutil.which("npx")
        if npx is None:
            print("npx not found: install Node.js to use the Agents Playground.", file=sys.stderr)
        else:
            playground = subprocess.Popen(
                [
                    npx,
                    "--no-install",
                    "agentsplayground",
                    "--app-endpoint",
                    f"http://127.0.0.1:{settings.port}/api/messages",
                    "--channel-id",
                    "msteams",
                    "--port",
                    str(PLAYGROUND_PORT),
                    "--disable-telemetry",
                ],
                cwd=ROOT,
            )
            processes.append(playground)
            print(
                f"\nChat with the bot: http://127.0.0.1:{PLAYGROUND_PORT}  (Ctrl-C stops)\n",
                flush=True,
            )
        bot.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
