"""The bot as a real operating-system process, to be killed (SIGKILL) and started again."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

CHECKOUT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BotProcess:
    """`python app.py` on a loopback port, with settings from `environment` only."""

    def __init__(self, environment: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            **environment,
        }
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as output:
            return subprocess.Popen(
                [sys.executable, str(CHECKOUT / "app.py")],
                cwd=self.log.parent,  # no .env there: only `environment` counts
                env=self.environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    async def start(self, http: aiohttp.ClientSession, within: float = 60.0) -> None:
        self._process = self.spawn()
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            assert self._process.poll() is None, f"the bot exited:\n{self.log.read_text()}"
            try:
                async with http.get(f"{self.url}readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # not listening yet
            await asyncio.sleep(0.2)
        raise AssertionError(f"the bot was not ready within {within} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no clean-up runs, as when a host dies or the kernel kills the process."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
        self._process = None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process = None
